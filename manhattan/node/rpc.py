"""Turning exceptions into gRPC statuses at the servicer boundary.

Every handler runs inside ``rpc_errors``: a ManhattanError becomes its status
code and message (details go to trailing metadata), an unknown dataset becomes
NOT_FOUND, and anything unexpected is logged and answered INTERNAL. No request
can take the node down.
"""

from __future__ import annotations

import functools
import inspect
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


class _Malformed:
    """Stands in for a request whose bytes did not decode."""

    __slots__ = ("error",)

    def __init__(self, error: Exception) -> None:
        self.error = error


def _lenient(deserializer: Callable[[bytes], Any]) -> Callable[[bytes], Any]:
    def parse(raw: bytes) -> Any:
        try:
            return deserializer(raw)
        except Exception as exc:  # DecodeError and friends: the caller's fault, not ours
            return _Malformed(exc)
    return parse


class MalformedRequestInterceptor(grpc.aio.ServerInterceptor):
    """Answers undecodable unary requests INVALID_ARGUMENT.

    grpc.aio answers a request whose bytes its deserializer rejects with UNKNOWN
    (and logs a traceback); bad input must get a clear INVALID_ARGUMENT instead.
    The deserializer is made lenient and the handler rejects what it could not parse.
    """

    def __init__(self) -> None:
        self._handlers: dict[str, grpc.RpcMethodHandler] = {}

    async def intercept_service(
        self, continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        method = handler_call_details.method
        cached = self._handlers.get(method)
        if cached is not None:
            return cached
        handler = await continuation(handler_call_details)
        if (handler is None or handler.request_streaming or handler.response_streaming
                or handler.request_deserializer is None):
            return handler
        behavior = handler.unary_unary

        async def guarded(request: Any, context: grpc.aio.ServicerContext) -> Any:
            if isinstance(request, _Malformed):
                await context.abort(
                    grpc.StatusCode.INVALID_ARGUMENT,
                    f"request to {method} is not a valid message: {request.error}",
                )
            result = behavior(request, context)
            return await result if inspect.isawaitable(result) else result

        wrapped = grpc.unary_unary_rpc_method_handler(
            guarded, request_deserializer=_lenient(handler.request_deserializer),
            response_serializer=handler.response_serializer,
        )
        self._handlers[method] = wrapped
        return wrapped


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
