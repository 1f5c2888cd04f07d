"""Who and what the current request is, for logs and per-tenant metrics.

The rpc layer opens a ``RequestScope`` per request in a context variable; each
grpc.aio request runs in its own task, so the scope follows the request through
every await (and into background tasks it spawns) without being passed around.
Authentication fills in the tenant once it knows it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from contextvars import ContextVar, Token
from dataclasses import dataclass

REQUEST_ID_KEY = "x-request-id"
_VALID_ID = re.compile(r"[A-Za-z0-9_.:/+=-]{1,128}")


@dataclass(slots=True)
class RequestScope:
    """The request being served: its id, method and (once known) tenant."""

    request_id: str
    method: str
    tenant: str | None = None


_current: ContextVar[RequestScope | None] = ContextVar("manhattan_request", default=None)


def request_id_from(metadata: Iterable[tuple[str, str | bytes]] | None) -> str:
    """The caller's ``x-request-id`` when it is a sane token, else a new random id."""
    for key, value in metadata or ():
        if key == REQUEST_ID_KEY and isinstance(value, str):
            if _VALID_ID.fullmatch(value):
                return value
            break
    return os.urandom(8).hex()


def begin(method: str, metadata: Iterable[tuple[str, str | bytes]] | None
          ) -> tuple[RequestScope, Token[RequestScope | None]]:
    """Open the scope of one request; pass the token to ``end``."""
    scope = RequestScope(request_id_from(metadata), method)
    return scope, _current.set(scope)


def end(token: Token[RequestScope | None]) -> None:
    """Close a scope opened by ``begin``."""
    _current.reset(token)


def current() -> RequestScope | None:
    """The scope of the request being served, if any."""
    return _current.get()


def set_tenant(tenant: str) -> None:
    """Record the authenticated tenant on the current request (no-op outside one)."""
    scope = _current.get()
    if scope is not None:
        scope.tenant = tenant


def trailers() -> tuple[tuple[str, str], ...]:
    """Trailing metadata every answer carries: the request id."""
    scope = _current.get()
    return ((REQUEST_ID_KEY, scope.request_id),) if scope is not None else ()
