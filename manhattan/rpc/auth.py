"""Who is calling: the bearer token in the ``authorization`` metadata."""

from __future__ import annotations

from collections.abc import Iterable

from manhattan.errors import PermissionDenied, Unauthenticated
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

    def __init__(self, tokens: TokenStore) -> None:
        self._tokens = tokens

    def principal(self, metadata: Iterable[tuple[str, str | bytes]] | None) -> Principal:
        """The caller; Unauthenticated when the token is missing or unknown."""
        token = bearer_token(metadata)
        if not token:
            raise Unauthenticated("missing bearer token (metadata 'authorization: Bearer <token>')")
        principal = self._tokens.verify(token)
        if principal is None:
            raise Unauthenticated("invalid or revoked token")
        set_tenant(principal.tenant)  # for logs and per-tenant metrics of this request
        return principal

    def admin(self, metadata: Iterable[tuple[str, str | bytes]] | None) -> Principal:
        """The caller, who must hold the admin token."""
        principal = self.principal(metadata)
        if not principal.is_admin:
            raise PermissionDenied("this call needs the admin token")
        return principal
