"""Hinted handoff: writes a replica missed, kept durably on the coordinator.

A hint is stored under ``hint/<peer id>/<sequence>`` in the node's metadata
column family and replayed, oldest first, once the peer answers again. Hints
per peer are bounded: past the bound a hint is not stored, the drop is counted
(``dropped``), and the write is left to read repair and anti-entropy.

``HintReplay`` delivers them: every ``cluster.hint_replay_interval_s`` the node
sends each live peer its oldest hints, batches per dataset bounded in bytes as
well as count, and forgets those that landed.

Hints never outlive the tombstone grace period (``storage.tombstone_grace_s``):
once it has passed, the peer may have purged a tombstone newer than the hinted
write, and delivering the write would bring deleted data back. Such hints are
dropped unsent (counted in ``expired`` and ``dropped``); a hint too large for any
message is dropped too, never retried forever. Repair carries what they held.
"""

from __future__ import annotations

import itertools
import logging
import struct
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

from manhattan.cluster.failure_detector import PhiAccrualDetector
from manhattan.cluster.membership import Membership
from manhattan.cluster.topology import Member
from manhattan.hlc import physical_ms
from manhattan.proto.v1 import peer_pb2
from manhattan.replication.chunking import chunk_by_bytes, proto_size
from manhattan.replication.peer_link import MessageTooLarge, PeerUnreachable
from manhattan.replication.wire import write_from_proto, write_to_proto
from manhattan.storage import Write
from manhattan.storage.engine import Datasets, MetaStore

log = logging.getLogger("manhattan.hints")
_PREFIX = b"hint/"
_KEY = struct.Struct(">IQ")
DEFAULT_MAX_HINTS_PER_PEER = 100_000


@dataclass(frozen=True, slots=True)
class Hint:
    """One stored hint."""

    key: bytes
    peer: int
    dataset: str
    write: Write


def _encode(dataset: str, write: Write) -> bytes:
    name = dataset.encode()
    return struct.pack(">H", len(name)) + name + write_to_proto(write).SerializeToString()


def _decode(key: bytes, raw: bytes) -> Hint:
    peer, _ = _KEY.unpack_from(key, len(_PREFIX))
    (length,) = struct.unpack_from(">H", raw)
    dataset = raw[2:2 + length].decode()
    write = write_from_proto(peer_pb2.ReplicaWrite.FromString(raw[2 + length:]))
    return Hint(key, peer, dataset, write)


class HintStore:
    """Durable, bounded per-peer queues of missed writes."""

    def __init__(self, engine: MetaStore, *, max_per_peer: int = DEFAULT_MAX_HINTS_PER_PEER,
                 grace_ms: int | None = None,
                 now_ms: Callable[[], int] = lambda: int(time.time() * 1000)) -> None:
        self._engine = engine
        self.max_per_peer = max_per_peer
        self.grace_ms = grace_ms  # None: hints never expire
        self._now_ms = now_ms
        self.pending: Counter[int] = Counter()
        self.dropped: Counter[int] = Counter()
        self.expired: Counter[int] = Counter()
        self.replayed: Counter[int] = Counter()
        last_seq = 0
        for key, _ in engine.meta_items(_PREFIX):
            peer, seq = _KEY.unpack_from(key, len(_PREFIX))
            self.pending[peer] += 1
            last_seq = max(last_seq, seq)
        self._seq = itertools.count(last_seq + 1)

    def add(self, peer: int, dataset: str, writes: Iterable[Write]) -> int:
        """Queue writes for ``peer``; returns how many were stored (the rest dropped).

        Buffered in the WAL: the caller makes them durable with its group commit.
        """
        puts = []
        for write in writes:
            if self.pending[peer] + len(puts) >= self.max_per_peer:
                self.dropped[peer] += 1
                continue
            puts.append((_PREFIX + _KEY.pack(peer, next(self._seq)), _encode(dataset, write)))
        if puts:
            self._engine.meta_write(puts=puts)
            self.pending[peer] += len(puts)
        return len(puts)

    def peek(self, peer: int, limit: int) -> list[Hint]:
        """The oldest hints for ``peer``."""
        prefix = _PREFIX + struct.pack(">I", peer)
        return [_decode(k, v) for k, v in self._engine.meta_items(prefix, limit)]

    def remove(self, hints: list[Hint], *, delivered: bool = True) -> None:
        """Forget hints: delivered ones count as replayed, the others as dropped."""
        if not hints:
            return
        self._engine.meta_write(deletes=[h.key for h in hints])
        counter = self.replayed if delivered else self.dropped
        for hint in hints:
            self.pending[hint.peer] -= 1
            counter[hint.peer] += 1

    def is_expired(self, hint: Hint) -> bool:
        """Whether ``hint`` outlived the grace period (by its write's HLC time)."""
        if self.grace_ms is None:
            return False
        return physical_ms(hint.write.entry.version.timestamp) + self.grace_ms < self._now_ms()

    def drop_expired(self, hints: list[Hint]) -> list[Hint]:
        """Drop the expired among ``hints`` (counted); returns the others."""
        expired = [h for h in hints if self.is_expired(h)]
        if expired:
            self.remove(expired, delivered=False)
            for hint in expired:
                self.expired[hint.peer] += 1
            log.info("dropped %d hints for node %s older than the tombstone grace period",
                     len(expired), expired[0].peer)
        return [h for h in hints if not self.is_expired(h)] if expired else hints

    def expire(self, peer: int, *, batch: int = 1000, max_batches: int = 100) -> None:
        """Drop expired hints from the head of ``peer``'s queue (oldest first; bounded),
        so a peer down for long does not keep them, delivered or not."""
        for _ in range(max_batches):
            head = self.peek(peer, batch)
            if len(self.drop_expired(head)) or len(head) < batch:
                return

    def oldest_age_s(self, peer: int) -> float | None:
        """Seconds since the oldest hint for ``peer`` was written (its HLC time): how far
        that replica lags. None when nothing waits. Read by the metrics scrape."""
        oldest = self.peek(peer, 1)
        if not oldest:
            return None
        written_ms = physical_ms(oldest[0].write.entry.version.timestamp)
        return max(time.time() * 1000 - written_ms, 0.0) / 1000

    def peers_with_hints(self) -> list[int]:
        """Peers that have hints waiting."""
        return [peer for peer, count in self.pending.items() if count > 0]


ReplicaCall = Callable[[Member, peer_pb2.ReplicaOp, float], Awaitable[peer_pb2.ReplicaReply]]


class HintReplay:
    """Hands stored hints to their peers once those are alive again."""

    def __init__(self, *, hints: HintStore, membership: Membership,
                 detector: PhiAccrualDetector, engine: Datasets, call: ReplicaCall,
                 durable: Callable[[], Awaitable[None]], replica_timeout: float,
                 max_bytes: int = 4 * 1024 * 1024) -> None:
        self._hints = hints
        self._membership = membership
        self._detector = detector
        self._engine = engine
        self._call = call        # the coordinator's replica call (catalog hand-over included)
        self._durable = durable  # the group commit: makes the deletions durable
        self._timeout = replica_timeout
        self._max_bytes = max_bytes  # one replay operation: shares the link with live traffic

    def _size(self, hint: Hint) -> int:
        return proto_size(write_to_proto(hint.write))

    async def replay(self, batch: int = 500) -> int:
        """Deliver stored hints to peers that are alive again; returns hints delivered."""
        delivered = 0
        for peer in self._hints.peers_with_hints():
            self._hints.expire(peer)
            member = self._membership.topology.member(peer)
            if member is None or not self._detector.is_alive(peer):
                continue
            by_dataset: dict[str, list[Hint]] = {}
            for hint in self._hints.drop_expired(self._hints.peek(peer, batch)):
                by_dataset.setdefault(hint.dataset, []).append(hint)
            for dataset, group in by_dataset.items():
                sent = await self._deliver(member, dataset, group)
                if sent is None:
                    break  # the peer is not taking writes yet: try again later
                delivered += sent
        if delivered:
            await self._durable()  # the deletions, without blocking the loop
        return delivered

    async def _deliver(self, member: Member, dataset: str, group: list[Hint]) -> int | None:
        """Send one dataset's hints in operations bounded in bytes; hints that can never
        fit one are dropped (counted). Returns how many landed, None when the peer failed."""
        too_large = [h for h in group if self._size(h) > self._max_bytes]
        if too_large:
            log.warning("dropped %d hints for node %s too large for one message",
                        len(too_large), member.id)
            self._hints.remove(too_large, delivered=False)
            dropped = {h.key for h in too_large}
            group = [h for h in group if h.key not in dropped]
        delivered = 0
        for chunk in chunk_by_bytes(group, self._size, self._max_bytes):
            op = peer_pb2.ReplicaOp(apply=peer_pb2.ApplyOp(
                dataset=dataset, writes=[write_to_proto(h.write) for h in chunk], sync=True))
            try:
                await self._call(member, op, self._timeout)
            except MessageTooLarge:
                self._hints.remove(chunk, delivered=False)  # cannot fit: never retried
                continue
            except (PeerUnreachable, TimeoutError):
                if dataset in self._engine.datasets():
                    return None
                # The dataset was dropped: these never land.
                self._hints.remove(group[group.index(chunk[0]):], delivered=False)
                return delivered
            self._hints.remove(chunk)
            delivered += len(chunk)
        return delivered
