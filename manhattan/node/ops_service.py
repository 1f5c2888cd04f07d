"""gRPC servicers: ``Ops`` (operator: repair, membership changes) and ``PeerRanges``
(node to node: hash-tree exchange, range streaming, transfer status, cleanup).

Both need the admin token. Streaming handlers turn a ManhattanError into its
status; anything unexpected is logged and answered INTERNAL.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc

from manhattan.errors import ManhattanError
from manhattan.rpc.auth import Authenticator
from manhattan.proto.v1 import ops_pb2, ops_pb2_grpc
from manhattan.replication.antientropy.exchange import ExchangeSession, serve_exchange
from manhattan.replication.antientropy.scheduler import AntiEntropy
from manhattan.storage import UnknownDataset

log = logging.getLogger("manhattan.repair")


async def _guarded(stream: AsyncIterator[Any], context: grpc.aio.ServicerContext, name: str
                   ) -> AsyncIterator[Any]:
    """Relay a response stream; failures become precise statuses."""
    try:
        async for item in stream:
            yield item
    except ManhattanError as exc:
        await context.abort(exc.code, exc.message)
    except UnknownDataset as exc:
        await context.abort(grpc.StatusCode.NOT_FOUND,
                            f"dataset {exc.args[0]!r} is not on this node")
    except Exception:
        log.exception("unexpected error in %s", name)
        await context.abort(grpc.StatusCode.INTERNAL, f"internal error in {name}")


async def _unary(call: Awaitable[Any], context: grpc.aio.ServicerContext, name: str) -> Any:
    try:
        return await call
    except ManhattanError as exc:
        await context.abort(exc.code, exc.message)
    except Exception:
        log.exception("unexpected error in %s", name)
        await context.abort(grpc.StatusCode.INTERNAL, f"internal error in {name}")


async def _require_admin(auth: Authenticator, context: grpc.aio.ServicerContext) -> None:
    """Abort unless the caller holds the admin (peer) token."""
    try:
        auth.admin(context.invocation_metadata())
    except ManhattanError as exc:
        await context.abort(exc.code, exc.message)


class OpsService(ops_pb2_grpc.OpsServicer):
    """Implements manhattan.v1.Ops."""

    def __init__(self, *, auth: Authenticator, anti_entropy: AntiEntropy,
                 change_membership: Callable[[ops_pb2.MembershipChangeRequest],
                                             AsyncIterator[ops_pb2.MembershipProgress]] | None
                 = None) -> None:
        self._auth = auth
        self._anti_entropy = anti_entropy
        self._change_membership = change_membership

    async def _admin(self, context: grpc.aio.ServicerContext) -> None:
        await _require_admin(self._auth, context)

    async def Repair(self, request: ops_pb2.RepairRequest, context
                     ) -> AsyncIterator[ops_pb2.RepairProgress]:
        await self._admin(context)
        async for item in _guarded(
                self._anti_entropy.repair(request.dataset or None, request.all_peers),
                context, "Repair"):
            yield item

    async def ChangeMembership(self, request: ops_pb2.MembershipChangeRequest, context
                               ) -> AsyncIterator[ops_pb2.MembershipProgress]:
        await self._admin(context)
        if self._change_membership is None:
            await context.abort(grpc.StatusCode.UNIMPLEMENTED, "membership changes are off")
        async for item in _guarded(self._change_membership(request), context,
                                   "ChangeMembership"):
            yield item


class PeerRangesService(ops_pb2_grpc.PeerRangesServicer):
    """Implements manhattan.v1.PeerRanges."""

    def __init__(self, *, auth: Authenticator, new_session: Callable[[], ExchangeSession],
                 stream_ranges: Callable[[ops_pb2.StreamRangesRequest],
                                         AsyncIterator[ops_pb2.RangeChunk]] | None = None,
                 transfer_status: Callable[[ops_pb2.TransferStatusRequest],
                                           ops_pb2.TransferStatusReply] | None = None,
                 cleanup: Callable[[], Awaitable[ops_pb2.CleanupReply]] | None = None) -> None:
        self._auth = auth
        self._new_session = new_session
        self._stream_ranges = stream_ranges
        self._transfer_status = transfer_status
        self._cleanup = cleanup

    async def _admin(self, context: grpc.aio.ServicerContext) -> None:
        await _require_admin(self._auth, context)

    async def Exchange(self, request_iterator, context) -> AsyncIterator[ops_pb2.ExchangeReply]:
        await self._admin(context)
        async for item in _guarded(serve_exchange(self._new_session(), request_iterator),
                                   context, "Exchange"):
            yield item

    async def StreamRanges(self, request, context) -> AsyncIterator[ops_pb2.RangeChunk]:
        await self._admin(context)
        if self._stream_ranges is None:
            await context.abort(grpc.StatusCode.UNIMPLEMENTED, "streaming is off")
        async for item in _guarded(self._stream_ranges(request), context, "StreamRanges"):
            yield item

    async def TransferStatus(self, request, context) -> ops_pb2.TransferStatusReply:
        await self._admin(context)
        if self._transfer_status is None:
            await context.abort(grpc.StatusCode.UNIMPLEMENTED, "streaming is off")
        return self._transfer_status(request)

    async def Cleanup(self, request, context) -> ops_pb2.CleanupReply:
        await self._admin(context)
        if self._cleanup is None:
            await context.abort(grpc.StatusCode.UNIMPLEMENTED, "cleanup is off")
        return await _unary(self._cleanup(), context, "Cleanup")
