"""The coordinator's side of node-to-node traffic: one stream per peer.

Operations to a peer are queued, sent as batches on a long-lived
bidirectional ``Peer.Replicate`` stream and matched to replies by id, so a
busy coordinator pays one stream message for many records instead of one
unary RPC each. A broken stream fails its pending operations at once and is
re-opened by the next call.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import AsyncIterator

import grpc

from manhattan.cluster.failure_detector import PhiAccrualDetector
from manhattan.proto.v1 import peer_pb2, peer_pb2_grpc

log = logging.getLogger("manhattan.replication")
MAX_OPS_PER_MESSAGE = 512


class PeerUnreachable(ConnectionError):
    """The stream to the peer broke or could not be opened."""


class PeerLink:
    """Batched, multiplexed replica operations to one peer."""

    def __init__(self, peer_id: int, address: str, *, metadata: tuple[tuple[str, str], ...],
                 detector: PhiAccrualDetector, options: list[tuple[str, int]] | None = None
                 ) -> None:
        self.peer_id = peer_id
        self.address = address
        self._metadata = metadata
        self._detector = detector
        self._channel = grpc.aio.insecure_channel(address, options=options or [])
        self.stub = peer_pb2_grpc.PeerStub(self._channel)
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[peer_pb2.ReplicaReply]] = {}
        self._outbox: list[peer_pb2.ReplicaOp] = []
        self._wake = asyncio.Event()
        self._receiver: asyncio.Task[None] | None = None
        self._closed = False

    async def call(self, op: peer_pb2.ReplicaOp, timeout: float) -> peer_pb2.ReplicaReply:
        """Send one operation (its id is assigned here) and await its reply."""
        if self._closed:
            raise PeerUnreachable(f"link to node {self.peer_id} is closed")
        self._ensure_stream()
        op.id = next(self._ids)
        future: asyncio.Future[peer_pb2.ReplicaReply] = asyncio.get_running_loop().create_future()
        self._pending[op.id] = future
        self._outbox.append(op)
        self._wake.set()
        try:
            return await asyncio.wait_for(future, timeout)
        finally:
            self._pending.pop(op.id, None)

    def _ensure_stream(self) -> None:
        if self._receiver is None or self._receiver.done():
            self._receiver = asyncio.create_task(self._run_stream(),
                                                 name=f"peer-{self.peer_id}-stream")

    async def _requests(self) -> AsyncIterator[peer_pb2.ReplicaBatch]:
        while not self._closed:
            await self._wake.wait()
            self._wake.clear()
            while self._outbox:
                batch, self._outbox = (self._outbox[:MAX_OPS_PER_MESSAGE],
                                       self._outbox[MAX_OPS_PER_MESSAGE:])
                yield peer_pb2.ReplicaBatch(ops=batch)

    async def _run_stream(self) -> None:
        call = self.stub.Replicate(self._requests(), metadata=self._metadata)
        try:
            async for message in call:
                self._detector.heartbeat(self.peer_id)
                for reply in message.replies:
                    future = self._pending.get(reply.id)
                    if future is not None and not future.done():
                        future.set_result(reply)
            error: Exception = PeerUnreachable(f"stream to node {self.peer_id} ended")
        except grpc.aio.AioRpcError as exc:
            if exc.code() == grpc.StatusCode.UNAVAILABLE:
                self._detector.failure(self.peer_id)
            error = PeerUnreachable(f"node {self.peer_id} at {self.address}: {exc.code().name}")
        except asyncio.CancelledError:
            call.cancel()
            error = PeerUnreachable(f"link to node {self.peer_id} closed")
            self._fail_pending(error)
            raise
        self._fail_pending(error)

    def _fail_pending(self, error: Exception) -> None:
        self._outbox.clear()
        for future in list(self._pending.values()):
            if not future.done():
                future.set_exception(error)

    async def close(self) -> None:
        """Stop the stream and the channel."""
        self._closed = True
        self._wake.set()
        if self._receiver is not None:
            self._receiver.cancel()
            try:
                await self._receiver
            except (asyncio.CancelledError, PeerUnreachable):
                pass
        await self._channel.close()


class PeerLinks:
    """One PeerLink per peer, created on first use and replaced if its address changes."""

    def __init__(self, *, metadata: tuple[tuple[str, str], ...], detector: PhiAccrualDetector,
                 options: list[tuple[str, int]] | None = None) -> None:
        self._metadata = metadata
        self._detector = detector
        self._options = options
        self._links: dict[int, PeerLink] = {}

    def get(self, peer_id: int, address: str) -> PeerLink:
        """The link to ``peer_id`` at ``address``."""
        link = self._links.get(peer_id)
        if link is None or link.address != address:
            if link is not None:
                asyncio.ensure_future(link.close())
            link = self._links[peer_id] = PeerLink(
                peer_id, address, metadata=self._metadata, detector=self._detector,
                options=self._options,
            )
        return link

    async def close(self) -> None:
        """Close every link."""
        links, self._links = self._links, {}
        for link in links.values():
            await link.close()
