"""Who is calling: the bearer token in the ``authorization`` metadata."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from manhattan.errors import PermissionDenied, Unauthenticated, Unavailable
from manhattan.rpc.request_context import set_tenant
from manhattan.tenancy import Principal, TokenStore

_BEARER = "bearer "


def bearer_token(metadata: Iterable[tuple[str, str | bytes]] | None) -> str | None:
    """The token of an ``authorization: Bearer <token>`` entry, if any."""
    for key, value in metadata or ():
        if key == "authorization" and isinstance(value, str):
            if value[: len(_BEARER)].lower() == _BEARER:
                return value[len(_BEARER):].strip()
            return value.strip()
    return None


class Authenticator:
    """Turns request metadata into a Principal, or raises."""

    def __init__(self, tokens: TokenStore, *, admin_tokens: TokenStore | None = None,
                 stale: Callable[[], str] | None = None) -> None:
        self._tokens = tokens
        # The admin token comes from the node's configuration, not from the metadata
        # log, so it works before the log has a leader (and it is not revocable by API).
        self._admin_tokens = admin_tokens
        # "" or why this node's metadata is too old to authorize a tenant's call
        self._stale = stale

    def principal(self, metadata: Iterable[tuple[str, str | bytes]] | None) -> Principal:
        """The caller; Unauthenticated when the token is missing or unknown."""
        token = bearer_token(metadata)
        if not token:
            raise Unauthenticated("missing bearer token (metadata 'authorization: Bearer <token>')")
        principal = self._tokens.verify(token)
        if principal is None and self._admin_tokens is not None:
            admin = self._admin_tokens.verify(token)
            principal = admin if admin is not None and admin.is_admin else None
        if principal is None:
            raise Unauthenticated("invalid or revoked token")
        if not principal.is_admin and self._stale is not None:
            why = self._stale()
            if why:
                raise Unavailable(why)
        set_tenant(principal.tenant)  # for logs and per-tenant metrics of this request
        return principal

    def admin(self, metadata: Iterable[tuple[str, str | bytes]] | None) -> Principal:
        """The caller, who must hold the admin token."""
        principal = self.principal(metadata)
        if not principal.is_admin:
            raise PermissionDenied("this call needs the admin token")
        return principal
