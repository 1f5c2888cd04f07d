"""Hinted handoff: writes a replica missed, kept durably on the coordinator.

A hint is stored under ``hint/<peer id>/<sequence>`` in the node's metadata
column family and replayed, oldest first, once the peer answers again. Hints
per peer are bounded: past the bound a hint is not stored, the drop is counted
(``dropped``), and the write is left to read repair and anti-entropy.

``HintReplay`` delivers them: every ``cluster.hint_replay_interval_s`` the node
sends each live peer its oldest hints, a batch per dataset, and forgets those
that landed.
"""

from __future__ import annotations

import itertools
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
from manhattan.replication.peer_link import PeerUnreachable
from manhattan.replication.wire import write_from_proto, write_to_proto
from manhattan.storage import Write
from manhattan.storage.engine import Datasets, MetaStore

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

    def __init__(self, engine: MetaStore, *, max_per_peer: int = DEFAULT_MAX_HINTS_PER_PEER):
        self._engine = engine
        self.max_per_peer = max_per_peer
        self.pending: Counter[int] = Counter()
        self.dropped: Counter[int] = Counter()
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
                 durable: Callable[[], Awaitable[None]], replica_timeout: float) -> None:
        self._hints = hints
        self._membership = membership
        self._detector = detector
        self._engine = engine
        self._call = call        # the coordinator's replica call (catalog hand-over included)
        self._durable = durable  # the group commit: makes the deletions durable
        self._timeout = replica_timeout

    async def replay(self, batch: int = 500) -> int:
        """Deliver stored hints to peers that are alive again; returns hints delivered."""
        delivered = 0
        for peer in self._hints.peers_with_hints():
            member = self._membership.topology.member(peer)
            if member is None or not self._detector.is_alive(peer):
                continue
            by_dataset: dict[str, list[Hint]] = {}
            for hint in self._hints.peek(peer, batch):
                by_dataset.setdefault(hint.dataset, []).append(hint)
            for dataset, group in by_dataset.items():
                op = peer_pb2.ReplicaOp(apply=peer_pb2.ApplyOp(
                    dataset=dataset, writes=[write_to_proto(h.write) for h in group], sync=True))
                try:
                    await self._call(member, op, self._timeout)
                except (PeerUnreachable, TimeoutError):
                    if dataset in self._engine.datasets():
                        break  # the peer is not taking writes yet: try again later
                    self._hints.remove(group, delivered=False)  # dataset dropped: never lands
                    continue
                self._hints.remove(group)
                delivered += len(group)
        if delivered:
            await self._durable()  # the deletions, without blocking the loop
        return delivered
