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
    return error_for_status(code, message or code.name, details)


__all__ = [
    "AlreadyExists", "Cancelled", "InternalError", "InvalidRequest", "ManhattanError", "NotFound",
    "PermissionDenied", "QuotaExceeded", "StaleTopology", "Timeout", "Unauthenticated",
    "Unavailable", "from_rpc_error",
]
