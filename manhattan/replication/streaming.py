"""Range streaming for membership changes: what a node pulls while members join or leave.

When the topology is in transition (a member JOINING or LEAVING), every node
computes the ranges it will replicate once the change completes but does not
now (``gained_ranges``), per dataset, and pulls them from their current
replicas with ``PeerRanges.StreamRanges``: chunked, rate limited
(``streaming.max_records_per_s`` / ``max_bytes_per_s``), applied last-writer-wins.
Progress is persisted per range (the last storage key applied), so a pull
resumes where it stopped after either side restarts. When every range is in,
an anti-entropy exchange with each live current replica catches up whatever
the streamed replica lacked (a quorum write acknowledged by the others), and
the node reports itself done for the epoch (``TransferStatus``). Writes made
meanwhile reach the node already: the coordinator sends them to pending
owners too.

Serving side: ``stream_ranges`` reads the ranges in key order, a chunk at a
time, off the event loop. ``cleanup`` drops what a node no longer owns.
"""

from __future__ import annotations

import asyncio
import logging
import struct
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Any, Protocol

import grpc

from manhattan.cluster.ranges import (
    checked_range, future_topology, gained_ranges, in_transition, range_bounds,
    unowned_ranges,
)
from manhattan.cluster.membership import Membership
from manhattan.cluster.peers import PeerContext
from manhattan.cluster.ring import Ring
from manhattan.errors import StaleTopology
from manhattan.proto.v1 import ops_pb2, ops_pb2_grpc, peer_pb2
from manhattan.replication.antientropy.exchange import (
    MESSAGE_BYTES, ExchangeFailed, Exchanger, Throttle,
)
from manhattan.replication.hints import HintStore
from manhattan.storage import UnknownDataset
from manhattan.storage.engine import Datasets, Durable, MetaStore, RawRanges
from manhattan.tenancy import Catalog

log = logging.getLogger("manhattan.streaming")
_PREFIX = b"stream/"
_DONE = b"D"
_PARTIAL = b"P"


class TransferEngine(RawRanges, Datasets, MetaStore, Durable, Protocol):
    """What transfers ask of storage: raw ranges, and their progress in metadata."""


class StreamingLimits(Protocol):
    """The ``[streaming]`` settings (``node.config.StreamingConfig``)."""

    chunk_records: int
    max_records_per_s: float
    max_bytes_per_s: float


@dataclass
class PullRange:
    """One range to pull: where it is, who has it, how far it got."""

    dataset: str
    start: int
    end: int
    sources: tuple[int, ...]
    after: bytes = b""
    done: bool = False
    source: int | None = None  # who it was streamed from; 0: several (unknown)


@dataclass
class TransferState:
    """This node's transfers for one epoch."""

    epoch: int = 0
    ranges: list[PullRange] = field(default_factory=list)
    records: int = 0
    bytes: int = 0
    done: bool = False
    error: str = ""
    planned: bool = False
    stream_s: float = 0.0


_CLEANED_KEY = b"streaming/cleaned-epoch"


def _progress_key(epoch: int, dataset: str, start: int) -> bytes:
    return _PREFIX + struct.pack(">Q", epoch) + dataset.encode() + b"\x00" + struct.pack(">Q", start)


def _done_key(epoch: int) -> bytes:
    return _PREFIX + struct.pack(">Q", epoch) + b"\x00done"


def read_chunk(engine: RawRanges, dataset: str, bounds: list[tuple[bytes, bytes | None]],
               index: int, lower: bytes, limit: int
               ) -> tuple[list[tuple[bytes, bytes]], int, bytes | None]:
    """Up to ``limit`` records (and about MESSAGE_BYTES) from range ``index`` (starting
    at ``lower``) onwards,
    through as many consecutive ranges as fit: (records, index of the range the chunk
    ends in, where to resume in it, or None when every range is finished)."""
    items: list[tuple[bytes, bytes]] = []
    size = 0
    while index < len(bounds):
        upper = bounds[index][1]
        for item in engine.iter_raw(dataset, lower, upper):
            items.append(item)
            size += len(item[0]) + len(item[1])
            if len(items) >= limit or size >= MESSAGE_BYTES:
                return items, index, item[0] + b"\x00"
        index += 1
        if index < len(bounds):
            lower = bounds[index][0]
    return items, len(bounds) - 1, None


class Transfers:
    """Pulls this node's gained ranges during a membership change; serves others' pulls."""

    def __init__(self, *, peers: PeerContext, engine: TransferEngine, membership: Membership,
                 catalog: Catalog, hints: HintStore, config: StreamingLimits,
                 merge_catalog: Callable[[peer_pb2.CatalogSnapshot], Awaitable[Any]],
                 executor: Executor, exchanger: Exchanger, metrics: Any = None) -> None:
        self.peers = peers
        self.engine = engine
        self.membership = membership
        self.catalog = catalog
        self.hints = hints
        self._merge_catalog = merge_catalog
        self.executor = executor
        self.exchanger = exchanger
        self.config = config
        self.metrics = metrics  # the node's NodeMetrics, when it has one
        self.state = TransferState()
        self.served_records = 0
        self._cleaned_epoch: int | None = None  # epoch of the last cleanup (persisted)

    # -- status ------------------------------------------------------------

    def status(self, request: ops_pb2.TransferStatusRequest) -> ops_pb2.TransferStatusReply:
        """How far this node is with the epoch the caller asks about."""
        state = self.state
        reply = ops_pb2.TransferStatusReply(
            node_id=self.peers.node_id, epoch=state.epoch,
            ranges_total=len(state.ranges), ranges_done=sum(r.done for r in state.ranges),
            records=state.records, bytes=state.bytes, error=state.error,
            stream_ms=int(state.stream_s * 1000))
        if request.epoch and self.membership.epoch != request.epoch:
            reply.error = (f"node {reply.node_id} is at topology epoch {self.membership.epoch}, "
                           f"not {request.epoch}")
            return reply
        if request.epoch and self.engine.meta_get(_done_key(request.epoch)) is not None:
            reply.done = True
        return reply

    # -- pulling -------------------------------------------------------------

    def _plan(self, epoch: int) -> list[PullRange]:
        topology = self.membership.topology
        current = self.membership.ring
        future = Ring(future_topology(topology), vnodes=self.membership.vnodes)
        me = self.peers.node_id
        pulls = []
        for spec in sorted(self.catalog.datasets(), key=lambda s: s.name):
            for start, end, sources in gained_ranges(current, future, me,
                                                     spec.replication_factor):
                pull = PullRange(spec.storage_id, start, end, sources)
                saved = self.engine.meta_get(_progress_key(epoch, spec.storage_id, start))
                if saved is not None:
                    pull.done = saved[:1] == _DONE
                    pull.source = struct.unpack(">I", saved[1:5])[0]
                    pull.after = saved[5:]
                pulls.append(pull)
        return pulls

    async def _sync_catalog(self) -> None:
        """Take the catalog from a live peer first: a fresh node must know every dataset
        before it plans, or it would skip the ranges of those it has not heard of."""
        for member in self.membership.peers():
            if member.id == self.peers.node_id or not self.peers.detector.is_alive(member.id):
                continue
            link = self.peers.links.get(member.id, member.address)
            try:
                snapshot = await link.stub.GetCatalog(peer_pb2.GetCatalogRequest(), timeout=5,
                                                      metadata=self.peers.metadata)
            except grpc.aio.AioRpcError:
                continue
            await self._merge_catalog(snapshot)
            return
        raise ExchangeFailed("no live peer to take the catalog from")

    async def run(self) -> None:
        """Watch the topology; pull whenever a change under way gives this node ranges."""
        while True:
            try:
                topology = self.membership.topology
                if in_transition(topology) and self.state.epoch != topology.epoch:
                    self.state = TransferState(epoch=topology.epoch)
                if (in_transition(topology) and not self.state.done
                        and self.engine.meta_get(_done_key(topology.epoch)) is None):
                    await self._transfer(topology.epoch)
                elif in_transition(topology):
                    self.state.done = True
                else:
                    await self._clean_up_if_missed(topology.epoch)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # keep trying: a peer may be restarting
                self.state.error = str(exc)
                log.warning("transfer for epoch %s: %s; retrying", self.state.epoch, exc)
            self._set_active(False)
            await asyncio.sleep(0.2)

    def _set_active(self, active: bool) -> None:
        if self.metrics is None:
            return
        self.metrics.streaming_active.labels("in").set(1 if active else 0)
        total = len(self.state.ranges)
        if total:
            done = sum(r.done for r in self.state.ranges)
            self.metrics.streaming_progress.labels("in").set(done / total)

    async def _transfer(self, epoch: int) -> None:
        state = self.state
        if not state.planned:
            await self._sync_catalog()
            state.ranges = await asyncio.get_running_loop().run_in_executor(
                self.executor, self._plan, epoch)
            state.planned = True
            log.info("epoch %s: pulling %d ranges", epoch, len(state.ranges))
        else:  # a retry: a dataset of the plan may have been dropped since
            await self._sync_catalog()
        self._set_active(True)
        throttle_records = Throttle(self.config.max_records_per_s)
        throttle_bytes = Throttle(self.config.max_bytes_per_s)
        while True:
            if self.membership.epoch != epoch:
                return
            self._forget_dropped(epoch)
            todo = [r for r in state.ranges if not r.done]
            if not todo:
                break
            groups = self._by_source(todo)
            if not groups:
                raise ExchangeFailed("no live replica holds the remaining ranges")
            for source, pulls in groups.items():
                began = time.perf_counter()
                try:
                    await self._pull(source, pulls, epoch, throttle_records, throttle_bytes)
                finally:
                    state.stream_s += time.perf_counter() - began
                self._set_active(True)
        await self._catch_up(epoch)
        self.engine.sync()
        self.engine.meta_put(_done_key(epoch), b"1")
        state.done, state.error = True, ""
        log.info("epoch %s: transfers done (%d records)", epoch, state.records)

    def _forget_dropped(self, epoch: int) -> None:
        """Drop the pulls of datasets dropped since the plan: every source answers NOT_FOUND
        for a dead incarnation, so the change could never finish (jepsen: a name dropped
        while a node joined kept the join retrying until its deadline)."""
        live = {spec.storage_id for spec in self.catalog.datasets()}
        kept = [r for r in self.state.ranges if r.dataset in live]
        if len(kept) < len(self.state.ranges):
            gone = sorted({r.dataset for r in self.state.ranges} - live)
            log.info("epoch %s: %s dropped since the plan; not pulling it", epoch, gone)
            self.state.ranges = kept

    def _by_source(self, pulls: list[PullRange]) -> dict[int, list[PullRange]]:
        """Pick a live source per range, the same one for as many ranges as possible."""
        me = self.peers.node_id
        alive = {s for r in pulls for s in r.sources
                 if s != me and self.peers.detector.is_alive(s)}
        groups: dict[int, list[PullRange]] = {}
        for pull in pulls:
            candidates = [s for s in pull.sources if s in alive]
            if not candidates:
                continue
            source = min(candidates, key=lambda s: (-len(groups.get(s, ())), s))
            groups.setdefault(source, []).append(pull)
        return groups

    async def _pull(self, source: int, pulls: list[PullRange], epoch: int,
                    throttle_records: Throttle, throttle_bytes: Throttle) -> None:
        member = self.membership.topology.member(source)
        if member is None:
            return
        stub = ops_pb2_grpc.PeerRangesStub(self.peers.links.get(member.id, member.address).channel)
        loop = asyncio.get_running_loop()
        by_dataset: dict[str, list[PullRange]] = {}
        for pull in pulls:
            by_dataset.setdefault(pull.dataset, []).append(pull)
        for dataset, group in by_dataset.items():
            request = ops_pb2.StreamRangesRequest(
                dataset=dataset, chunk_records=self.config.chunk_records,
                from_node=self.peers.node_id,
                ranges=[ops_pb2.PositionRange(start=p.start, end=p.end, after=p.after)
                        for p in group])
            try:
                call = stub.StreamRanges(request, metadata=self.peers.metadata)
                async for chunk in call:
                    if self.membership.epoch != epoch:
                        call.cancel()
                        return
                    items = list(zip(chunk.keys, chunk.values))
                    size = sum(len(k) + len(v) for k, v in items)
                    await loop.run_in_executor(self.executor, self._apply, epoch, source,
                                               group, chunk.range, items, chunk.range_done,
                                               size, throttle_records, throttle_bytes)
            except grpc.aio.AioRpcError as exc:
                raise ExchangeFailed(f"streaming from node {source}: {exc.code().name}: "
                                     f"{exc.details()}") from None

    def _apply(self, epoch: int, source: int, group: list[PullRange], index: int,
               items: list[tuple[bytes, bytes]], done: bool, size: int,
               throttle_records: Throttle, throttle_bytes: Throttle) -> None:
        """Apply one chunk and persist the progress of the ranges it covered (worker
        thread): ranges before ``index`` are complete, ``index`` is complete or went up
        to the chunk's last key. The data is in the WAL before the progress that
        points past it."""
        pull = group[index]
        if items:
            self.engine.apply_raw(pull.dataset, items)
        progress = []
        for before in group[:index]:
            if not before.done:
                before.done = True
                self._note_source(before, source)
                progress.append((_progress_key(epoch, before.dataset, before.start),
                                 _DONE + struct.pack(">I", before.source or 0) + before.after))
        self._note_source(pull, source)
        if items and items[-1][0] >= range_bounds(pull.start, pull.end)[0]:
            pull.after = items[-1][0]
        pull.done = pull.done or done
        progress.append((_progress_key(epoch, pull.dataset, pull.start),
                         (_DONE if pull.done else _PARTIAL) + struct.pack(">I", pull.source or 0)
                         + pull.after))
        self.engine.meta_write(puts=progress)
        self.state.records += len(items)
        self.state.bytes += size
        if self.metrics is not None and items:
            self.metrics.streaming_records.labels("in").inc(len(items))
            self.metrics.streaming_bytes.labels("in").inc(size)
        if items:
            throttle_records(len(items))
            throttle_bytes(size)

    @staticmethod
    def _note_source(pull: PullRange, source: int) -> None:
        if pull.source is None and not pull.after:
            pull.source = source
        elif pull.source != source:
            pull.source = 0  # streamed from several replicas: none holds all of it

    async def _catch_up(self, epoch: int) -> None:
        """Exchange hash trees with enough live current replicas of each gained range that,
        with the one it was streamed from, they make a quorum of its replicas: every write
        acknowledged at QUORUM is then here (R + W > N). Writes at ONE that only other
        replicas hold reach it later through background anti-entropy."""
        me = self.peers.node_id
        jobs: dict[tuple[str, int], list[tuple[int, int]]] = {}
        for pull in self.state.ranges:
            need = len(pull.sources) // 2 + 1 - (1 if pull.source in pull.sources else 0)
            others = [s for s in pull.sources if s not in (me, pull.source)
                      and self.peers.detector.is_alive(s)]
            if len(others) < need:
                raise ExchangeFailed(f"range {pull.start}-{pull.end} of {pull.dataset}: only "
                                     f"{len(others)} live replicas to catch up with, need {need}")
            for source in others[:max(need, 0)]:
                jobs.setdefault((pull.dataset, source), []).append((pull.start, pull.end))
        for (dataset, source), ranges in sorted(jobs.items()):
            member = self.membership.topology.member(source)
            if member is None:
                continue
            channel = self.peers.links.get(member.id, member.address).channel
            await self.exchanger.exchange(channel, source, dataset, sorted(ranges), epoch)

    # -- serving ---------------------------------------------------------------

    async def stream_ranges(self, request: ops_pb2.StreamRangesRequest
                            ) -> AsyncIterator[ops_pb2.RangeChunk]:
        """Send the records of the asked ranges, in key order, a chunk at a time."""
        loop = asyncio.get_running_loop()
        limit = max(1, min(request.chunk_records or self.config.chunk_records, 100_000))
        bounds = []
        for wanted in request.ranges:
            lower, upper = range_bounds(*checked_range(wanted.start, wanted.end))
            if wanted.after:
                lower = max(lower, wanted.after + b"\x00")
            bounds.append((lower, upper))
        if self.metrics is not None:
            self.metrics.streaming_active.labels("out").inc()
        try:
            index, resume = 0, bounds[0][0] if bounds else None
            while resume is not None:
                items, index, resume = await loop.run_in_executor(
                    self.executor, read_chunk, self.engine, request.dataset, bounds, index,
                    resume, limit)
                self.served_records += len(items)
                if self.metrics is not None and items:
                    self.metrics.streaming_records.labels("out").inc(len(items))
                    self.metrics.streaming_bytes.labels("out").inc(
                        sum(len(k) + len(v) for k, v in items))
                yield ops_pb2.RangeChunk(range=index, keys=[k for k, _ in items],
                                         values=[v for _, v in items],
                                         range_done=resume is None)
        finally:
            if self.metrics is not None:
                self.metrics.streaming_active.labels("out").dec()

    async def _clean_up_if_missed(self, epoch: int) -> None:
        """A node that was down (or unreachable) when a change ended missed its cleanup:
        once it holds a settled topology newer than its last cleanup, it drops the ranges
        it no longer owns itself, so it never serves (or repairs others from) data whose
        tombstones its former peers may have purged."""
        if self._cleaned_epoch is None:
            raw = self.engine.meta_get(_CLEANED_KEY)
            if raw is None:  # first start: nothing to catch up on
                self.engine.meta_put(_CLEANED_KEY, str(epoch).encode())
            self._cleaned_epoch = epoch if raw is None else int(raw)
        if self._cleaned_epoch < epoch:
            reply = await self.cleanup()
            log.info("cleaned up after missed topology change(s) up to epoch %s: %s ranges "
                     "dropped", epoch, reply.ranges_dropped)

    async def cleanup(self) -> ops_pb2.CleanupReply:
        """Drop every range this node does not replicate in its (settled) topology."""
        topology = self.membership.topology
        if in_transition(topology):
            raise StaleTopology("a membership change is under way; clean up after it")
        me = self.peers.node_id
        dropped = 0
        for spec in self.catalog.datasets():
            if spec.storage_id not in self.engine.datasets():
                continue
            ranges = unowned_ranges(self.membership.ring, me, spec.replication_factor) \
                if topology.member(me) is not None else [(0, 1 << 32)]
            bounds = [range_bounds(s, e) for s, e in ranges]
            if bounds:
                try:
                    await asyncio.get_running_loop().run_in_executor(
                        self.executor, self.engine.delete_range, spec.storage_id, bounds)
                except UnknownDataset:
                    continue  # dropped meanwhile: nothing of it is left to clean up
                dropped += len(bounds)
        self._forget_hints_of_former_members()
        self.engine.meta_put(_CLEANED_KEY, str(topology.epoch).encode())
        self._cleaned_epoch = topology.epoch
        return ops_pb2.CleanupReply(ranges_dropped=dropped)

    def _forget_hints_of_former_members(self) -> None:
        """Hints for a node that left can never be delivered: drop them (counted as
        dropped), so they neither pile up nor show as pending forever."""
        hints = self.hints
        for peer in hints.peers_with_hints():
            if self.membership.topology.member(peer) is not None:
                continue
            for _ in range(10_000):  # bounded: 10,000 x 1,000 hints at most
                batch = hints.peek(peer, 1000)
                if not batch:
                    break
                hints.remove(batch, delivered=False)
