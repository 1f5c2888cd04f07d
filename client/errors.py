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
    return error_for_status(code, message or code.name, details)


__all__ = [
    "AlreadyExists", "Cancelled", "InternalError", "InvalidRequest", "ManhattanError", "NotFound",
    "PermissionDenied", "QuotaExceeded", "StaleTopology", "Timeout", "Unauthenticated",
    "Unavailable", "from_rpc_error",
]
