"""Turning exceptions into gRPC statuses at the servicer boundary.

Every handler runs inside ``rpc_errors``: a ManhattanError becomes its status
code and message (details go to trailing metadata), an unknown dataset becomes
NOT_FOUND, and anything unexpected is logged and answered INTERNAL. No request
can take the node down.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import grpc

from manhattan.errors import ManhattanError
from manhattan.storage import Record, UnknownDataset, Version
from manhattan.proto.v1 import types_pb2

log = logging.getLogger("manhattan.node")

Servicer = TypeVar("Servicer")
Handler = Callable[[Any, Any, grpc.aio.ServicerContext], Awaitable[Any]]


def rpc_errors(method: Handler) -> Handler:
    """Decorate a servicer method so that failures become precise statuses."""

    @functools.wraps(method)
    async def handler(self: Any, request: Any, context: grpc.aio.ServicerContext) -> Any:
        try:
            return await method(self, request, context)
        except ManhattanError as exc:
            if exc.details:
                context.set_trailing_metadata(tuple(exc.details.items()))
            await context.abort(exc.code, exc.message)
        except UnknownDataset as exc:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"dataset {exc.args[0]!r} does not exist")
        except Exception:
            log.exception("unexpected error in %s", method.__name__)
            await context.abort(grpc.StatusCode.INTERNAL, f"internal error in {method.__name__}")

    return handler


def version_to_proto(version: Version) -> types_pb2.Version:
    """The wire form of a version."""
    return types_pb2.Version(timestamp=version.timestamp, writer=version.writer)


def record_to_proto(record: Record) -> types_pb2.Record:
    """The wire form of a live record."""
    return types_pb2.Record(
        pkey=record.pkey, lkey=record.lkey, value=record.value,
        version=types_pb2.Version(timestamp=record.version.timestamp, writer=record.version.writer),
        expires_at_ms=record.expires_at_ms,
    )
