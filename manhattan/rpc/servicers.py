"""Turning exceptions into gRPC statuses at the servicer boundary.

Every handler runs inside ``rpc_errors``: a ManhattanError becomes its status
code and message (details go to trailing metadata), an unknown dataset becomes
NOT_FOUND, and anything unexpected is logged and answered INTERNAL. No request
can take the node down.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeVar

import grpc
from google.protobuf.descriptor import ServiceDescriptor
from google.protobuf.message_factory import GetMessageClass

from manhattan.errors import ManhattanError, status_trailers
from manhattan.rpc import request_context
from manhattan.storage import Record, UnknownDataset, Version
from manhattan.proto.v1 import types_pb2

log = logging.getLogger("manhattan.node")
access_log = logging.getLogger("manhattan.access")

Servicer = TypeVar("Servicer")
Handler = Callable[[Any, Any, grpc.aio.ServicerContext], Awaitable[Any]]
BoundHandler = Callable[[Any, grpc.aio.ServicerContext], Awaitable[Any]]


class RequestMetrics(Protocol):
    """What ``observed`` reports each request to (the node's ``NodeMetrics``): declared
    here so the plumbing does not depend on the node that uses it."""

    def observe_request(self, method: str, code: str, seconds: float,
                        tenant: str | None) -> None: ...


def rpc_errors(method: Handler) -> Handler:
    """Decorate a servicer method so that failures become precise statuses."""

    @functools.wraps(method)
    async def handler(self: Any, request: Any, context: grpc.aio.ServicerContext) -> Any:
        if isinstance(request, Malformed):
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                                f"request to {method.__name__} is not a valid message: "
                                f"{request.error}")
        try:
            return await method(self, request, context)
        except ManhattanError as exc:
            # The class travels as structured metadata (``manhattan-error``): the SDK
            # tells "too few replicas" from a broken connection by it, never by text.
            context.set_trailing_metadata((*status_trailers(exc), *request_context.trailers()))
            # A status without context.abort(): no AbortError to raise and unwind, which
            # makes a refusal (e.g. over a rate limit) several times cheaper.
            context.set_code(exc.code)
            context.set_details(exc.message)
            return None
        except UnknownDataset as exc:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"dataset {exc.args[0]!r} does not exist")
        except Exception:
            log.exception("unexpected error in %s", method.__name__)
            await context.abort(grpc.StatusCode.INTERNAL, f"internal error in {method.__name__}")

    return handler


class Malformed:
    """Stands in for a request whose bytes did not decode."""

    __slots__ = ("error",)

    def __init__(self, error: Exception) -> None:
        self.error = error


def _lenient(deserializer: Callable[[bytes], Any]) -> Callable[[bytes], Any]:
    def parse(raw: bytes) -> Any:
        try:
            return deserializer(raw)
        except Exception as exc:  # DecodeError and friends: the caller's fault, not ours
            return Malformed(exc)
    return parse


def _code_name(code: grpc.StatusCode | None, default: str) -> str:
    return code.name if isinstance(code, grpc.StatusCode) else default


def observed(name: str, handler: BoundHandler, metrics: RequestMetrics | None,
             log_access: bool = False) -> BoundHandler:
    """Wrap a bound handler with what every request gets, in this one place: a request
    scope (id from ``x-request-id`` or new, echoed in trailing metadata; the tenant once
    authenticated) for logs, and its count, latency and tenant in the node's metrics."""

    async def serve(request: Any, context: grpc.aio.ServicerContext) -> Any:
        scope, token = request_context.begin(name, context.invocation_metadata())
        context.set_trailing_metadata(((request_context.REQUEST_ID_KEY, scope.request_id),))
        start = time.perf_counter()
        code = "UNKNOWN"
        try:
            response = await handler(request, context)
            code = _code_name(context.code(), "OK")
            return response
        except asyncio.CancelledError:
            code = "CANCELLED"
            raise
        except BaseException:
            code = _code_name(context.code(), "UNKNOWN")
            raise
        finally:
            elapsed = time.perf_counter() - start
            if metrics is not None:
                metrics.observe_request(name, code, elapsed, scope.tenant)
            if log_access:
                access_log.info("%s %s %.2fms", name, code, elapsed * 1000)
            request_context.end(token)

    return serve


def add_unary_servicer(server: grpc.aio.Server, servicer: Any,
                       service: ServiceDescriptor, metrics: RequestMetrics | None = None,
                       log_access: bool = False) -> None:
    """Register a unary-unary servicer whose requests decode leniently.

    grpc.aio answers a request whose bytes do not decode with UNKNOWN (and logs a
    traceback); bad input must get a clear INVALID_ARGUMENT instead. The lenient
    deserializer hands ``rpc_errors`` a Malformed marker, which it rejects. This
    replaces the generated ``add_*_to_server`` (same handlers otherwise), without
    an interceptor's cost on every call: each handler is wrapped by ``observed``.
    """
    handlers = {}
    for method in service.methods:
        request_cls = GetMessageClass(method.input_type)
        response_cls = GetMessageClass(method.output_type)
        handlers[method.name] = grpc.unary_unary_rpc_method_handler(
            observed(method.name, getattr(servicer, method.name), metrics, log_access),
            request_deserializer=_lenient(request_cls.FromString),
            response_serializer=response_cls.SerializeToString,
        )
    server.add_generic_rpc_handlers(
        (grpc.method_handlers_generic_handler(service.full_name, handlers),))
    server.add_registered_method_handlers(service.full_name, handlers)


def _malformed(name: str, request: Malformed) -> str:
    return f"request to {name} is not a valid message: {request.error}"


def _lenient_handler(method: Any, behaviour: Any) -> grpc.RpcMethodHandler:
    """One method of any arity whose requests decode leniently; a Malformed request
    (or stream message) is answered INVALID_ARGUMENT before the servicer sees it."""
    name = method.name
    request_cls = GetMessageClass(method.input_type)
    response_cls = GetMessageClass(method.output_type)
    codec = dict(request_deserializer=_lenient(request_cls.FromString),
                 response_serializer=response_cls.SerializeToString)

    async def checked(requests: Any, context: grpc.aio.ServicerContext) -> Any:
        async for request in requests:
            if isinstance(request, Malformed):
                await context.abort(grpc.StatusCode.INVALID_ARGUMENT, _malformed(name, request))
            yield request

    async def unary_unary(request: Any, context: grpc.aio.ServicerContext) -> Any:
        if isinstance(request, Malformed):
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, _malformed(name, request))
        return await behaviour(request, context)

    async def unary_stream(request: Any, context: grpc.aio.ServicerContext) -> Any:
        if isinstance(request, Malformed):
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, _malformed(name, request))
        async for response in behaviour(request, context):
            yield response

    async def stream_unary(requests: Any, context: grpc.aio.ServicerContext) -> Any:
        return await behaviour(checked(requests, context), context)

    async def stream_stream(requests: Any, context: grpc.aio.ServicerContext) -> Any:
        async for response in behaviour(checked(requests, context), context):
            yield response

    if method.client_streaming and method.server_streaming:
        return grpc.stream_stream_rpc_method_handler(stream_stream, **codec)
    if method.client_streaming:
        return grpc.stream_unary_rpc_method_handler(stream_unary, **codec)
    if method.server_streaming:
        return grpc.unary_stream_rpc_method_handler(unary_stream, **codec)
    return grpc.unary_unary_rpc_method_handler(unary_unary, **codec)


def add_servicer(server: grpc.aio.Server, servicer: Any, service: ServiceDescriptor) -> None:
    """Register a servicer of any arities (streaming ones too) whose requests decode
    leniently: bad bytes get INVALID_ARGUMENT, not grpc.aio's UNKNOWN. Use it in place
    of a generated ``add_*Servicer_to_server``."""
    handlers = {m.name: _lenient_handler(m, getattr(servicer, m.name)) for m in service.methods}
    server.add_generic_rpc_handlers(
        (grpc.method_handlers_generic_handler(service.full_name, handlers),))
    server.add_registered_method_handlers(service.full_name, handlers)


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
