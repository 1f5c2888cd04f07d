"""The request coordinator: any node, any key; reads and writes.

A write is versioned with the HLC, sent to every replica of its pkey at once
and acknowledged after W answers (``Coordinator._replicate``); the others finish
in the background and a replica that is down or fails gets a durable hint
(``hints.py`` stores and replays them). A read asks R replicas, returns the
newest version and repairs the stale replicas of its quorum before answering
(``read_repair.py``); a scan merges the replicas' pages (``scan_merge.py``).
Every answer is bounded in bytes (``max_response_bytes``): replicas answer the
part of a multi-get or scan that fits, and the rest is read by a next page.

The two failure answers stay apart: ``Unavailable`` when too few replicas are
live to even try (nothing was sent), ``Timeout`` when the request was sent and
too few answered in time (the outcome is unknown).
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import grpc

from manhattan.cluster.failure_detector import PhiAccrualDetector
from manhattan.cluster.membership import Membership
from manhattan.cluster.topology import Member
from manhattan.errors import ReplicasUnavailable, Timeout
from manhattan.hlc import HybridClock, physical_ms
from manhattan.proto.v1 import peer_pb2, types_pb2
from manhattan.replication.chunking import fitting_prefix
from manhattan.replication.counters import CounterCoordination
from manhattan.replication.hints import HintReplay, HintStore
from manhattan.replication.paxos import PaxosCoordinator
from manhattan.replication.peer_link import PeerLinks, PeerUnreachable, ReplicaRefused
from manhattan.replication.read_repair import Key, ReadRepair, newest
from manhattan.replication.replica_apply import ReplicaApply, apply_op
from manhattan.replication.quorums import await_answers, may_coordinate, required_acks, write_acks
from manhattan.replication.trimming import ReplicaTrim
from manhattan.replication.scan_merge import merge_entries, merge_pages
from manhattan.replication.wire import (
    entry_from_proto, entry_size, read_bounded, write_from_proto,
)
from manhattan.replication.supersede import (
    Acks, WriteResult,
)
from manhattan.storage import (
    Entry, GroupCommit, Record, ScanPage, Version, Write,
)
from manhattan.storage.engine import Datasets, Records
from manhattan.tenancy import DatasetSpec
from manhattan.types import Consistency, Durability

log = logging.getLogger("manhattan.coordinator")
DEFAULT_MAX_RESPONSE_BYTES = 4 * 1024 * 1024
_NOT_FOUND = grpc.StatusCode.NOT_FOUND.value[0]
_INVALID = grpc.StatusCode.INVALID_ARGUMENT.value[0]


class CoordinatorEngine(Records, Datasets, Protocol):
    """What coordinating asks of local storage: records, and which datasets exist."""


@dataclass(frozen=True, slots=True)
class Mutation:
    """A client's put (or delete) before the coordinator versions it."""

    pkey: bytes
    lkey: bytes
    value: bytes = b""
    ttl_ms: int = 0
    delete: bool = False


class Coordinator(CounterCoordination, ReplicaApply, ReplicaTrim):
    """Coordinates reads and writes (and counter increments: ``counters.py``) over the
    replicas of each pkey."""

    def __init__(
        self, *, node_id: int, engine: CoordinatorEngine, clock: HybridClock,
        group_commit: GroupCommit, membership: Membership, links: PeerLinks,
        detector: PhiAccrualDetector, hints: HintStore, replica_timeout: float = 5.0,
        max_request_timeout: float = 30.0,
        send_catalog: Callable[[Member], Awaitable[None]] | None = None,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
    ) -> None:
        self.node_id = node_id
        self.max_response_bytes = max_response_bytes
        self.send_catalog = send_catalog
        self.engine = engine
        self.clock = clock
        self.group_commit = group_commit
        self.membership = membership
        self.links = links
        self.detector = detector
        self.hints = hints
        self.replica_timeout = replica_timeout
        self.max_request_timeout = max_request_timeout
        self.stats: Counter[str] = Counter()
        # Told (peer id, seconds) when a peer replica acknowledges a write, including
        # those finishing after the client was answered: the node's replication-lag metric.
        self.replica_acked: Callable[[int, float], None] | None = None
        # Why this node must not coordinate writes now (its clock runs far ahead of its
        # peers'), or None: ``cluster.clock_drift.ClockDrift.refusal``.
        self.write_refusal: Callable[[], str | None] | None = None
        self._background: set[asyncio.Task[object]] = set()
        self.read_repair = ReadRepair(
            node_id=node_id, engine=engine, spawn=self._spawn, stats=self.stats,
            send=self._repair_replica)
        self.paxos = PaxosCoordinator(self)
        self.hint_replay = HintReplay(
            hints=hints, membership=membership, detector=detector, engine=engine,
            call=self._replica_call, durable=group_commit.durable,
            replica_timeout=replica_timeout, max_bytes=max_response_bytes)

    # -- helpers ------------------------------------------------------------

    async def _repair_replica(self, member: Member, dataset: str, writes: list[Write]) -> bool:
        """Read repair's replica write: True once the replica holds these versions or
        newer ones. (``_apply_remote`` answers None when it could not, and an empty
        ``Beaten`` when every write applied: that falsy answer is a success.)"""
        return await self._apply_remote(member, dataset, writes, False) is not None

    def _alive(self, member: Member) -> bool:
        return member.id == self.node_id or self.detector.is_alive(member.id)

    def _deadline(self, timeout: float | None) -> float:
        budget = self.max_request_timeout if timeout is None else min(timeout,
                                                                      self.max_request_timeout)
        return asyncio.get_running_loop().time() + max(budget, 0.0)

    @staticmethod
    def _remaining(deadline: float) -> float:
        return max(deadline - asyncio.get_running_loop().time(), 0.0)

    def _spawn(self, coro: Awaitable[object]) -> None:
        task = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def _groups(self, spec: DatasetSpec, pkeys: Sequence[bytes], *, write: bool = False
                ) -> list[tuple[tuple[Member, ...], list[int]]]:
        """Indices of ``pkeys`` grouped by replica set (as a set: one batch per group of
        nodes, whatever their order on the ring)."""
        groups: dict[tuple[int, ...], tuple[tuple[Member, ...], list[int]]] = {}
        for index, pkey in enumerate(pkeys):
            replicas = (self.membership.write_replicas if write else self.membership.replicas)(
                pkey, spec.replication_factor)
            key = tuple(sorted(m.id for m in replicas))
            groups.setdefault(key, (replicas, []))[1].append(index)
        return list(groups.values())

    def _check_live(self, replicas: tuple[Member, ...], need: int, level: Consistency
                    ) -> list[Member]:
        live = [m for m in replicas if self._alive(m)]
        if len(live) < need:
            raise ReplicasUnavailable(
                f"{level.name} needs {need} of {len(replicas)} replicas; only {len(live)} "
                f"are live (nothing was sent)"
            )
        live.sort(key=lambda m: m.id != self.node_id)  # this node first: cheapest
        return live

    def _version(self, spec: DatasetSpec, mutation: Mutation, timestamp: int) -> Write:
        ttl = mutation.ttl_ms or spec.default_ttl_ms
        expires = physical_ms(timestamp) + ttl if ttl and not mutation.delete else 0
        entry = Entry(Version(timestamp, self.node_id),
                      b"" if mutation.delete else mutation.value, expires, mutation.delete)
        return Write(mutation.pkey, mutation.lkey, entry)

    async def _replica_call(self, member: Member, op: peer_pb2.ReplicaOp, timeout: float
                            ) -> peer_pb2.ReplicaReply:
        link = self.links.get(member.id, member.address)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        reply = await link.call(op, timeout)
        pause = 0.05
        while (reply.code == _NOT_FOUND and self.send_catalog is not None
               and loop.time() + pause < deadline):
            # The replica has not heard of the dataset yet (it missed the catalog push,
            # e.g. while starting, or has not applied it yet): hand it the catalog and
            # ask again, until the call's own deadline.
            await self.send_catalog(member)
            await asyncio.sleep(pause)
            pause = min(pause * 2, 0.5)
            reply = await link.call(op, max(0.001, deadline - loop.time()))
        if reply.hlc > self.clock.current():
            self._absorb(member.id, reply.hlc)
        if reply.code == _INVALID:
            raise ReplicaRefused(f"node {member.id}: {reply.message}")
        if reply.code != 0:
            raise PeerUnreachable(f"node {member.id}: {reply.message}")
        return reply

    async def write(
        self, spec: DatasetSpec, mutations: Sequence[Mutation],
        durability: Durability = Durability.DEFAULT,
        consistency: Consistency = Consistency.DEFAULT, timeout: float | None = None,
    ) -> list[WriteResult]:
        """Version the mutations and replicate them; return once W replicas acknowledged.

        Each result says whether the write lost last-writer-wins at every acking
        replica (``superseded_by``). Raises Unavailable (nothing sent) while this
        node's clock runs far ahead of its peers'."""
        may_coordinate(self.write_refusal)
        level = consistency or spec.write_consistency
        sync = (durability or spec.durability) == Durability.SYNC
        first = self.clock.now_many(len(mutations)) if mutations else 0
        writes = [self._version(spec, m, first + i) for i, m in enumerate(mutations)]
        plans = []
        groups = self._groups(spec, [w.pkey for w in writes], write=True)
        for replicas, indices in groups:
            need = write_acks(self.membership, writes[indices[0]].pkey, replicas,
                              spec.replication_factor, level)
            self._check_live(replicas, need, level)
            plans.append((replicas, [writes[i] for i in indices], need))
        deadline = self._deadline(timeout)
        if len(plans) == 1:  # one replica set (every single-key write): no gather task
            replicas, group, need = plans[0]
            outcomes = [await self._replicate(spec.storage_id, replicas, group, need, sync,
                                              deadline)]
        else:
            outcomes = await asyncio.gather(*(self._replicate(spec.storage_id, replicas, group,
                                                              need, sync, deadline)
                                              for replicas, group, need in plans))
        results = [WriteResult(w.entry.version) for w in writes]
        for (_, indices), acks in zip(groups, outcomes):
            for position, index in enumerate(indices):
                lost_to = acks.superseded(position)
                if lost_to:
                    results[index] = WriteResult(writes[index].entry.version, lost_to)
        return results

    async def _replicate(self, dataset: str, replicas: tuple[Member, ...], writes: list[Write],
                         need: int, sync: bool, deadline: float) -> Acks:
        acks = Acks()
        attempts = []
        op: peer_pb2.ReplicaOp | None = None  # built once, the same for every peer
        for member in replicas:
            if member.id == self.node_id and not sync:
                # In the WAL at once, no task: the common BUFFERED write's own ack.
                beaten = self._apply_now(dataset, writes)
                if beaten is not None:
                    acks.add(beaten)
            elif member.id == self.node_id:
                attempts.append(asyncio.ensure_future(self._apply_local(dataset, writes, sync)))
            elif self._alive(member):
                op = op or apply_op(dataset, writes, sync)
                attempts.append(asyncio.ensure_future(
                    self._apply_remote(member, dataset, writes, sync, op)))
            else:
                self._hint(member.id, dataset, writes, sync)
        await await_answers(attempts, lambda: acks.count >= need, acks.add,
                            self._remaining(deadline), self._spawn)
        if acks.count < need:
            raise Timeout(f"write acknowledged by {acks.count} of the {need} replicas needed "
                          "in time; it may still be applied")
        return acks

    async def _read_entries(self, dataset: str, candidates: list[Member], need: int,
                            keys: list[Key], deadline: float, max_bytes: int
                            ) -> list[Entry | None]:
        """Newest entries of a prefix of ``keys`` (as much as fits ``max_bytes``, at least
        one key) from ``need`` of the live ``candidates`` (this node first), asking a spare
        candidate when one fails; the stale replicas of the quorum are repaired first."""
        def local() -> list[Entry | None]:
            return read_bounded(self.engine, dataset, keys, max_bytes)

        if need == 1 and candidates[0].id == self.node_id:
            return local()
        op = peer_pb2.ReplicaOp(read=peer_pb2.ReadOp(
            dataset=dataset, keys=[types_pb2.Key(pkey=p, lkey=l) for p, l in keys],
            max_bytes=max_bytes))
        answers: dict[int, list[Entry | None]] = {}

        async def ask(member: Member) -> tuple[Member, list[Entry | None] | None]:
            if member.id == self.node_id:
                return member, local()
            try:
                reply = await self._replica_call(member, op, self._remaining(deadline))
                entries = [entry_from_proto(e) for e in reply.entries]
                return member, (entries if self.clock.admissible(reply.hlc)
                                else self._admitted(member, entries))
            except (PeerUnreachable, TimeoutError):
                return member, None

        by_id = {m.id: m for m in candidates}
        if need == 2 and candidates[0].id == self.node_id:
            # QUORUM of three: this node's copy, then one peer at a time (a spare only
            # if one fails) — awaited directly, without a task per replica.
            answers[self.node_id] = local()
            for member in candidates[1:]:
                _, entries = await ask(member)
                if entries is not None:
                    answers[member.id] = entries
                    break
            return await self._merge(dataset, keys, answers, need, by_id, deadline)
        pending = {asyncio.ensure_future(ask(m)) for m in candidates[:need]}
        spare = list(candidates[need:])
        while pending and len(answers) < need:
            done, pending = await asyncio.wait(pending, timeout=self._remaining(deadline),
                                               return_when=asyncio.FIRST_COMPLETED)
            if not done:
                break
            for task in done:
                member, entries = task.result()
                if entries is not None:
                    answers[member.id] = entries
                elif spare:
                    pending.add(asyncio.ensure_future(ask(spare.pop(0))))
        for task in pending:
            task.cancel()
        return await self._merge(dataset, keys, answers, need, by_id, deadline)

    async def _merge(self, dataset: str, keys: list[Key],
                     answers: dict[int, list[Entry | None]], need: int,
                     by_id: dict[int, Member], deadline: float) -> list[Entry | None]:
        """The newest entry of each key every answer covers (replicas may answer a
        shorter prefix, bounded in bytes); the quorum's stale replicas repaired first."""
        if len(answers) < need:
            raise Timeout(f"read answered by {len(answers)} of the {need} replicas needed in time")
        covered = min(len(entries) for entries in answers.values())
        keys = keys[:covered]
        merged = [newest([entries[i] for entries in answers.values()]) for i in range(covered)]
        others = [m for i, m in by_id.items() if i not in answers and i != self.node_id]
        await self.read_repair.repair(
            dataset, keys, merged, {by_id[i]: e[:covered] for i, e in answers.items()},
            others=others, timeout=self._remaining(deadline))
        return merged

    def _visible(self, pkey: bytes, lkey: bytes, entry: Entry | None) -> Record | None:
        if entry is None or not entry.visible_at(self.clock.wall_ms()):
            return None
        return Record(pkey, lkey, entry.value, entry.version, entry.expires_at_ms)

    async def read(self, spec: DatasetSpec, pkey: bytes, lkey: bytes,
                   consistency: Consistency = Consistency.DEFAULT,
                   timeout: float | None = None) -> Record | None:
        """The newest live record among R replicas, or None."""
        [record] = await self.read_many(spec, [(pkey, lkey)], consistency, timeout)
        return record

    async def read_many(self, spec: DatasetSpec, keys: Sequence[Key],
                        consistency: Consistency = Consistency.DEFAULT,
                        timeout: float | None = None) -> list[Record | None]:
        """Records in request order (None where absent): pages of ``read_page`` until
        every key is answered, so no replica's reply outgrows a message."""
        deadline = self._deadline(timeout)
        records: list[Record | None] = []
        while len(records) < len(keys):
            page = await self._read_page(spec, keys[len(records):], consistency, deadline,
                                         self.max_response_bytes)
            records.extend(page)
        return records

    async def read_page(self, spec: DatasetSpec, keys: Sequence[Key],
                        consistency: Consistency = Consistency.DEFAULT,
                        timeout: float | None = None, max_bytes: int | None = None
                        ) -> list[Record | None]:
        """Records of the longest prefix of ``keys`` whose answer fits ``max_bytes`` (at
        least one key); the caller asks again for the rest (a multi-get's cursor)."""
        return await self._read_page(spec, keys, consistency, self._deadline(timeout),
                                     max_bytes or self.max_response_bytes)

    async def _read_page(self, spec: DatasetSpec, keys: Sequence[Key], consistency: Consistency,
                         deadline: float, max_bytes: int) -> list[Record | None]:
        """One batch per replica set, each bounded by ``max_bytes``; the answer is the
        request-order prefix every batch covered, cut again to ``max_bytes`` in all."""
        level = consistency or spec.read_consistency
        groups = self._groups(spec, [p for p, _ in keys])
        # Every group is checked before any is sent: Unavailable means nothing was sent.
        plans = []
        for replicas, indices in groups:
            need = required_acks(level, len(replicas))
            plans.append((self._check_live(replicas, need, level), need, indices))
        if len(plans) == 1:  # one replica set (every single-key read): no gather task
            live, need, indices = plans[0]
            results = [await self._read_entries(spec.storage_id, live, need,
                                                [keys[i] for i in indices], deadline,
                                                max_bytes)]
        else:
            results = await asyncio.gather(*(
                self._read_entries(spec.storage_id, live, need, [keys[i] for i in indices], deadline,
                                   max_bytes)
                for live, need, indices in plans))
        entries: dict[int, Entry | None] = {}
        for (_, indices), found in zip(groups, results):
            entries.update(zip(indices, found))  # only the prefix each group covered
        records: list[Record | None] = []
        total = 0
        for index, (pkey, lkey) in enumerate(keys):
            if index not in entries:
                break
            total += entry_size(pkey, lkey, entries[index])
            if total > max_bytes and records:
                break
            records.append(self._visible(pkey, lkey, entries[index]))
        if not records:  # a replica answered no key: never loop on an empty page
            raise Timeout("read: a replica answered none of the keys asked")
        return records

    async def scan(
        self, spec: DatasetSpec, pkey: bytes, *, start: bytes | None, end: bytes | None,
        limit: int, reverse: bool, cursor: bytes | None,
        consistency: Consistency = Consistency.DEFAULT, timeout: float | None = None,
    ) -> ScanPage:
        """One page of a scan inside one pkey, merged by LWW over R replicas."""
        level = consistency or spec.read_consistency
        replicas = self.membership.replicas(pkey, spec.replication_factor)
        need = required_acks(level, len(replicas))
        candidates = self._check_live(replicas, need, level)
        if need == 1 and candidates[0].id == self.node_id:
            return self.engine.scan(spec.storage_id, pkey, start=start, end=end, limit=limit,
                                    reverse=reverse, cursor=cursor)
        deadline = self._deadline(timeout)
        op = peer_pb2.ScanOp(dataset=spec.storage_id, pkey=pkey, limit=limit, reverse=reverse,
                             cursor=cursor or b"", max_bytes=self.max_response_bytes)
        if start is not None:
            op.start = start
        if end is not None:
            op.end = end

        async def ask(member: Member) -> tuple[list[Write], bool]:
            if member.id == self.node_id:
                entries, more = self.engine.scan_entries(
                    spec.storage_id, pkey, start=start, end=end, limit=limit, reverse=reverse,
                    cursor=cursor)
                keep = fitting_prefix([entry_size(pkey, l, e) for l, e in entries],
                                      self.max_response_bytes)
                return ([Write(pkey, l, e) for l, e in entries[:keep]],
                        more is not None or keep < len(entries))
            reply = await self._replica_call(member, peer_pb2.ReplicaOp(scan=op),
                                             self._remaining(deadline))
            writes = [write_from_proto(w) for w in reply.scanned]
            if not self.clock.admissible(reply.hlc):  # as for reads: too far ahead = absent
                kept = self._admitted(member, [w.entry for w in writes])
                writes = [w for w, e in zip(writes, kept) if e is not None]
            return writes, bool(reply.next_cursor)

        asked = candidates[:need]
        try:
            pages = await asyncio.wait_for(
                asyncio.gather(*(ask(m) for m in asked)), self._remaining(deadline))
        except (PeerUnreachable, TimeoutError):
            raise Timeout(f"scan: fewer than {need} replicas answered in time") from None
        # Blocking read repair, as for reads: the quorum holds the page before it is
        # answered, so no later QUORUM scan can go back in time.
        merged, _ = merge_entries(pages, reverse)
        keys = [(pkey, lkey) for lkey in merged]
        answers = {member: [theirs.get(lkey) for lkey in merged]
                   for member, theirs in ((m, {w.lkey: w.entry for w in writes})
                                          for m, (writes, _) in zip(asked, pages))}
        await self.read_repair.repair(spec.storage_id, keys, list(merged.values()), answers,
                                      others=candidates[need:],
                                      timeout=self._remaining(deadline))
        return merge_pages(pkey, pages, reverse, self.clock.wall_ms())

    # -- hinted handoff -------------------------------------------------------

    async def replay_hints(self, batch: int = 500) -> int:
        """Deliver stored hints to peers that are alive again (``HintReplay``)."""
        return await self.hint_replay.replay(batch)
