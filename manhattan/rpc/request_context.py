"""Who and what the current request is, for logs and per-tenant metrics.

The rpc layer opens a ``RequestScope`` per request in a context variable; each
grpc.aio request runs in its own task, so the scope follows the request through
every await (and into background tasks it spawns) without being passed around.
Authentication fills in the tenant once it knows it.

A request costs as little as it can here: the metadata is read once (handlers
take it from the scope), the caller's ``x-request-id`` is echoed only when it
sent one, and a request id is made up only when something asks for it (a log
line, an error's trailers) — a random id on every reply would defeat HPACK.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from typing import Any
from contextvars import ContextVar, Token
from dataclasses import dataclass

REQUEST_ID_KEY = "x-request-id"
_VALID_ID = re.compile(r"[A-Za-z0-9_.:/+=-]{1,128}")


Metadata = tuple[tuple[str, str | bytes], ...]
# What a wait inside a call leaves of the caller's deadline (at most half of it) for a
# refusal to reach the caller and for the caller to send again.
REFUSAL_MARGIN_S = 1.0


def wait_before_refusing(remaining: float) -> float:
    """How long a call with ``remaining`` seconds may wait for something (a catch-up,
    a barrier) before it must answer "not now". A refusal that arrives after the
    caller's deadline reads as a timeout, whose outcome is unknown: a write is not
    sent again, although nothing was done."""
    return max(remaining - min(remaining / 2, REFUSAL_MARGIN_S), 0.0)


@dataclass(slots=True)
class RequestScope:
    """The request being served: its method, metadata, (once known) tenant and id."""

    method: str
    metadata: Metadata = ()
    tenant: str | None = None
    given_id: str | None = None  # the caller's x-request-id, when it sent a sane one
    _id: str | None = None

    @property
    def request_id(self) -> str:
        """The caller's id, or a new random one made on first use."""
        if self._id is None:
            self._id = self.given_id or os.urandom(8).hex()
        return self._id


_current: ContextVar[RequestScope | None] = ContextVar("manhattan_request", default=None)


def given_request_id(metadata: Iterable[tuple[str, str | bytes]] | None) -> str | None:
    """The caller's ``x-request-id`` when it is a sane token, else None."""
    for key, value in metadata or ():
        if key == REQUEST_ID_KEY and isinstance(value, str):
            return value if _VALID_ID.fullmatch(value) else None
    return None


def request_id_from(metadata: Iterable[tuple[str, str | bytes]] | None) -> str:
    """The caller's ``x-request-id`` when it is a sane token, else a new random id."""
    return given_request_id(metadata) or os.urandom(8).hex()


def begin(method: str, metadata: Iterable[tuple[str, str | bytes]] | None
          ) -> tuple[RequestScope, Token[RequestScope | None]]:
    """Open the scope of one request; pass the token to ``end``."""
    kept: Metadata = tuple(metadata or ())
    scope = RequestScope(method, kept, given_id=given_request_id(kept))
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


def metadata(context: Any) -> Metadata:
    """The current request's metadata, read once by the rpc layer (or, outside a
    scope, from ``context``)."""
    scope = _current.get()
    if scope is not None:
        return scope.metadata
    return tuple(context.invocation_metadata() or ())


def trailers() -> tuple[tuple[str, str], ...]:
    """Trailing metadata of an error answer: the request id (made up if need be)."""
    scope = _current.get()
    return ((REQUEST_ID_KEY, scope.request_id),) if scope is not None else ()


def echo() -> tuple[tuple[str, str], ...]:
    """Trailing metadata of a successful answer: the caller's own id, if it sent one."""
    scope = _current.get()
    if scope is None or scope.given_id is None:
        return ()
    return ((REQUEST_ID_KEY, scope.given_id),)
