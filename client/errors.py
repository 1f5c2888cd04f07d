"""The SDK's exception tree (shared with the node), the gRPC-error mapping and the
error of a multi-key call that failed in some of its parts.

How a status becomes an error, by structure only:

- the node named the class in its ``manhattan-error`` trailer: that class (so
  ``ReplicasUnavailable`` means the node refused before sending anything; a name
  this SDK does not know maps by the status code);
- otherwise the status came from gRPC itself: ``UNAVAILABLE`` is
  ``NodeUnreachable`` when the SDK never had a connection for the call, else
  ``ConnectionLost`` (a ``Timeout``: the request may have been applied);
  ``RESOURCE_EXHAUSTED`` is gRPC's message-size cap (``InvalidRequest``: the same
  request can never fit); any other code maps by the one status table.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import grpc

from manhattan.errors import (
    ERROR_KIND_KEY, AlreadyExists, Cancelled, ConditionFailed, ConnectionLost, InternalError, InvalidRequest,
    ManhattanError, NodeUnreachable, NotFound, PermissionDenied, QuotaExceeded,
    ReplicasUnavailable, StaleTopology, Timeout, Unauthenticated, Unavailable, error_for_kind,
    error_for_status,
)


def from_rpc_error(exc: grpc.RpcError, *, connected: bool = True) -> ManhattanError:
    """The ManhattanError for a failed call, with trailing metadata as details.

    ``connected``: whether the call went out on an established connection. Only a
    caller that knows it did not may pass False; the default keeps an unexplained
    UNAVAILABLE an unknown outcome."""
    code = exc.code() if hasattr(exc, "code") else grpc.StatusCode.UNKNOWN
    message = (exc.details() if hasattr(exc, "details") else str(exc)) or code.name
    details: dict[str, str] = {}
    trailing = exc.trailing_metadata() if hasattr(exc, "trailing_metadata") else None
    for key, value in trailing or ():
        if isinstance(value, str):
            details[key] = value
    kind = details.pop(ERROR_KIND_KEY, None)
    if kind is not None:  # the node answered
        cls = error_for_kind(kind)
        if cls is None:  # a class this SDK does not know (a newer node, a service's own):
            error = error_for_status(code, message, details)  # by its code, its name kept
            error.kind = kind
            return error
        return cls(message, details=details)
    if code == grpc.StatusCode.UNAVAILABLE:
        if not connected:
            return NodeUnreachable(f"could not connect; nothing was sent: {message}",
                                   details=details)
        return ConnectionLost(f"connection lost during the call; the outcome is unknown: "
                              f"{message}", details=details)
    if code == grpc.StatusCode.RESOURCE_EXHAUSTED:
        # Not a node's QuotaExceeded (that one names itself): gRPC's own size cap.
        return InvalidRequest(f"request or reply too large for one message: {message}",
                              details=details)
    return error_for_status(code, message, details)


@dataclass(frozen=True, slots=True)
class PartOutcome:
    """One part (one replica set) of a split multi-key call: its item indices in the
    original call and its result, or the error it ended with."""

    indices: tuple[int, ...]
    result: Any = None
    error: ManhattanError | None = None

    @property
    def ok(self) -> bool:
        """Whether this part succeeded."""
        return self.error is None


class MultiPartError(ManhattanError):
    """A multi-key call (``get_many``/``put_many``) split by replica set, in which at
    least one part failed. ``parts`` holds every part's outcome; parts that
    succeeded were applied (writes) or answered (reads).

    The raised object is also an instance of the class that tells the caller what to
    do about the whole call (see ``combine``): a ``Timeout`` whenever any part's
    outcome is unknown, ``Unavailable`` only when no part did anything."""

    parts: tuple[PartOutcome, ...] = ()

    @property
    def failed(self) -> list[PartOutcome]:
        """The parts that failed."""
        return [p for p in self.parts if p.error is not None]


_MULTI: dict[type[ManhattanError], type[MultiPartError]] = {}


def _multi_class(base: type[ManhattanError]) -> type[MultiPartError]:
    """``MultiPartError`` that is also a ``base`` (one class per base, made once)."""
    if base is ManhattanError or issubclass(base, MultiPartError):
        return MultiPartError
    cls = _MULTI.get(base)
    if cls is None:
        cls = _MULTI[base] = type(f"MultiPart{base.__name__}", (MultiPartError, base),
                                  {"__doc__": f"A multi-part call whose outcome is "
                                              f"{base.__name__}; see MultiPartError."})
    return cls


def combine(method: str, parts: Sequence[PartOutcome]) -> MultiPartError:
    """The one error of a split call that failed somewhere.

    Its class: ``Timeout`` if any part's outcome is unknown (never hidden behind
    another part's error); else, when every part failed alike, that class (e.g.
    ``NotFound``, or ``Unavailable`` when nothing was done anywhere); else (some parts
    succeeded, or they failed differently) plain ``MultiPartError``."""
    errors = [p.error for p in parts if p.error is not None]
    if not errors:
        raise ValueError("combine() needs at least one failed part")
    unknown = [e for e in errors if isinstance(e, Timeout)]
    if unknown:
        base: type[ManhattanError] = Timeout
    elif len(errors) == len(parts) and len({type(e) for e in errors}) == 1:
        base = type(errors[0])
    elif len(errors) == len(parts) and all(isinstance(e, Unavailable) for e in errors):
        base = Unavailable
    else:
        base = ManhattanError
    summary = "; ".join(f"part {i} ({len(p.indices)} items): "
                        + ("ok" if p.error is None else f"{p.error.kind}: {p.error.message}")
                        for i, p in enumerate(parts))
    error = _multi_class(base)(f"{method}: {len(errors)} of {len(parts)} parts failed: "
                               f"{summary}", details=(unknown or errors)[0].details)
    error.parts = tuple(parts)
    return error


__all__ = [
    "AlreadyExists", "Cancelled", "ConditionFailed", "ConnectionLost", "InternalError", "InvalidRequest",
    "ManhattanError", "MultiPartError", "NodeUnreachable", "NotFound", "PartOutcome",
    "PermissionDenied", "QuotaExceeded", "ReplicasUnavailable", "StaleTopology", "Timeout",
    "Unauthenticated", "Unavailable", "combine", "from_rpc_error",
]
