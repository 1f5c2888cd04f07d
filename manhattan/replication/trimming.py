"""The coordinator's side of a trim: one version, every replica trims locally.

The coordinator stamps one HLC version and sends ``TrimOp`` to every replica of
the pkey at once; each keeps the newest ``keep`` live records it holds and writes
tombstones of that version over the rest (``storage/trim.py``). The answer comes
after W replicas acknowledged, like a write. A replica that is down misses the
trim: no hint is stored (a hint carries writes, and which records a replica would
trim depends on what it holds); the tombstones reach it by read repair and
anti-entropy, which can never bring a trimmed record back (the tombstone is newer).
Replicas that held different records may cut at different places; repair then
spreads the union of their tombstones, every one older than the trim.

A mixin of ``Coordinator`` (``coordinator.py``), which provides the attributes used.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from manhattan.cluster.membership import Membership
from manhattan.cluster.topology import Member
from manhattan.errors import Timeout
from manhattan.hlc import HybridClock
from manhattan.proto.v1 import peer_pb2, types_pb2
from manhattan.replication.quorums import await_answers, may_coordinate, write_acks
from manhattan.replication.peer_link import PeerUnreachable, ReplicaRefused
from manhattan.storage import UnknownDataset, Version
from manhattan.storage.trim import TrimEngine, TrimOutcome, trim
from manhattan.tenancy import DatasetSpec
from manhattan.types import Consistency, Durability

log = logging.getLogger("manhattan.coordinator")


@dataclass(frozen=True, slots=True)
class TrimResult:
    """A trim's answer: the tombstones' version, the most records one acknowledging
    replica deleted, and the highest lkey any of them deleted (None: none)."""

    version: Version
    removed: int
    floor: bytes | None


async def local_trim(engine: TrimEngine, op: peer_pb2.TrimOp, now_ms: Callable[[], int]
                     ) -> TrimOutcome:
    """Run a ``TrimOp`` against this node's engine (the replica's side), in a worker
    thread: a large partition's walk must not hold up the event loop. ``now_ms``:
    the wall clock that decides which records have expired."""
    return await asyncio.to_thread(
        trim, engine, op.dataset, op.pkey, keep=op.keep,
        version=Version(op.version.timestamp, op.version.writer), now_ms=now_ms,
        start=op.start if op.HasField("start") else None,
        end=op.end if op.HasField("end") else None, sync=False)


class ReplicaTrim:
    """Trims of capped partitions, for ``Coordinator``."""

    node_id: int
    engine: Any
    clock: HybridClock
    membership: Membership
    replica_timeout: float
    write_refusal: Callable[[], str | None] | None
    group_commit: Any
    _replica_call: Callable[..., Awaitable[peer_pb2.ReplicaReply]]
    _spawn: Callable[[Awaitable[object]], None]
    _alive: Callable[[Member], bool]
    _check_live: Callable[..., list[Member]]
    _deadline: Callable[[float | None], float]
    _remaining: Callable[[float], float]

    async def trim(self, spec: DatasetSpec, pkey: bytes, *, keep: int,
                   start: bytes | None = None, end: bytes | None = None,
                   consistency: Consistency = Consistency.DEFAULT,
                   durability: Durability = Durability.DEFAULT,
                   timeout: float | None = None) -> TrimResult:
        """Trim ``pkey`` on every replica; return once W acknowledged (Unavailable:
        nothing was sent; Timeout: sent, too few answered in time)."""
        may_coordinate(self.write_refusal)
        level = consistency or spec.write_consistency
        sync = (durability or spec.durability) == Durability.SYNC
        replicas = self.membership.write_replicas(pkey, spec.replication_factor)
        need = write_acks(self.membership, pkey, replicas, spec.replication_factor, level)
        self._check_live(replicas, need, level)
        version = Version(self.clock.now(), self.node_id)
        op = peer_pb2.TrimOp(dataset=spec.storage_id, pkey=pkey, keep=keep,
                             version=types_pb2.Version(timestamp=version.timestamp,
                                                       writer=version.writer), sync=sync)
        if start is not None:
            op.start = start
        if end is not None:
            op.end = end
        deadline = self._deadline(timeout)
        attempts = [asyncio.ensure_future(self._trim_on(member, op))
                    for member in replicas if self._alive(member)]
        outcomes: list[TrimOutcome] = []
        await await_answers(attempts, lambda: len(outcomes) >= need, outcomes.append,
                            self._remaining(deadline), self._spawn)
        if len(outcomes) < need:
            raise Timeout(f"trim acknowledged by {len(outcomes)} of the {need} replicas "
                          "needed in time; it may still be applied")
        floors = [o.floor for o in outcomes if o.floor is not None]
        return TrimResult(version, max((o.removed for o in outcomes), default=0),
                          max(floors) if floors else None)

    async def _trim_on(self, member: Member, op: peer_pb2.TrimOp) -> TrimOutcome | None:
        """One replica's trim (here or on a peer); None when it did not answer."""
        if member.id == self.node_id:
            try:
                outcome = await local_trim(self.engine, op, self.clock.wall_ms)
            except UnknownDataset:
                return None
            if op.sync:
                await self.group_commit.durable()
            return outcome
        try:
            reply = await self._replica_call(member, peer_pb2.ReplicaOp(trim=op),
                                             self.replica_timeout)
        except ReplicaRefused as exc:
            log.warning("replica %s refused a trim: %s", member.id, exc)
            return None
        except (PeerUnreachable, TimeoutError) as exc:
            log.info("replica %s missed a trim (repair will carry it): %s", member.id,
                     exc or type(exc).__name__)
            return None
        return TrimOutcome(reply.trimmed, reply.trim_floor or None)


__all__ = ["ReplicaTrim", "TrimResult", "local_trim"]
