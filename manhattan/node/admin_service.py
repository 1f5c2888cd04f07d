"""The Admin service: tenants, datasets and node introspection."""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from typing import Any, Protocol

from manhattan import __version__
from manhattan.hlc import HybridClock
from manhattan.rpc import request_context
from manhattan.rpc.auth import Authenticator
from manhattan.rpc.servicers import rpc_errors
from manhattan.node.snapshot_service import SnapshotRpcs
from manhattan.node.snapshots import SnapshotStore
from manhattan.proto.v1 import admin_pb2, admin_pb2_grpc
from manhattan.errors import InvalidRequest, NotFound
from manhattan.qos import Limits, LimitStore
from manhattan.security import AuditLog
from manhattan.storage.engine import Datasets, Figures
from manhattan.tenancy import (
    ADMIN, Catalog, DatasetSpec, Principal, TenantInfo, TokenStore, check_name, normalise_spec,
)
from manhattan.node.metadata_wiring import CATCH_UP_S, NodeMetadata
from manhattan.tenancy.catalog import dataset_name, qualified
from manhattan.tenancy.tokens import TokenRecord, new_token
from manhattan.types import Consistency, Durability


class AdminEngine(Datasets, Figures, Protocol):
    """What the Admin service asks of storage: datasets, and sizes for NodeInfo."""


@dataclass(frozen=True, slots=True)
class NodeIdentity:
    """What NodeInfo reports about this node."""

    node_id: int
    address: str
    started_at_ms: int


def tenant_to_proto(tenant: TenantInfo) -> admin_pb2.Tenant:
    """The wire form of a tenant."""
    return admin_pb2.Tenant(name=tenant.name, created_at_ms=tenant.created_at_ms,
                            incarnation=tenant.incarnation)


def spec_to_proto(spec: DatasetSpec) -> admin_pb2.DatasetSpec:
    """The wire form of a dataset spec."""
    return admin_pb2.DatasetSpec(
        name=spec.name, tenant=spec.tenant, replication_factor=spec.replication_factor,
        read_consistency=int(spec.read_consistency), write_consistency=int(spec.write_consistency),
        durability=int(spec.durability), default_ttl_ms=spec.default_ttl_ms,
        created_at_ms=spec.created_at_ms, incarnation=spec.incarnation, kind=spec.kind,
    )


def spec_from_proto(message: admin_pb2.DatasetSpec) -> DatasetSpec:
    """A dataset spec from the wire; unknown enum values are kept for validation."""
    def enum(cls, value):
        return cls(value) if value in set(cls) else value
    return DatasetSpec(
        name=message.name, tenant=message.tenant,
        replication_factor=message.replication_factor,
        read_consistency=enum(Consistency, message.read_consistency),
        write_consistency=enum(Consistency, message.write_consistency),
        durability=enum(Durability, message.durability),
        default_ttl_ms=message.default_ttl_ms, kind=message.kind,
    )


def token_to_proto(record: TokenRecord) -> admin_pb2.TokenInfo:
    """The wire form of a token record (never its hash)."""
    return admin_pb2.TokenInfo(
        token_id=record.token_id, tenant=record.tenant, read_only=record.read_only,
        datasets=record.datasets or [], created_at_ms=record.created_at_ms,
        expires_at_ms=record.expires_at_ms,
    )


def limits_to_proto(limits: Limits) -> admin_pb2.Limits:
    """The wire form of limits."""
    return admin_pb2.Limits(
        ops_per_second=limits.ops_per_second, bytes_per_second=limits.bytes_per_second,
        storage_quota_bytes=limits.storage_quota_bytes, burst_seconds=limits.burst_seconds,
    )


def _check_dataset_ref(name: str, tenant: str) -> None:
    """A dataset as a cluster admin names it (``name`` or ``tenant/name``, and perhaps
    its owner in ``tenant``), checked before anything is asked of the log."""
    owner, bare = qualified(name)
    check_name("dataset", bare)
    for who in (owner, tenant):
        if who:
            check_name("tenant", who)


def _not_the_admin_token(principal: Principal, token_id: str, done: str) -> None:
    """The admin token lives in the nodes' configuration, never in the metadata log."""
    if principal.is_admin and token_id == principal.token_id:
        raise InvalidRequest(f"the admin token is set in the nodes' configuration "
                             f"(node.admin_token), not {done} through the API")


MAX_AUDIT_LIMIT = 10_000
MAX_GRACE_MS = 7 * 24 * 3600 * 1000


class AdminService(SnapshotRpcs, admin_pb2_grpc.AdminServicer):
    """Implements manhattan.v1.Admin (snapshot calls in SnapshotRpcs)."""

    def __init__(
        self, catalog: Catalog, tokens: TokenStore, auth: Authenticator, engine: AdminEngine,
        clock: HybridClock, identity: NodeIdentity,
        cluster_size: Callable[[], int] = lambda: 1,
        on_catalog_change: Callable[[], Awaitable[None]] | None = None,
        cluster_info: Callable[[], dict[str, Any]] = dict,
        limits: LimitStore | None = None, audit: AuditLog | None = None,
        max_tokens_per_tenant: int = 100,
        snapshots: SnapshotStore | None = None,
        catch_up_catalog: Callable[[], Awaitable[bool]] | None = None,
        metadata: NodeMetadata | None = None,
    ) -> None:
        self._catalog = catalog
        self._tokens = tokens
        self._auth = auth
        self._engine = engine
        self._clock = clock
        self._identity = identity
        self._cluster_size = cluster_size
        self._catalog_changed = on_catalog_change
        self._cluster_info = cluster_info
        self._limits = limits
        self._audit = audit
        self._max_tokens = max_tokens_per_tenant
        self._snapshots = snapshots
        self._catch_up_catalog = catch_up_catalog
        # The metadata log: changes are its commands, reads follow a barrier through it.
        # None: the previous, gossip-spread catalog (metadata.enabled = false).
        self._metadata = metadata

    def _deadline(self, context) -> float:
        """Seconds the call may take: its own deadline, else metadata.command_timeout_s."""
        assert self._metadata is not None
        remaining = context.time_remaining() if context is not None else None
        default = self._metadata.command_timeout
        return default if remaining is None else max(min(remaining - 0.05, default * 12), 0.0)

    async def _commit(self, context, command: dict[str, Any]) -> dict[str, Any]:
        """Run a command through the metadata log; its result once a majority has it."""
        assert self._metadata is not None
        return await self._metadata.log.submit(command, self._deadline(context))

    async def _linearize(self, context) -> None:
        """Before an admin read: this node has applied everything committed so far."""
        if self._metadata is not None:  # (a read: refused in time to be sent again)
            await self._metadata.log.barrier(
                request_context.wait_before_refusing(self._deadline(context)))

    def _record(self, principal: Principal, action: str, target: str, detail: str = "") -> None:
        """Note an admin action in this node's audit log."""
        if self._audit is not None:
            self._audit.record(self._clock.wall_ms(), principal.token_id, action, target, detail)

    async def _on_catalog_change(self) -> None:
        """Tell the rest of the cluster (a no-op on a single node)."""
        if self._catalog_changed is not None:
            await self._catalog_changed()

    @rpc_errors
    async def CreateTenant(self, request, context) -> admin_pb2.CreateTenantResponse:
        principal = self._auth.admin(context.invocation_metadata())
        now = self._clock.wall_ms()
        if self._metadata is not None:
            check_name("tenant", request.name)
            token, record = new_token(request.name, now)
            result = await self._commit(context, {"op": "create_tenant", "name": request.name,
                                                  "now_ms": now, "token": asdict(record)})
            tenant = TenantInfo(**result["tenant"])
            self._record(principal, "create_tenant", tenant.name)
            return admin_pb2.CreateTenantResponse(tenant=tenant_to_proto(tenant), token=token)
        tenant = self._catalog.create_tenant(request.name, self._clock.now(), now)
        token = self._tokens.issue(tenant.name, self._clock.now(), now)
        self._record(principal, "create_tenant", tenant.name)
        await self._on_catalog_change()
        return admin_pb2.CreateTenantResponse(tenant=tenant_to_proto(tenant), token=token)

    @rpc_errors
    async def ListTenants(self, request, context) -> admin_pb2.ListTenantsResponse:
        self._auth.admin(context.invocation_metadata())
        await self._linearize(context)
        return admin_pb2.ListTenantsResponse(
            tenants=[tenant_to_proto(t) for t in self._catalog.tenants()]
        )

    @rpc_errors
    async def DropTenant(self, request, context) -> admin_pb2.DropTenantResponse:
        principal = self._auth.admin(context.invocation_metadata())
        check_name("tenant", request.name)
        if self._metadata is None:
            raise InvalidRequest("dropping a tenant needs the metadata log (metadata.enabled)")
        result = await self._commit(context, {"op": "drop_tenant", "name": request.name})
        specs = [DatasetSpec.from_json(json.dumps(d).encode()) for d in result["datasets"]]
        self._record(principal, "drop_tenant", request.name,
                     f"incarnation={result['tenant']['incarnation']} "
                     f"datasets={','.join(d.name for d in specs) or '-'}")
        return admin_pb2.DropTenantResponse(datasets=[spec_to_proto(d) for d in specs])

    @rpc_errors
    async def CreateDataset(self, request, context) -> admin_pb2.CreateDatasetResponse:
        principal = self._auth.admin(context.invocation_metadata())
        spec = normalise_spec(
            spec_from_proto(request.spec), node_count=self._cluster_size(),
            now_ms=self._clock.wall_ms(),
        )
        if self._metadata is not None:
            result = await self._commit(context, {"op": "create_dataset",
                                                  "spec": json.loads(spec.to_json())})
            spec = DatasetSpec.from_json(json.dumps(result["spec"]).encode())
            self._record(principal, "create_dataset", spec.name, f"tenant={spec.tenant} "
                         f"rf={spec.replication_factor} incarnation={spec.incarnation}")
            return admin_pb2.CreateDatasetResponse(dataset=spec_to_proto(spec))
        try:
            self._catalog.check_new_dataset(spec)  # before storage is touched
        except NotFound:
            # A tenant created a moment ago through another node may not have reached
            # this one yet (its push can time out under load): catch up, then judge.
            if self._catch_up_catalog is None or not await self._catch_up_catalog():
                raise
            self._catalog.check_new_dataset(spec)
        self._engine.create_dataset(spec.storage_id)
        spec = self._catalog.add_dataset(spec, self._clock.now())
        self._record(principal, "create_dataset", spec.name, f"tenant={spec.tenant} "
                     f"rf={spec.replication_factor}")
        await self._on_catalog_change()
        return admin_pb2.CreateDatasetResponse(dataset=spec_to_proto(spec))

    @rpc_errors
    async def ListDatasets(self, request, context) -> admin_pb2.ListDatasetsResponse:
        principal = self._auth.principal(context.invocation_metadata())
        if principal.is_admin:
            if not request.local:  # local: routing hints from the applied copy, no barrier
                await self._linearize(context)
            if request.tenant:
                self._catalog.tenant(request.tenant)
            specs = self._catalog.datasets(request.tenant or None)
        else:
            specs = [s for s in self._catalog.datasets(principal.tenant)
                     if principal.may_use(s.name)]
        return admin_pb2.ListDatasetsResponse(datasets=[spec_to_proto(s) for s in specs])

    @rpc_errors
    async def DropDataset(self, request, context) -> admin_pb2.DropDatasetResponse:
        principal = self._auth.admin(context.invocation_metadata())
        _check_dataset_ref(request.name, request.tenant)
        if self._metadata is not None:
            result = await self._commit(context, {"op": "drop_dataset", "name": request.name,
                                                  "tenant": request.tenant})
            self._record(principal, "drop_dataset", result["spec"]["name"],
                         f"tenant={result['spec']['tenant']} "
                         f"incarnation={result['spec']['incarnation']}")
            return admin_pb2.DropDatasetResponse()
        found = self._catalog.resolve(request.tenant or None, request.name)
        spec = self._catalog.remove_dataset(found.tenant, found.name, self._clock.now())
        self._engine.drop_dataset(spec.storage_id)
        self._record(principal, "drop_dataset", spec.name, f"tenant={spec.tenant}")
        await self._on_catalog_change()
        return admin_pb2.DropDatasetResponse()

    @rpc_errors
    async def NodeInfo(self, request, context) -> admin_pb2.NodeInfoResponse:
        self._auth.admin(context.invocation_metadata())
        return admin_pb2.NodeInfoResponse(
            node_id=self._identity.node_id, address=self._identity.address,
            version=__version__, started_at_ms=self._identity.started_at_ms,
            clock_ms=int(time.time() * 1000),
            datasets=[dataset_name(d) for d in self._engine.datasets()],
            approximate_keys=self._engine.approximate_keys(), disk_bytes=self._engine.disk_bytes(),
            **self._cluster_info(),
        )

    @rpc_errors
    async def JoinMetadata(self, request, context) -> admin_pb2.JoinMetadataResponse:
        self._auth.admin(context.invocation_metadata())
        if self._metadata is None:
            raise InvalidRequest("this node runs without a metadata log (metadata.enabled)")
        remaining = context.time_remaining()
        await self._metadata.join(list(request.voters),
                                  CATCH_UP_S if remaining is None else min(remaining, CATCH_UP_S))
        return admin_pb2.JoinMetadataResponse(status=self._metadata.info()["metadata"])

    # -- tokens -----------------------------------------------------------------

    def _token_scope(self, tenant: str, datasets: list[str]) -> list[str] | None:
        """Check a new token's tenant and dataset scope; None: every dataset."""
        self._catalog.tenant(tenant)
        if not datasets:
            return None
        if len(datasets) > 1000:
            raise InvalidRequest(f"datasets lists {len(datasets)} names; the limit is 1000")
        for name in datasets:
            try:
                self._catalog.dataset(tenant, name)
            except NotFound:
                # never say whether another tenant owns one: not this one's business
                raise InvalidRequest(f"tenant {tenant!r} has no dataset {name!r}") from None
        return sorted(set(datasets))

    @rpc_errors
    async def CreateToken(self, request, context) -> admin_pb2.CreateTokenResponse:
        principal = self._auth.admin(context.invocation_metadata())
        check_name("tenant", request.tenant)
        if self._metadata is not None:
            if len(request.datasets) > 1000:
                raise InvalidRequest(f"datasets lists {len(request.datasets)} names; "
                                     f"the limit is 1000")
            token, record = new_token(request.tenant, self._clock.wall_ms(),
                                      read_only=request.read_only,
                                      datasets=list(request.datasets) or None)
            result = await self._commit(context, {"op": "create_token", "token": asdict(record),
                                                  "max_tokens": self._max_tokens})
            info = TokenRecord(**result["token"])
            self._record(principal, "create_token", info.token_id,
                         f"tenant={info.tenant} read_only={info.read_only} "
                         f"datasets={','.join(info.datasets or ['*'])}")
            return admin_pb2.CreateTokenResponse(token=token, info=token_to_proto(info))
        datasets = self._token_scope(request.tenant, list(request.datasets))
        held = len(self._tokens.records(request.tenant))
        if held >= self._max_tokens:
            raise InvalidRequest(f"tenant {request.tenant!r} holds {held} tokens, the limit "
                                 f"(limits.max_tokens_per_tenant); revoke some first")
        token = self._tokens.issue(request.tenant, self._clock.now(), self._clock.wall_ms(),
                                   read_only=request.read_only, datasets=datasets)
        record = self._tokens.verify(token)
        info = self._tokens.record(record.token_id)  # type: ignore[union-attr]
        self._record(principal, "create_token", info.token_id,
                     f"tenant={info.tenant} read_only={info.read_only} "
                     f"datasets={','.join(info.datasets or ['*'])}")
        await self._on_catalog_change()
        return admin_pb2.CreateTokenResponse(token=token, info=token_to_proto(info))

    @rpc_errors
    async def ListTokens(self, request, context) -> admin_pb2.ListTokensResponse:
        self._auth.admin(context.invocation_metadata())
        await self._linearize(context)
        if request.tenant:
            self._catalog.tenant(request.tenant)
        records = [r for r in self._tokens.records(request.tenant or None) if r.tenant != ADMIN]
        return admin_pb2.ListTokensResponse(tokens=[token_to_proto(r) for r in records])

    @rpc_errors
    async def RevokeToken(self, request, context) -> admin_pb2.RevokeTokenResponse:
        principal = self._auth.admin(context.invocation_metadata())
        if not request.token_id:
            raise InvalidRequest("token_id must not be empty")
        if self._metadata is not None:
            _not_the_admin_token(principal, request.token_id, "revoked")
            result = await self._commit(context, {"op": "revoke_token",
                                                  "token_id": request.token_id})
            record = TokenRecord(**result["token"])
            self._record(principal, "revoke_token", record.token_id, f"tenant={record.tenant}")
            return admin_pb2.RevokeTokenResponse()
        record = self._tokens.revoke(request.token_id, self._clock.now())
        self._record(principal, "revoke_token", record.token_id, f"tenant={record.tenant}")
        await self._on_catalog_change()
        return admin_pb2.RevokeTokenResponse()

    @rpc_errors
    async def RotateToken(self, request, context) -> admin_pb2.CreateTokenResponse:
        principal = self._auth.admin(context.invocation_metadata())
        if not request.token_id:
            raise InvalidRequest("token_id must not be empty")
        if request.grace_ms > MAX_GRACE_MS:
            raise InvalidRequest(f"grace_ms is {request.grace_ms}; the limit is {MAX_GRACE_MS}")
        if self._metadata is not None:
            _not_the_admin_token(principal, request.token_id, "rotated")
            token, fresh = new_token("", self._clock.wall_ms())
            result = await self._commit(context, {
                "op": "rotate_token", "token_id": request.token_id, "token": asdict(fresh),
                "grace_ms": request.grace_ms})
            record = TokenRecord(**result["token"])
            self._record(principal, "rotate_token", request.token_id,
                         f"new={record.token_id} grace_ms={request.grace_ms}")
            return admin_pb2.CreateTokenResponse(token=token, info=token_to_proto(record))
        token, record = self._tokens.rotate(request.token_id, self._clock.now(),
                                            self._clock.wall_ms(), request.grace_ms)
        self._record(principal, "rotate_token", request.token_id,
                     f"new={record.token_id} grace_ms={request.grace_ms}")
        await self._on_catalog_change()
        return admin_pb2.CreateTokenResponse(token=token, info=token_to_proto(record))

    # -- limits -----------------------------------------------------------------

    def _limit_store(self) -> LimitStore:
        if self._limits is None:
            raise InvalidRequest("this node does not enforce limits")
        return self._limits

    def _check_limits(self, store: LimitStore, request, changes: dict[str, Any]) -> None:
        """Check the limits a SetLimits asks for against this node's copy (the log checks
        them again against its state; a dataset this node has not applied yet is left
        to it)."""
        if not request.dataset:
            current = store.tenant(request.tenant)
        else:
            try:
                spec = self._catalog.resolve(request.tenant or None, request.dataset)
            except NotFound:
                return
            current = store.dataset(spec.storage_id)
        current.merged(**changes).check()

    @rpc_errors
    async def SetLimits(self, request, context) -> admin_pb2.SetLimitsResponse:
        principal = self._auth.admin(context.invocation_metadata())
        store = self._limit_store()
        if not request.tenant and not request.dataset:
            raise InvalidRequest("name a tenant, or a dataset (and its tenant)")
        if request.dataset:
            _check_dataset_ref(request.dataset, request.tenant)
        changes = {name: getattr(request, name) if request.HasField(name) else None
                   for name in ("ops_per_second", "bytes_per_second", "storage_quota_bytes",
                                "burst_seconds")}
        if self._metadata is not None:
            self._check_limits(store, request, changes)
            result = await self._commit(context, {
                "op": "set_limits", "tenant": request.tenant, "dataset": request.dataset,
                "changes": changes})
            limits = Limits.from_json(json.dumps(result["limits"]).encode())
            target = (f"dataset:{request.tenant + '/' if request.tenant else ''}"
                      f"{request.dataset}" if request.dataset else f"tenant:{request.tenant}")
            self._record(principal, "set_limits", target,
                         " ".join(f"{k}={v:g}" for k, v in changes.items() if v is not None))
            return admin_pb2.SetLimitsResponse(limits=limits_to_proto(limits))
        if not request.dataset:
            self._catalog.tenant(request.tenant)
            limits = store.tenant(request.tenant).merged(**changes)
            store.set_tenant(request.tenant, limits, self._clock.now())
            target = f"tenant:{request.tenant}"
        else:
            spec = self._catalog.resolve(request.tenant or None, request.dataset)
            limits = store.dataset(spec.storage_id).merged(**changes)
            store.set_dataset(spec.storage_id, limits, self._clock.now())
            target = f"dataset:{spec.tenant}/{spec.name}"
        self._record(principal, "set_limits", target,
                     " ".join(f"{k}={v:g}" for k, v in changes.items() if v is not None))
        await self._on_catalog_change()
        return admin_pb2.SetLimitsResponse(limits=limits_to_proto(limits))

    @rpc_errors
    async def DescribeTenant(self, request, context) -> admin_pb2.DescribeTenantResponse:
        self._auth.admin(context.invocation_metadata())
        await self._linearize(context)
        tenant = self._catalog.tenant(request.name)
        store = self._limit_store()
        return admin_pb2.DescribeTenantResponse(
            tenant=tenant_to_proto(tenant), limits=limits_to_proto(store.tenant(tenant.name)),
            datasets=[admin_pb2.DatasetLimits(dataset=d.name,
                                              limits=limits_to_proto(store.dataset(d.storage_id)))
                      for d in self._catalog.datasets(tenant.name)],
            tokens=[token_to_proto(r) for r in self._tokens.records(tenant.name)],
        )

    # -- audit ------------------------------------------------------------------

    @rpc_errors
    async def ListAudit(self, request, context) -> admin_pb2.ListAuditResponse:
        self._auth.admin(context.invocation_metadata())
        if request.limit > MAX_AUDIT_LIMIT:
            raise InvalidRequest(f"limit is {request.limit}; the limit is {MAX_AUDIT_LIMIT}")
        if self._audit is None:
            return admin_pb2.ListAuditResponse()
        entries = self._audit.entries(limit=request.limit or 100, since_ms=request.since_ms)
        return admin_pb2.ListAuditResponse(entries=[
            admin_pb2.AuditEntry(at_ms=e.at_ms, node_id=e.node_id, actor=e.actor,
                                 action=e.action, target=e.target, detail=e.detail)
            for e in entries])
