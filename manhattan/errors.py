"""One exception tree for the whole system, mapped one-to-one to gRPC status codes.

Each class is named for what the caller should do next. The node raises them and
the servicer turns them into statuses; the SDK turns statuses back into them, so
``except manhattan.client.Unavailable`` means the same thing on both sides.
"""

from __future__ import annotations

import grpc


class ManhattanError(Exception):
    """Root of every error Manhattan raises on purpose."""

    code: grpc.StatusCode = grpc.StatusCode.UNKNOWN
    retryable: bool = False

    def __init__(self, message: str = "", *, details: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details: dict[str, str] = dict(details or {})


class InvalidRequest(ManhattanError):
    """The request is malformed or breaks a limit; fix it, retrying will not help."""

    code = grpc.StatusCode.INVALID_ARGUMENT


class NotFound(ManhattanError):
    """A named thing (dataset, tenant) does not exist."""

    code = grpc.StatusCode.NOT_FOUND


class AlreadyExists(ManhattanError):
    """A thing with that name exists already."""

    code = grpc.StatusCode.ALREADY_EXISTS


class Unauthenticated(ManhattanError):
    """No token, or one the cluster does not know."""

    code = grpc.StatusCode.UNAUTHENTICATED


class PermissionDenied(ManhattanError):
    """The token is valid but does not allow this call."""

    code = grpc.StatusCode.PERMISSION_DENIED


class QuotaExceeded(ManhattanError):
    """Over a rate limit or quota; wait ``retry_after`` seconds and try again."""

    code = grpc.StatusCode.RESOURCE_EXHAUSTED
    retryable = True

    @property
    def retry_after(self) -> float | None:
        """Seconds the server asked the caller to wait, when it said."""
        raw = self.details.get("retry-after")
        try:
            return float(raw) if raw is not None else None
        except ValueError:
            return None


class Unavailable(ManhattanError):
    """Not enough live replicas: nothing was sent, so retrying is always safe."""

    code = grpc.StatusCode.UNAVAILABLE
    retryable = True


class Timeout(ManhattanError):
    """The deadline passed after the request was sent: the outcome is unknown."""

    code = grpc.StatusCode.DEADLINE_EXCEEDED
    retryable = True


class StaleTopology(ManhattanError):
    """The caller's topology epoch is older than the node's; refresh and retry."""

    code = grpc.StatusCode.FAILED_PRECONDITION
    retryable = True


class Cancelled(ManhattanError):
    """The call was cancelled before it finished."""

    code = grpc.StatusCode.CANCELLED


class InternalError(ManhattanError):
    """A bug or an unexpected storage failure on the node; report it."""

    code = grpc.StatusCode.INTERNAL


_BY_CODE: dict[grpc.StatusCode, type[ManhattanError]] = {
    cls.code: cls
    for cls in (
        InvalidRequest, NotFound, AlreadyExists, Unauthenticated, PermissionDenied,
        QuotaExceeded, Unavailable, Timeout, StaleTopology, Cancelled, InternalError,
    )
}


def error_for_status(
    code: grpc.StatusCode, message: str, details: dict[str, str] | None = None
) -> ManhattanError:
    """The exception that stands for a gRPC status (the reverse of ``cls.code``)."""
    return _BY_CODE.get(code, ManhattanError)(message, details=details)


__all__ = [
    "ManhattanError", "InvalidRequest", "NotFound", "AlreadyExists", "Unauthenticated",
    "PermissionDenied", "QuotaExceeded", "Unavailable", "Timeout", "StaleTopology",
    "Cancelled", "InternalError", "error_for_status",
]
