"""The replica's side of node-to-node traffic (``manhattan.v1.Peer``).

Replica operations arrive in batches on a long-lived stream. Each is executed
against the local engine (a durable apply waits for the group commit, without
holding up the others) and its reply goes back on the same stream, batched
with whatever else finished meanwhile, in messages bounded in bytes: reads and
scans answer only what fits the coordinator's ``max_bytes`` (it asks again for
the rest), and a reply too large for any message is replaced by an error reply
rather than sent, since one oversized message would end the stream.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Protocol

import grpc

from manhattan.errors import InvalidRequest, ManhattanError
from manhattan.hlc import physical_ms
from manhattan.rpc.auth import Authenticator
from manhattan.proto.v1 import cluster_pb2, peer_pb2, peer_pb2_grpc, types_pb2
from manhattan.replication.chunking import fitting_prefix, message_budget, proto_size
from manhattan.replication.paxos_replica import PaxosReplica
from manhattan.hlc import HybridClock
from manhattan.replication import write_blob
from manhattan.replication.counters import add_reply, owner_add
from manhattan.replication.peer_link import DEFAULT_MAX_MESSAGE_BYTES
from manhattan.replication.wire import (
    entry_size, entry_to_proto, read_bounded, write_from_proto, write_to_proto,
)
from manhattan.storage import GroupCommit, UnknownDataset, Write
from manhattan.replication.supersede import kept_versions
from manhattan.replication.trimming import local_trim
from manhattan.storage.counters_engine import CounterStore
from manhattan.storage.engine import Records
from manhattan.storage.keys import encode_cursor
from manhattan.rpc.servicers import rpc_errors

log = logging.getLogger("manhattan.replication")

_DONE = object()


class PeerEngine(Records, CounterStore, Protocol):
    """What replica operations ask of storage: records, and increments this node owns."""


class PeerService(peer_pb2_grpc.PeerServicer):
    """Serves replica operations, heartbeats and catalog/topology exchange to peers."""

    def __init__(
        self,
        *,
        node_id: int,
        engine: PeerEngine,
        group_commit: GroupCommit,
        auth: Authenticator,
        hlc: Callable[[], int],
        clock: HybridClock | None = None,
        on_ping: Callable[[peer_pb2.PingRequest], peer_pb2.PingResponse],
        on_topology: Callable[[cluster_pb2.TopologyMessage], Awaitable[None]],
        catalog_snapshot: Callable[[], peer_pb2.CatalogSnapshot],
        on_catalog: Callable[[peer_pb2.CatalogSnapshot], Awaitable[None]],
        max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
        topology_epoch: Callable[[], int] = lambda: 0,
    ) -> None:
        self._node_id = node_id
        self._max_reply = message_budget(max_message_bytes)
        self._engine = engine
        self._group_commit = group_commit
        self._paxos = PaxosReplica(engine, group_commit, topology_epoch)
        self._auth = auth
        self._hlc = hlc
        self._clock = clock  # stamps increments this node owns (counters)
        self._on_ping = on_ping
        self._on_topology = on_topology
        self._catalog_snapshot = catalog_snapshot
        self._on_catalog = on_catalog
        self._closing = asyncio.Event()

    def close(self) -> None:
        """End every open Replicate stream (at shutdown), so draining does not wait on them."""
        self._closing.set()

    # -- replica operations -----------------------------------------------

    async def _apply(self, dataset: str, writes: list[Write], sync: bool
                     ) -> peer_pb2.ReplicaReply:
        # The engine skew-checks the versions and the clock absorbs them (timestamp_gate).
        applied = self._engine.apply(dataset, writes)
        if sync:
            await self._group_commit.durable()
        if all(applied):
            return peer_pb2.ReplicaReply()  # nothing kept: every write applied
        # Declined: newer (or the same) version here. Its version goes back so the
        # coordinator absorbs it and can tell its client the write was superseded.
        reply = peer_pb2.ReplicaReply(applied=applied)
        reply.kept.extend(types_pb2.Version(timestamp=v.timestamp, writer=v.writer)
                          for v in kept_versions(self._engine, dataset, writes, applied))
        return reply

    async def _apply_blob(self, op: peer_pb2.ApplyBlobOp) -> peer_pb2.ReplicaReply:
        try:
            writes = write_blob.decode(op.writes)
        except write_blob.CorruptBlob as exc:  # refused whole: nothing applied
            raise InvalidRequest(str(exc)) from None
        return await self._apply(op.dataset, writes, op.sync)

    def _budget(self, asked: int) -> int:
        return min(asked, self._max_reply) if asked else self._max_reply

    def _read(self, op: peer_pb2.ReadOp) -> peer_pb2.ReplicaReply:
        """Entries of the longest prefix of the keys that fits the budget (at least one);
        the coordinator asks again for the others."""
        entries = read_bounded(self._engine, op.dataset, [(k.pkey, k.lkey) for k in op.keys],
                               self._budget(op.max_bytes))
        return peer_pb2.ReplicaReply(entries=[entry_to_proto(e) for e in entries])

    def _scan(self, op: peer_pb2.ScanOp) -> peer_pb2.ReplicaReply:
        entries, cursor = self._engine.scan_entries(
            op.dataset, op.pkey,
            start=op.start if op.HasField("start") else None,
            end=op.end if op.HasField("end") else None,
            limit=op.limit or 100, reverse=op.reverse, cursor=op.cursor or None,
        )
        keep = fitting_prefix([entry_size(op.pkey, lkey, e) for lkey, e in entries],
                              self._budget(op.max_bytes))
        if keep < len(entries):  # the page stops at the budget; resume after it
            entries, cursor = entries[:keep], encode_cursor(entries[keep - 1][0])
        return peer_pb2.ReplicaReply(
            scanned=[write_to_proto(Write(op.pkey, lkey, entry)) for lkey, entry in entries],
            next_cursor=cursor or b"",
        )

    async def _trim(self, op: peer_pb2.TrimOp) -> peer_pb2.ReplicaReply:
        """Keep the newest ``op.keep`` records of the pkey here, tombstone the rest."""
        outcome = await local_trim(self._engine, op, lambda: physical_ms(self._hlc()))
        if op.sync:
            await self._group_commit.durable()
        return peer_pb2.ReplicaReply(trimmed=outcome.removed, trim_floor=outcome.floor or b"")

    async def execute(self, op: peer_pb2.ReplicaOp) -> peer_pb2.ReplicaReply:
        """Run one replica operation; failures become a status in the reply."""
        try:
            kind = op.WhichOneof("op")
            if kind == "apply_blob":
                reply = await self._apply_blob(op.apply_blob)
            elif kind == "apply":
                reply = await self._apply(op.apply.dataset,
                                          [write_from_proto(w) for w in op.apply.writes],
                                          op.apply.sync)
            elif kind == "read":
                reply = self._read(op.read)
            elif kind == "scan":
                reply = self._scan(op.scan)
            elif kind == "trim":
                reply = await self._trim(op.trim)
            elif kind is not None and kind.startswith("paxos_"):
                reply = peer_pb2.ReplicaReply(paxos=await self._paxos.execute(op))
            elif kind == "counter_add" and self._clock is not None:
                reply = add_reply(await owner_add(self._engine, self._group_commit, self._clock,
                                                  self._node_id, op.counter_add))
            else:
                reply = peer_pb2.ReplicaReply(code=grpc.StatusCode.INVALID_ARGUMENT.value[0],
                                              message="empty replica operation")
        except UnknownDataset as exc:
            reply = peer_pb2.ReplicaReply(code=grpc.StatusCode.NOT_FOUND.value[0],
                                          message=f"dataset {exc.args[0]!r} is not on this node")
        except ManhattanError as exc:
            reply = peer_pb2.ReplicaReply(code=exc.code.value[0], message=exc.message)
        except Exception as exc:  # a bad op must not end the stream for the others
            log.exception("replica operation failed")
            reply = peer_pb2.ReplicaReply(code=grpc.StatusCode.INTERNAL.value[0], message=str(exc))
        size = proto_size(reply)
        if size > self._max_reply:  # never sent: it would end the stream for everyone
            reply = peer_pb2.ReplicaReply(
                code=grpc.StatusCode.RESOURCE_EXHAUSTED.value[0],
                message=f"the answer is {size} bytes, over the {self._max_reply} bytes a "
                        "message may carry: ask for less (max_bytes)")
        reply.id = op.id
        reply.hlc = self._hlc()
        return reply

    async def Replicate(
        self, request_iterator: AsyncIterator[peer_pb2.ReplicaBatch],
        context: grpc.aio.ServicerContext,
    ) -> AsyncIterator[peer_pb2.ReplicaReplies]:
        try:
            self._auth.admin(context.invocation_metadata())
        except ManhattanError as exc:
            await context.abort(exc.code, exc.message)
        outbox: asyncio.Queue[object] = asyncio.Queue()
        running: set[asyncio.Task[None]] = set()

        async def run(op: peer_pb2.ReplicaOp) -> None:
            outbox.put_nowait(await self.execute(op))

        async def read_requests() -> None:
            try:
                async for batch in request_iterator:
                    for op in batch.ops:
                        task = asyncio.create_task(run(op))
                        running.add(task)
                        task.add_done_callback(running.discard)
            finally:
                if running:
                    await asyncio.gather(*running, return_exceptions=True)
                outbox.put_nowait(_DONE)

        reader = asyncio.create_task(read_requests())
        closing = asyncio.ensure_future(self._closing.wait())
        try:
            while True:
                getter = asyncio.ensure_future(outbox.get())
                await asyncio.wait({getter, closing}, return_when=asyncio.FIRST_COMPLETED)
                if not getter.done():
                    getter.cancel()
                    return
                item = getter.result()
                if item is _DONE:
                    return
                replies, total = [item], proto_size(item)
                while not outbox.empty():
                    extra = outbox.get_nowait()
                    if extra is _DONE:
                        yield peer_pb2.ReplicaReplies(replies=replies)
                        return
                    size = proto_size(extra)
                    if total + size > self._max_reply:  # bounded: the rest goes next
                        yield peer_pb2.ReplicaReplies(replies=replies)
                        replies, total = [], 0
                    replies.append(extra)
                    total += size
                yield peer_pb2.ReplicaReplies(replies=replies)
        finally:
            reader.cancel()
            closing.cancel()

    # -- membership and catalog -------------------------------------------

    @rpc_errors
    async def Ping(self, request: peer_pb2.PingRequest, context) -> peer_pb2.PingResponse:
        self._auth.admin(context.invocation_metadata())
        return self._on_ping(request)

    @rpc_errors
    async def PushTopology(self, request: cluster_pb2.TopologyMessage, context
                           ) -> peer_pb2.PingResponse:
        self._auth.admin(context.invocation_metadata())
        await self._on_topology(request)
        return self._on_ping(peer_pb2.PingRequest())

    @rpc_errors
    async def GetCatalog(self, request: peer_pb2.GetCatalogRequest, context
                         ) -> peer_pb2.CatalogSnapshot:
        self._auth.admin(context.invocation_metadata())
        return self._catalog_snapshot()

    @rpc_errors
    async def PushCatalog(self, request: peer_pb2.CatalogSnapshot, context
                          ) -> peer_pb2.PingResponse:
        self._auth.admin(context.invocation_metadata())
        await self._on_catalog(request)
        return self._on_ping(peer_pb2.PingRequest())
