"""The coordinator's side of node-to-node traffic: one stream per peer.

Operations to a peer are queued, sent as batches on a long-lived
bidirectional ``Peer.Replicate`` stream and matched to replies by id, so a
busy coordinator pays one stream message for many records instead of one
unary RPC each. A broken stream fails its pending operations at once and is
re-opened by the next call: it fails fast on a peer that refuses connections (reads go
to a spare replica), and waits for the connection, within each operation's timeout,
for a peer that restarted while gRPC's reconnect backoff still runs.

Every batch is bounded in bytes below the gRPC message limit as well as in
count, and an operation too large for any message is refused before it is
queued (``MessageTooLarge``): one oversized message would end the stream and
fail every other tenant's operations riding on it.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import grpc

from manhattan.cluster.failure_detector import PhiAccrualDetector
from manhattan.proto.v1 import peer_pb2, peer_pb2_grpc
from manhattan.replication.chunking import message_budget, proto_size
from manhattan.security.tls import aio_channel

log = logging.getLogger("manhattan.replication")
MAX_OPS_PER_MESSAGE = 512
DEFAULT_MAX_MESSAGE_BYTES = 64 * 1024 * 1024


class PeerUnreachable(ConnectionError):
    """The stream to the peer broke or could not be opened."""


class ReplicaRefused(PeerUnreachable):
    """The replica answered INVALID_ARGUMENT (e.g. a version too far ahead of its clock):
    asking again with the same operation can never succeed."""


class MessageTooLarge(PeerUnreachable):
    """An operation larger than one stream message may be: never sent (it would end the
    stream for everyone on it). The caller cuts its operations smaller."""


@dataclass
class _Stream:
    """One Replicate call: its own outbox and waiters, so nothing queued for a broken
    stream can leak into the next one."""

    outbox: list[tuple[peer_pb2.ReplicaOp, int]] = field(default_factory=list)  # (op, size)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    pending: dict[int, asyncio.Future[peer_pb2.ReplicaReply]] = field(default_factory=dict)
    task: asyncio.Task[None] | None = None
    broken: bool = False

    def fail(self, error: Exception) -> None:
        """Fail every operation still waiting on this stream."""
        self.broken = True
        self.outbox.clear()
        for future in self.pending.values():
            if not future.done():
                future.set_exception(error)


class PeerLink:
    """Batched, multiplexed replica operations to one peer."""

    def __init__(self, peer_id: int, address: str, *, metadata: tuple[tuple[str, str], ...],
                 detector: PhiAccrualDetector, options: list[tuple[str, int]] | None = None,
                 credentials: grpc.ChannelCredentials | None = None,
                 max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES) -> None:
        self.peer_id = peer_id
        self.max_batch_bytes = message_budget(max_message_bytes)
        self.address = address
        self._metadata = metadata
        self._detector = detector
        # With TLS on, nodes dial each other with their own certificate (mutual TLS).
        self.channel = aio_channel(address, credentials, options or [])
        self.stub = peer_pb2_grpc.PeerStub(self.channel)
        self._ids = itertools.count(1)
        self._stream: _Stream | None = None
        self._closed = False

    def reconnecting_to_live_peer(self) -> bool:
        """Whether a call should wait for the channel to connect (``wait_for_ready``)
        rather than fail at once: the channel is between attempts after a failure
        (gRPC's reconnect backoff) while the failure detector has heard from the peer
        since, i.e. it restarted. Otherwise fail fast: a peer that refuses connections,
        or was never tried, is found out by the call itself (and reads go to a spare)."""
        return (self._detector.is_alive(self.peer_id)
                and self.channel.get_state() == grpc.ChannelConnectivity.TRANSIENT_FAILURE)

    async def call(self, op: peer_pb2.ReplicaOp, timeout: float) -> peer_pb2.ReplicaReply:
        """Send one operation (a copy with an id of this link's) and await its reply."""
        if self._closed:
            raise PeerUnreachable(f"link to node {self.peer_id} is closed")
        # A copy: the same op may be sent to several replicas at once, each with its own id.
        sent = peer_pb2.ReplicaOp()
        sent.CopyFrom(op)
        sent.id = next(self._ids)
        size = proto_size(sent)
        if size > self.max_batch_bytes:
            raise MessageTooLarge(f"an operation of {size} bytes to node {self.peer_id} exceeds "
                                  f"the {self.max_batch_bytes} bytes a message may carry")
        stream = self._current_stream()
        future: asyncio.Future[peer_pb2.ReplicaReply] = asyncio.get_running_loop().create_future()
        stream.pending[sent.id] = future
        stream.outbox.append((sent, size))
        stream.wake.set()
        try:
            return await asyncio.wait_for(future, timeout)
        finally:
            stream.pending.pop(sent.id, None)

    def _current_stream(self) -> _Stream:
        stream = self._stream
        if stream is None or stream.broken:
            stream = self._stream = _Stream()
            stream.task = asyncio.create_task(self._run(stream),
                                              name=f"peer-{self.peer_id}-stream")
        return stream

    async def _requests(self, stream: _Stream) -> AsyncIterator[peer_pb2.ReplicaBatch]:
        while not stream.broken:
            await stream.wake.wait()
            stream.wake.clear()
            while stream.outbox and not stream.broken:
                # Cut by count and by bytes; every op fits alone (checked in call()).
                count, total = 0, 0
                for _, size in stream.outbox[:MAX_OPS_PER_MESSAGE]:
                    if count and total + size > self.max_batch_bytes:
                        break
                    count, total = count + 1, total + size
                # An op whose caller stopped waiting (timed out) is not sent late.
                batch = [op for op, _ in stream.outbox[:count] if op.id in stream.pending]
                del stream.outbox[:count]
                if batch:
                    yield peer_pb2.ReplicaBatch(ops=batch)

    async def _run(self, stream: _Stream) -> None:
        call = self.stub.Replicate(self._requests(stream), metadata=self._metadata,
                                   wait_for_ready=self.reconnecting_to_live_peer())
        try:
            async for message in call:
                self._detector.heartbeat(self.peer_id)
                for reply in message.replies:
                    future = stream.pending.get(reply.id)
                    if future is not None and not future.done():
                        future.set_result(reply)
            error: Exception = PeerUnreachable(f"stream to node {self.peer_id} ended")
        except grpc.aio.AioRpcError as exc:
            if exc.code() == grpc.StatusCode.UNAVAILABLE:
                self._detector.failure(self.peer_id)
            error = PeerUnreachable(f"node {self.peer_id} at {self.address}: {exc.code().name}")
        except asyncio.CancelledError:
            call.cancel()
            stream.fail(PeerUnreachable(f"link to node {self.peer_id} closed"))
            stream.wake.set()
            raise
        stream.fail(error)
        stream.wake.set()
        call.cancel()

    async def close(self) -> None:
        """Stop the stream and the channel."""
        self._closed = True
        stream = self._stream
        if stream is not None and stream.task is not None:
            stream.task.cancel()
            try:
                await stream.task
            except (asyncio.CancelledError, PeerUnreachable):
                pass
        await self.channel.close()


class PeerLinks:
    """One PeerLink per peer, created on first use and replaced if its address changes."""

    def __init__(self, *, metadata: tuple[tuple[str, str], ...], detector: PhiAccrualDetector,
                 options: list[tuple[str, int]] | None = None,
                 credentials: grpc.ChannelCredentials | None = None,
                 max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES) -> None:
        self._metadata = metadata
        self._detector = detector
        self._options = options
        self.max_message_bytes = max_message_bytes
        self.credentials = credentials
        self._links: dict[int, PeerLink] = {}
        self._closing: set[asyncio.Future[None]] = set()

    def get(self, peer_id: int, address: str) -> PeerLink:
        """The link to ``peer_id`` at ``address``."""
        link = self._links.get(peer_id)
        if link is None or link.address != address:
            if link is not None:  # the peer moved: retire the old link in the background
                closing = asyncio.ensure_future(link.close())
                self._closing.add(closing)
                closing.add_done_callback(self._closing.discard)
            link = self._links[peer_id] = PeerLink(
                peer_id, address, metadata=self._metadata, detector=self._detector,
                options=self._options, credentials=self.credentials,
                max_message_bytes=self.max_message_bytes,
            )
        return link

    async def close(self) -> None:
        """Close every link."""
        links, self._links = self._links, {}
        for link in links.values():
            await link.close()
