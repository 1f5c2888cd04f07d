"""One anti-entropy exchange between two replicas over the ranges they share.

The initiator opens a ``PeerRanges.Exchange`` stream; both sides build a hash
tree over exactly the same position ranges (the initiator sends them, and both
must be at the same topology epoch). Then it descends: compare the roots, ask
for the children of differing nodes level by level, and at the leaves ask for
the (key, version) lists of the differing segments. Keys newer here are pushed,
keys newer there are fetched; both sides apply them last-writer-wins
(``RocksEngine.apply_raw``). ``finish`` ends a complete exchange, and each side
then records a repair watermark (``Watermarks``): the time its tree scan
started, before which everything it held is now on the other side too, with the
topology epoch the exchange *started* at (the ranges compared were placed by
it; an epoch that changed meanwhile must not vouch for ranges never compared).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Protocol

import grpc

from manhattan.cluster.ranges import Range, checked_range
from manhattan.replication.chunking import STREAM_CHUNK_BYTES
from manhattan.errors import InvalidRequest, StaleTopology
from manhattan.proto.v1 import ops_pb2, ops_pb2_grpc
from manhattan.replication.antientropy.hashtree import (
    DEPTH, HashTree, build_tree, segment_versions, segment_versions_bounded,
)
from manhattan.replication.antientropy.tree_cache import TreeCache
from manhattan.replication.antientropy.watermarks import Watermarks
from manhattan.storage.engine import Durable, RawRanges

SEGMENTS_PER_REQUEST = 512
RECORDS_PER_MESSAGE = 1000
MESSAGE_BYTES = STREAM_CHUNK_BYTES  # values of up to 1 MiB: a batch stops at this size


def _until_full(values: list[bytes | None]) -> int:
    """How many of ``values`` fit in one message (at least one)."""
    size = 0
    for count, value in enumerate(values):
        size += len(value or b"")
        if size > MESSAGE_BYTES and count:
            return count
    return len(values)


class ExchangeEngine(RawRanges, Durable, Protocol):
    """What an exchange asks of storage: raw ranges to hash, read and apply."""


class Throttle:
    """A token-bucket-free rate limit for worker threads: sleep so that ``n`` units
    over time stay under ``per_s`` (0: unlimited)."""

    def __init__(self, per_s: float) -> None:
        self.per_s = per_s
        self._start = time.monotonic()
        self._done = 0
        self._lock = threading.Lock()

    def __call__(self, n: int) -> None:
        if self.per_s <= 0:
            return
        with self._lock:
            self._done += n
            ahead = self._done / self.per_s - (time.monotonic() - self._start)
        if ahead > 0:
            time.sleep(min(ahead, 1.0))


@dataclass
class ExchangeResult:
    """What one exchange did."""

    keys_compared: int = 0
    segments_differing: int = 0
    pushed: int = 0
    pulled: int = 0

    @property
    def records_exchanged(self) -> int:
        return self.pushed + self.pulled


class ExchangeFailed(RuntimeError):
    """The exchange did not complete (peer down, epochs differ, stream broken)."""


def _ranges_to_proto(ranges: list[Range]) -> list[ops_pb2.PositionRange]:
    return [ops_pb2.PositionRange(start=s, end=e) for s, e in ranges]


def _tree_of(trees: TreeCache | None, engine: RawRanges, dataset: str,
             ranges: list[Range], throttle: Callable[[int], None] | None) -> HashTree:
    """The current tree of ``ranges``: from the cache when the node keeps one."""
    if trees is None:
        return build_tree(engine, dataset, ranges, throttle)
    return trees.tree(dataset, ranges, throttle)


class ExchangeSession:
    """The responder's side of one exchange stream."""

    def __init__(self, *, engine: ExchangeEngine, executor: Executor, epoch: Callable[[], int],
                 watermarks: Watermarks, now_ms: Callable[[], int],
                 trees: TreeCache | None = None) -> None:
        self._engine = engine
        self._trees = trees
        self._pushed = False
        self._executor = executor
        self._epoch = epoch
        self._watermarks = watermarks
        self._now_ms = now_ms
        self._tree: HashTree | None = None
        self._ranges: list[Range] = []
        self._dataset = ""
        self._peer = 0
        self._started_ms = 0
        self._started_epoch = 0

    async def _run(self, fn, *args):
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    async def handle(self, request: ops_pb2.ExchangeRequest) -> ops_pb2.ExchangeReply:
        """Answer one request of the stream."""
        kind = request.WhichOneof("op")
        if kind == "open":
            op = request.open
            if op.epoch != self._epoch():
                raise StaleTopology(f"exchange at topology epoch {op.epoch}, but this node is at "
                                    f"epoch {self._epoch()}")
            self._dataset, self._peer, self._started_epoch = op.dataset, op.from_node, op.epoch
            self._ranges = [checked_range(r.start, r.end) for r in op.ranges]
            self._started_ms = self._now_ms()
            throttle = Throttle(op.keys_per_s) if op.keys_per_s else None
            self._tree = await self._run(_tree_of, self._trees, self._engine, self._dataset,
                                         self._ranges, throttle)
            return ops_pb2.ExchangeReply(hashes=[ops_pb2.NodeHash(index=0, hash=self._tree.root)],
                                         keys=self._tree.keys)
        if self._tree is None:
            raise InvalidRequest("exchange: open first")
        if kind == "children":
            found = self._tree.children(request.children.level, request.children.indices)
            return ops_pb2.ExchangeReply(hashes=[ops_pb2.NodeHash(index=i, hash=h)
                                                 for i, h in found.items()])
        if kind == "segment_keys":
            versions, covered = await self._run(
                segment_versions_bounded, self._engine, self._dataset, self._ranges,
                list(request.segment_keys.segments), MESSAGE_BYTES)
            return ops_pb2.ExchangeReply(keys_list=list(versions), versions=list(versions.values()),
                                         answered=covered)
        if kind == "fetch":
            keys = list(request.fetch.keys)
            values = await self._run(self._engine.get_raw_many, self._dataset, keys)
            answered = _until_full(values)
            pairs = [(k, v) for k, v in zip(keys[:answered], values[:answered]) if v is not None]
            return ops_pb2.ExchangeReply(fetched_keys=[k for k, _ in pairs],
                                         fetched_values=[v for _, v in pairs], answered=answered)
        if kind == "push":
            items = list(zip(request.push.keys, request.push.values))
            applied = await self._run(self._engine.apply_raw, self._dataset, items)
            self._pushed = self._pushed or applied > 0
            return ops_pb2.ExchangeReply(applied=applied)
        if kind == "finish":
            if self._pushed:  # an idle exchange wrote nothing: no WAL flush
                await self._run(self._engine.sync)
            self._watermarks.record(self._dataset, self._peer, self._started_epoch,
                                    self._started_ms)
            return ops_pb2.ExchangeReply()
        raise InvalidRequest("exchange: empty request")


async def serve_exchange(session: ExchangeSession,
                         requests: AsyncIterator[ops_pb2.ExchangeRequest]
                         ) -> AsyncIterator[ops_pb2.ExchangeReply]:
    """Answer an exchange stream request by request."""
    async for request in requests:
        yield await session.handle(request)


class Exchanger:
    """The initiator's side: runs exchanges with peers."""

    def __init__(self, *, node_id: int, engine: ExchangeEngine, executor: Executor,
                 watermarks: Watermarks, metadata: tuple[tuple[str, str], ...],
                 now_ms: Callable[[], int], timeout_s: float = 60.0,
                 trees: TreeCache | None = None) -> None:
        self.node_id = node_id
        self._trees = trees
        self._engine = engine
        self._executor = executor
        self._watermarks = watermarks
        self._metadata = metadata
        self._now_ms = now_ms
        self._timeout_s = timeout_s

    async def _run(self, fn, *args):
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    async def exchange(self, channel: grpc.aio.Channel, peer: int, dataset: str,
                       ranges: list[Range], epoch: int, keys_per_s: float = 0,
                       on_progress: Callable[[ExchangeResult], None] | None = None,
                       wait_for_ready: bool = False) -> ExchangeResult:
        """Compare and repair ``ranges`` of ``dataset`` with ``peer`` (``wait_for_ready``:
        the peer just restarted and the channel is still reconnecting)."""
        result = ExchangeResult()
        if not ranges:
            return result
        stub = ops_pb2_grpc.PeerRangesStub(channel)
        call = stub.Exchange(metadata=self._metadata, timeout=self._timeout_s * 10,
                             wait_for_ready=wait_for_ready)

        async def ask(request: ops_pb2.ExchangeRequest) -> ops_pb2.ExchangeReply:
            await call.write(request)
            reply = await asyncio.wait_for(call.read(), self._timeout_s)
            if reply is grpc.aio.EOF:
                raise ExchangeFailed(f"node {peer} ended the exchange")
            return reply

        try:
            started_ms = self._now_ms()
            throttle = Throttle(keys_per_s) if keys_per_s else None
            local_future = asyncio.ensure_future(
                self._run(_tree_of, self._trees, self._engine, dataset, ranges, throttle))
            try:
                opened = await ask(ops_pb2.ExchangeRequest(open=ops_pb2.ExchangeOpen(
                    dataset=dataset, from_node=self.node_id, ranges=_ranges_to_proto(ranges),
                    epoch=epoch, keys_per_s=int(keys_per_s))))
            finally:
                local: HashTree = await local_future
            result.keys_compared = local.keys
            if on_progress:
                on_progress(result)
            if local.root != opened.hashes[0].hash:
                segments = await self._descend(ask, local)
                result.segments_differing = len(segments)
                i = 0
                while i < len(segments):
                    i += await self._repair_segments(ask, peer, dataset, ranges,
                                                     segments[i:i + SEGMENTS_PER_REQUEST], result)
                    if on_progress:
                        on_progress(result)
            await ask(ops_pb2.ExchangeRequest(finish=ops_pb2.ExchangeFinish()))
            await call.done_writing()
        except grpc.aio.AioRpcError as exc:
            raise ExchangeFailed(f"exchange with node {peer}: {exc.code().name}: "
                                 f"{exc.details()}") from None
        except asyncio.TimeoutError:
            raise ExchangeFailed(f"exchange with node {peer} timed out") from None
        finally:
            call.cancel()
        if result.pulled:
            await self._run(self._engine.sync)
        self._watermarks.record(dataset, peer, epoch, started_ms)
        return result

    @staticmethod
    async def _descend(ask, local: HashTree) -> list[int]:
        """The leaf segments whose hashes differ, found level by level."""
        frontier = [0]
        for level in range(DEPTH):
            theirs_map: dict[int, int] = {}
            for i in range(0, len(frontier), 4096):
                reply = await ask(ops_pb2.ExchangeRequest(children=ops_pb2.TreeNodes(
                    level=level, indices=frontier[i:i + 4096])))
                theirs_map.update((h.index, h.hash) for h in reply.hashes)
            ours = local.children(level, frontier)
            frontier = sorted(i for i in set(ours) | set(theirs_map)
                              if ours.get(i) != theirs_map.get(i))
            if not frontier:
                break
        return frontier

    async def _repair_segments(self, ask, peer: int, dataset: str, ranges: list[Range],
                               segments: list[int], result: ExchangeResult) -> int:
        """Repair the leading ``segments`` the peer's key lists covered (as many as fit
        one message, at least one); returns how many that was."""
        reply = await ask(ops_pb2.ExchangeRequest(
            segment_keys=ops_pb2.SegmentKeys(segments=segments)))
        if 0 < reply.answered < len(segments):
            segments = segments[:reply.answered]
        theirs = dict(zip(reply.keys_list, reply.versions))
        ours = await self._run(segment_versions, self._engine, dataset, ranges, segments)
        pull = [k for k, v in theirs.items() if ours.get(k, b"") < v]
        push = [k for k, v in ours.items() if theirs.get(k, b"") < v]
        i = 0
        while i < len(pull):
            got = await ask(ops_pb2.ExchangeRequest(
                fetch=ops_pb2.FetchKeys(keys=pull[i:i + RECORDS_PER_MESSAGE])))
            if got.answered == 0:
                raise ExchangeFailed(f"node {peer} answered no key of a fetch")
            i += got.answered
            items = list(zip(got.fetched_keys, got.fetched_values))
            await self._run(self._engine.apply_raw, dataset, items)
            result.pulled += len(items)
        i = 0
        while i < len(push):
            keys = push[i:i + RECORDS_PER_MESSAGE]
            values = await self._run(self._engine.get_raw_many, dataset, keys)
            fit = _until_full(values)
            i += fit
            found = [(k, v) for k, v in zip(keys[:fit], values[:fit]) if v is not None]
            await ask(ops_pb2.ExchangeRequest(push=ops_pb2.PushRecords(
                keys=[k for k, _ in found], values=[v for _, v in found])))
            result.pushed += len(found)
        return len(segments)
