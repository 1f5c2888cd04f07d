"""Anti-entropy on a node: on demand (``Ops.Repair``) and continuously in the background.

A repair job is one exchange with one peer over one dataset's shared ranges.
The background loop walks every (dataset, peer) pair round-robin, spacing the
exchanges so that a full pass takes about ``repair.interval_s`` however many
datasets there are (a service with ten datasets must not wait ten times as
long for a diverged replica to heal), at most one exchange every
``MIN_GAP_S``, each rate limited to ``repair.keys_per_s`` keys hashed per side,
so repair never crowds out requests. Only peers with a higher
node id are initiated by default: every pair of nodes is then exchanged once
per round, by its lower-id member, and both sides record the watermark.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from manhattan.cluster.failure_detector import PhiAccrualDetector
from manhattan.cluster.membership import Membership
from manhattan.cluster.ranges import Range, shared_ranges
from manhattan.cluster.topology import Member
from manhattan.errors import NotFound
from manhattan.proto.v1 import ops_pb2
from manhattan.replication.antientropy.exchange import ExchangeFailed, Exchanger, ExchangeResult
from manhattan.replication.peer_link import PeerLinks
from manhattan.tenancy import Catalog
from manhattan.tenancy.catalog import qualified

log = logging.getLogger("manhattan.repair")
MIN_GAP_S = 0.2  # the least pause between two background exchanges


def gap_s(interval_s: float, jobs: int) -> float:
    """The pause before the next background exchange, so that ``jobs`` exchanges make
    a pass per ``interval_s`` (never closer than ``MIN_GAP_S``)."""
    return max(MIN_GAP_S, interval_s / max(1, jobs))


@dataclass(frozen=True, slots=True)
class Job:
    """One exchange to run."""

    dataset: str
    peer: Member
    ranges: list[Range]
    epoch: int


class AntiEntropy:
    """Plans and runs exchanges; keeps counters for NodeInfo/metrics."""

    def __init__(self, *, node_id: int, membership: Membership, catalog: Catalog,
                 detector: PhiAccrualDetector, links: PeerLinks, exchanger: Exchanger,
                 interval_s: float, keys_per_s: float, enabled: bool = True,
                 metrics: Any = None) -> None:
        self.node_id = node_id
        self.membership = membership
        self.catalog = catalog
        self.detector = detector
        self.links = links
        self.exchanger = exchanger
        self.interval_s = interval_s
        self.keys_per_s = keys_per_s
        self.enabled = enabled
        self.metrics = metrics  # manhattan.node.metrics.NodeMetrics when the node has one
        self.stats: Counter[str] = Counter()
        self._cursor = 0
        self._pass_failed = False
        self._jobs_in_pass = 1  # exchanges the last step planned: spaces the next one
        # (peer, RF) -> shared ranges, for the ring they were computed on: walking the
        # ring's vnodes for every pair took most of a node's CPU when planned each step.
        self._ranges_ring: object | None = None
        self._ranges: dict[tuple[int, int], list[Range]] = {}
        self._lock = asyncio.Lock()  # one exchange at a time per node

    def plan(self, dataset: str | None = None, all_peers: bool = False) -> list[Job]:
        """Every exchange that repairs this node's ranges (of ``dataset`` or all)."""
        specs = self.catalog.datasets()
        if dataset:  # a name: every tenant's dataset of that name; or tenant/name
            owner, name = qualified(dataset)
            specs = [s for s in specs if s.name == name and owner in (None, s.tenant)]
            if not specs:
                raise NotFound(f"dataset {dataset!r} does not exist")
        ring, epoch = self.membership.ring, self.membership.epoch
        peers = [m for m in self.membership.topology.owners if m.id != self.node_id
                 and (all_peers or m.id > self.node_id)]
        if ring is not self._ranges_ring:
            self._ranges_ring, self._ranges = ring, {}
        jobs = []
        for spec in sorted(specs, key=lambda s: s.name):
            for peer in sorted(peers, key=lambda m: m.id):
                pair = (peer.id, spec.replication_factor)
                ranges = self._ranges.get(pair)
                if ranges is None:
                    ranges = self._ranges[pair] = shared_ranges(
                        ring, self.node_id, peer.id, spec.replication_factor)
                if ranges:
                    jobs.append(Job(spec.storage_id, peer, ranges, epoch))
        return jobs

    async def run_job(self, job: Job, keys_per_s: float = 0,
                      on_progress: Callable[[ExchangeResult], None] | None = None
                      ) -> ExchangeResult:
        """One exchange; counters updated; ExchangeFailed when it did not complete."""
        if not self.detector.is_alive(job.peer.id):
            raise ExchangeFailed(f"node {job.peer.id} is down")
        if job.epoch != self.membership.epoch:
            raise ExchangeFailed("the topology changed; plan again")
        link = self.links.get(job.peer.id, job.peer.address)
        async with self._lock:
            try:
                result = await self.exchanger.exchange(
                    link.channel, job.peer.id, job.dataset, job.ranges, job.epoch,
                    keys_per_s=keys_per_s, on_progress=on_progress,
                    wait_for_ready=link.reconnecting_to_live_peer())
            except ExchangeFailed:
                self.stats["exchanges_failed"] += 1
                raise
        self.stats["exchanges"] += 1
        self.stats["keys_compared"] += result.keys_compared
        self.stats["ranges_differing"] += result.segments_differing
        self.stats["records_exchanged"] += result.records_exchanged
        if self.metrics is not None:
            self.metrics.antientropy_keys_compared.inc(result.keys_compared)
            self.metrics.antientropy_ranges_differing.inc(result.segments_differing)
            self.metrics.antientropy_records_exchanged.inc(result.records_exchanged)
        return result

    def _pass_state(self, running: bool, progress: float, completed: bool = False) -> None:
        """Report where the current pass is (running, fraction done, completion time)."""
        if self.metrics is None:
            return
        self.metrics.antientropy_running.set(1 if running else 0)
        self.metrics.antientropy_progress.set(progress)
        if completed:
            self.metrics.antientropy_last_completed.set(time.time())

    async def repair(self, dataset: str | None = None, all_peers: bool = False
                     ) -> AsyncIterator[ops_pb2.RepairProgress]:
        """Run every planned exchange at full speed, yielding progress as it goes."""
        jobs = self.plan(dataset, all_peers)
        progress = ops_pb2.RepairProgress(node_id=self.node_id, exchanges_total=len(jobs))
        base = (0, 0, 0)
        updates: asyncio.Queue[ops_pb2.RepairProgress] = asyncio.Queue()

        def snapshot(result: ExchangeResult) -> None:
            message = ops_pb2.RepairProgress()
            message.CopyFrom(progress)
            message.keys_compared = base[0] + result.keys_compared
            message.ranges_differing = base[1] + result.segments_differing
            message.records_exchanged = base[2] + result.records_exchanged
            updates.put_nowait(message)

        yield progress
        for job in jobs:
            self._pass_state(True, progress.exchanges_done / max(len(jobs), 1))
            progress.dataset, progress.peer = job.dataset, job.peer.id
            task = asyncio.ensure_future(self.run_job(job, on_progress=snapshot))
            while not task.done():
                getter = asyncio.ensure_future(updates.get())
                await asyncio.wait({task, getter}, return_when=asyncio.FIRST_COMPLETED)
                if getter.done():
                    yield getter.result()
                else:
                    getter.cancel()
            try:
                result = task.result()
                progress.keys_compared += result.keys_compared
                progress.ranges_differing += result.segments_differing
                progress.records_exchanged += result.records_exchanged
            except ExchangeFailed as exc:
                progress.exchanges_failed += 1
                progress.error = str(exc)
                log.warning("repair of %s with node %s failed: %s", job.dataset, job.peer.id, exc)
            progress.exchanges_done += 1
            base = (progress.keys_compared, progress.ranges_differing, progress.records_exchanged)
            while not updates.empty():
                updates.get_nowait()
            yield progress
        progress.done = True
        self._pass_state(False, 1.0, completed=progress.exchanges_failed == 0)
        yield progress

    async def step(self) -> None:
        """One background exchange: the next (dataset, peer) pair, rate limited."""
        if not self.enabled:
            return
        jobs = [j for j in self.plan() if self.detector.is_alive(j.peer.id)]
        self._jobs_in_pass = len(jobs)
        if not jobs:
            return
        position = self._cursor % len(jobs)
        job = jobs[position]
        self._cursor = position + 1
        self._pass_state(True, position / len(jobs))
        try:
            await self.run_job(job, keys_per_s=self.keys_per_s)
        except ExchangeFailed as exc:
            self._pass_failed = True
            log.info("background repair of %s with node %s: %s", job.dataset, job.peer.id, exc)
        if self._cursor >= len(jobs):  # one full pass over every pair
            self._pass_state(False, 1.0, completed=not self._pass_failed)
            self._pass_failed = False

    async def run(self) -> None:
        """The background loop."""
        while True:
            await asyncio.sleep(gap_s(self.interval_s, self._jobs_in_pass))
            try:
                await self.step()
            except Exception:
                log.exception("background repair step failed; will retry")
