"""The SDK's exception tree (shared with the node) and the gRPC-error mapping."""

from __future__ import annotations

import grpc

from manhattan.errors import (
    AlreadyExists, Cancelled, InternalError, InvalidRequest, ManhattanError, NotFound,
    PermissionDenied, QuotaExceeded, StaleTopology, Timeout, Unauthenticated, Unavailable,
    error_for_status,
)


def from_rpc_error(exc: grpc.RpcError) -> ManhattanError:
    """The ManhattanError for a failed call, with trailing metadata as details."""
    code = exc.code() if hasattr(exc, "code") else grpc.StatusCode.UNKNOWN
    message = exc.details() if hasattr(exc, "details") else str(exc)
    details: dict[str, str] = {}
    trailing = exc.trailing_metadata() if hasattr(exc, "trailing_metadata") else None
    for key, value in trailing or ():
        if isinstance(value, str):
            details[key] = value
    if code == grpc.StatusCode.RESOURCE_EXHAUSTED and "message larger than max" in message:
        # gRPC's own size cap, not a quota: the same request can never succeed
        return InvalidRequest(f"request or reply too large for one message: {message}",
                              details=details)
    if code == grpc.StatusCode.UNAVAILABLE and _broke_mid_call(message):
        # The request may have reached the node before the connection dropped: the
        # outcome is unknown, so it must not be retried as "nothing was sent".
        return Timeout(f"connection lost during the call; the outcome is unknown: {message}",
                       details=details)
    return error_for_status(code, message or code.name, details)


# gRPC's words for a connection that broke after the request went out (as opposed to
# "failed to connect", where nothing was sent).
_MID_CALL = ("stream removed", "socket closed", "connection reset", "broken pipe",
             "recvmsg", "end of tcp stream")


def _broke_mid_call(message: str) -> bool:
    lowered = (message or "").lower()
    return any(marker in lowered for marker in _MID_CALL)


__all__ = [
    "AlreadyExists", "Cancelled", "InternalError", "InvalidRequest", "ManhattanError", "NotFound",
    "PermissionDenied", "QuotaExceeded", "StaleTopology", "Timeout", "Unauthenticated",
    "Unavailable", "from_rpc_error",
]
