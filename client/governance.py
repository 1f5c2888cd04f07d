"""Operations for tokens, limits and the audit log (admin token), shared by both clients."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

from manhattan.client.models import AuditEntry, Limits, Tenant, TenantDescription, TokenInfo
from manhattan.client.operations import Operation
from manhattan.errors import InvalidRequest
from manhattan.proto.v1 import admin_pb2


def token_info(m: admin_pb2.TokenInfo) -> TokenInfo:
    """A TokenInfo from the wire."""
    return TokenInfo(m.token_id, m.tenant, m.read_only, list(m.datasets) or None,
                     m.created_at_ms, m.expires_at_ms)


def limits(m: admin_pb2.Limits) -> Limits:
    """Limits from the wire."""
    return Limits(m.ops_per_second, m.bytes_per_second, m.storage_quota_bytes, m.burst_seconds)


def _token_response(r: admin_pb2.CreateTokenResponse) -> tuple[str, TokenInfo]:
    return r.token, token_info(r.info)


def create_token(tenant: str, read_only: bool, datasets: Sequence[str] | None
                 ) -> Operation[tuple[str, TokenInfo]]:
    """A new token for ``tenant``; the result is (token, info), the token shown once."""
    request = admin_pb2.CreateTokenRequest(tenant=tenant, read_only=read_only,
                                           datasets=list(datasets or ()))
    return Operation("admin", "CreateToken", request, _token_response, False)


def list_tokens(tenant: str | None) -> Operation[list[TokenInfo]]:
    """Tokens of one tenant or of all."""
    return Operation("admin", "ListTokens", admin_pb2.ListTokensRequest(tenant=tenant or ""),
                     lambda r: [token_info(t) for t in r.tokens], True)


def revoke_token(token_id: str) -> Operation[None]:
    """Revoke a token by id."""
    return Operation("admin", "RevokeToken", admin_pb2.RevokeTokenRequest(token_id=token_id),
                     lambda r: None, False)


def rotate_token(token_id: str, grace: float) -> Operation[tuple[str, TokenInfo]]:
    """A new token with the same scope; the old one ends after ``grace`` seconds (0: now)."""
    if not math.isfinite(grace) or grace < 0:
        raise InvalidRequest(f"grace must be >= 0 seconds, got {grace}")
    request = admin_pb2.RotateTokenRequest(token_id=token_id, grace_ms=round(grace * 1000))
    return Operation("admin", "RotateToken", request, _token_response, False)


def _rate(name: str, value: float | None) -> float | None:
    if value is not None and (not math.isfinite(value) or value < 0):
        raise InvalidRequest(f"{name} must be a finite number >= 0, got {value}")
    return value


def set_limits(*, tenant: str | None, dataset: str | None, ops_per_second: float | None,
               bytes_per_second: float | None, storage_quota_bytes: int | None,
               burst_seconds: float | None) -> Operation[Limits]:
    """Change some limits of a tenant, or of a dataset (None: keep); with a dataset,
    ``tenant`` names its owner (needed when several tenants own that name)."""
    if not tenant and not dataset:
        raise InvalidRequest("name a tenant, or a dataset (and its tenant)")
    request = admin_pb2.SetLimitsRequest(tenant=tenant or "", dataset=dataset or "")
    for name, value in (("ops_per_second", ops_per_second),
                        ("bytes_per_second", bytes_per_second),
                        ("burst_seconds", burst_seconds)):
        if _rate(name, value) is not None:
            setattr(request, name, value)
    if storage_quota_bytes is not None:
        if storage_quota_bytes < 0:
            raise InvalidRequest(f"storage_quota_bytes must be >= 0, got {storage_quota_bytes}")
        request.storage_quota_bytes = storage_quota_bytes
    return Operation("admin", "SetLimits", request, lambda r: limits(r.limits), True)


def describe_tenant(name: str) -> Operation[TenantDescription]:
    """A tenant with its limits and tokens."""
    return Operation(
        "admin", "DescribeTenant", admin_pb2.DescribeTenantRequest(name=name),
        lambda r: TenantDescription(
            Tenant(r.tenant.name, r.tenant.created_at_ms, r.tenant.incarnation), limits(r.limits),
            {d.dataset: limits(d.limits) for d in r.datasets},
            [token_info(t) for t in r.tokens]),
        True,
    )


def list_audit(limit: int, since_ms: int) -> Operation[list[AuditEntry]]:
    """One node's audit entries, newest first."""
    if limit < 0 or since_ms < 0:
        raise InvalidRequest("limit and since_ms must not be negative")
    request = admin_pb2.ListAuditRequest(limit=limit, since_ms=since_ms)
    return Operation("admin", "ListAudit", request, lambda r: [
        AuditEntry(e.at_ms, e.node_id, e.actor, e.action, e.target, e.detail)
        for e in r.entries], True)


def merge_audit(logs: Iterable[list[AuditEntry]], limit: int) -> list[AuditEntry]:
    """Several nodes' logs as one, newest first, at most ``limit`` entries."""
    merged = sorted({e for log in logs for e in log},
                    key=lambda e: (e.at_ms, e.node_id), reverse=True)
    return merged[:limit or 100]
