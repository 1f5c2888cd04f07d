"""One exception tree for the whole system, mapped to gRPC statuses in one table.

Each class is named for what the caller should do next. The node raises them and
the servicer turns them into a status code plus a structured ``manhattan-error``
trailing-metadata key naming the class (``ERROR_KIND_KEY``); the SDK turns that
key back into the same class. Nothing ever decides by the message text: the text
is for people.

    ManhattanError
    ├── InvalidRequest, NotFound, AlreadyExists, Unauthenticated, PermissionDenied
    ├── QuotaExceeded            wait ``retry_after`` and retry
    ├── Unavailable              nothing was done: retrying is safe
    │   ├── ReplicasUnavailable  the node refused: too few live replicas
    │   └── NodeUnreachable      the SDK never reached the node (no connection)
    ├── Timeout                  sent, outcome unknown
    │   └── ConnectionLost       the connection broke after the request went out
    ├── ConditionFailed          a conditional write's condition did not hold (.current)
    ├── StaleTopology, Cancelled, InternalError
"""

from __future__ import annotations

import grpc

ERROR_KIND_KEY = "manhattan-error"
"""Trailing-metadata key: the ``kind`` of the ManhattanError a node answered with."""


class ManhattanError(Exception):
    """Root of every error Manhattan raises on purpose."""

    code: grpc.StatusCode = grpc.StatusCode.UNKNOWN
    kind: str = "error"
    """Stable wire name of the class (sent as ``manhattan-error`` trailing metadata)."""

    def __init__(self, message: str = "", *, details: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details: dict[str, str] = dict(details or {})


class InvalidRequest(ManhattanError):
    """The request is malformed or breaks a limit; fix it, retrying will not help."""

    code = grpc.StatusCode.INVALID_ARGUMENT
    kind = "invalid-request"


class NotFound(ManhattanError):
    """A named thing (dataset, tenant) does not exist."""

    code = grpc.StatusCode.NOT_FOUND
    kind = "not-found"


class AlreadyExists(ManhattanError):
    """A thing with that name exists already."""

    code = grpc.StatusCode.ALREADY_EXISTS
    kind = "already-exists"


class Unauthenticated(ManhattanError):
    """No token, or one the cluster does not know."""

    code = grpc.StatusCode.UNAUTHENTICATED
    kind = "unauthenticated"


class PermissionDenied(ManhattanError):
    """The token is valid but does not allow this call."""

    code = grpc.StatusCode.PERMISSION_DENIED
    kind = "permission-denied"


class QuotaExceeded(ManhattanError):
    """Over a rate limit or quota (nothing was done); wait ``retry_after`` seconds."""

    code = grpc.StatusCode.RESOURCE_EXHAUSTED
    kind = "quota-exceeded"

    @property
    def retry_after(self) -> float | None:
        """Seconds the server asked the caller to wait, when it said."""
        raw = self.details.get("retry-after")
        try:
            return float(raw) if raw is not None else None
        except ValueError:
            return None


class Unavailable(ManhattanError):
    """Nothing was done: the request never reached a node that could act on it, or the
    node refused it before any work. Retrying is always safe."""

    code = grpc.StatusCode.UNAVAILABLE
    kind = "unavailable"


class ReplicasUnavailable(Unavailable):
    """The coordinator knows too few live replicas for the consistency level; it sent
    nothing. Retry later, or at a lower level."""

    kind = "replicas-unavailable"


class NodeUnreachable(Unavailable):
    """The SDK could not connect to the node, so the request was never sent (raised by
    the SDK only; a node never answers with it)."""

    kind = "node-unreachable"


class Timeout(ManhattanError):
    """The request was (or may have been) sent and no answer came: the outcome is
    unknown. A write may have applied; check before repeating it."""

    code = grpc.StatusCode.DEADLINE_EXCEEDED
    kind = "timeout"


class ConnectionLost(Timeout):
    """The connection broke after the request went out: the outcome is unknown (raised by
    the SDK only)."""

    kind = "connection-lost"


class ConditionFailed(ManhattanError):
    """A conditional (SERIAL) write was not applied: the key's current record did not
    match ``if_version`` / ``if_absent``. Nothing was written; ``current`` is the record
    the condition was checked against (None when there is none): decide from it."""

    code = grpc.StatusCode.ABORTED
    kind = "condition-failed"

    def __init__(self, message: str = "", *, current: object = None,
                 details: dict[str, str] | None = None) -> None:
        super().__init__(message, details=details)
        self.current = current


class StaleTopology(ManhattanError):
    """The caller's topology epoch is older than the node's; refresh and retry."""

    code = grpc.StatusCode.FAILED_PRECONDITION
    kind = "stale-topology"


class Cancelled(ManhattanError):
    """The call was cancelled before it finished."""

    code = grpc.StatusCode.CANCELLED
    kind = "cancelled"


class InternalError(ManhattanError):
    """A bug or an unexpected storage failure on the node; report it."""

    code = grpc.StatusCode.INTERNAL
    kind = "internal"


_CLASSES: tuple[type[ManhattanError], ...] = (
    InvalidRequest, NotFound, AlreadyExists, Unauthenticated, PermissionDenied,
    QuotaExceeded, Unavailable, Timeout, ConditionFailed, StaleTopology, Cancelled,
    InternalError,
)
_BY_CODE: dict[grpc.StatusCode, type[ManhattanError]] = {cls.code: cls for cls in _CLASSES}
_BY_KIND: dict[str, type[ManhattanError]] = {
    cls.kind: cls for cls in (*_CLASSES, ReplicasUnavailable, NodeUnreachable, ConnectionLost)
}


def error_for_status(
    code: grpc.StatusCode, message: str, details: dict[str, str] | None = None
) -> ManhattanError:
    """The exception that stands for a gRPC status (the reverse of ``cls.code``)."""
    return _BY_CODE.get(code, ManhattanError)(message, details=details)


def error_for_kind(kind: str) -> type[ManhattanError] | None:
    """The class a node named in its ``manhattan-error`` trailer (None if unknown)."""
    return _BY_KIND.get(kind)


def status_trailers(exc: ManhattanError) -> tuple[tuple[str, str], ...]:
    """Trailing metadata of a status for ``exc``: its details and its kind."""
    return (*exc.details.items(), (ERROR_KIND_KEY, exc.kind))


__all__ = [
    "ManhattanError", "InvalidRequest", "NotFound", "AlreadyExists", "Unauthenticated",
    "PermissionDenied", "QuotaExceeded", "Unavailable", "ReplicasUnavailable",
    "NodeUnreachable", "Timeout", "ConnectionLost", "ConditionFailed", "StaleTopology", "Cancelled",
    "InternalError", "ERROR_KIND_KEY", "error_for_kind", "error_for_status",
    "status_trailers",
]
