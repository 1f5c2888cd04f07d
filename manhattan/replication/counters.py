"""Coordinating an increment: the shard owner counts it, the other replicas merge it.

The owner is the first live replica of the pkey in preference-list order, the same
for every coordinator while it is up, so a retry with the same op id reaches the
node that remembers it. The owner adds the delta to its own shard under the
engine's write lock and makes it durable *before* the new state leaves the node:
a shard is only ever rebuilt from its owner's disk, so an owner that lost a
buffered increment in a crash could otherwise count later ones from a stale base,
and merging by max would hide them. The resulting state then goes to the other
replicas as an ordinary replica write (merged there, hinted when one is down);
the add is acknowledged once the owner and W-1 others hold it.

A mixin of ``Coordinator`` (``coordinator.py``), which provides the attributes used.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, NamedTuple

from manhattan.cluster.membership import Membership
from manhattan.errors import InvalidRequest, Timeout, Unavailable
from manhattan.hlc import HybridClock, physical_ms
from manhattan.proto.v1 import peer_pb2
from manhattan.replication.peer_link import PeerUnreachable, ReplicaRefused
from manhattan.replication.quorums import may_coordinate, write_acks
from manhattan.replication.wire import entry_from_proto, entry_to_proto
from manhattan.storage import Entry, GroupCommit, Record, Version, Write
from manhattan.storage.counters import CounterOverflow, value_of
from manhattan.storage.counters_engine import CounterAdd, CounterStore
from manhattan.tenancy import DatasetSpec
from manhattan.types import Consistency, Durability


class CounterResult(NamedTuple):
    """An acknowledged increment: the counter after it (as its owner saw it), whether
    it counted (False: a retry of an op id already counted) and the stored version."""

    value: int
    counted: bool
    version: Version


async def owner_add(engine: CounterStore, group_commit: GroupCommit, clock: HybridClock,
                    node_id: int, op: peer_pb2.CounterAddOp) -> CounterAdd | None:
    """The owner's side (here or for a peer): count the increment in this node's shard,
    durably. InvalidRequest on overflow or a key that holds no counter. None (nothing
    counted) when this node holds no state for the counter and the coordinator did not
    read the replicas first (``op.read``): it must, then ask again."""
    if op.deadline_ms and clock.wall_ms() > op.deadline_ms:
        raise Unavailable("the increment reached its shard owner after the coordinator gave "
                          "up on it: not counted (a retry may count it)")
    if op.HasField("seen"):  # a retry: what the replicas hold first, so its op id is found
        seen = entry_from_proto(op.seen)
        if seen is not None:
            engine.apply(op.dataset, [Write(op.pkey, op.lkey, seen)])
    timestamp = clock.now()
    try:
        result = engine.counter_add(op.dataset, op.pkey, op.lkey, delta=op.delta,
                                    op_id=op.op_id, shard=node_id, timestamp=timestamp,
                                    now_ms=physical_ms(timestamp), absent_ok=op.read)
    except CounterOverflow as exc:
        raise InvalidRequest(f"counter overflow: {exc}") from None
    except ValueError as exc:
        raise InvalidRequest(str(exc)) from None
    if result is not None and result.counted:
        await group_commit.durable()
    return result


def add_reply(result: CounterAdd | None) -> peer_pb2.ReplicaReply:
    """The owner's answer to a peer coordinator (no entry: read the replicas first)."""
    if result is None:
        return peer_pb2.ReplicaReply()
    return peer_pb2.ReplicaReply(entries=[entry_to_proto(result.entry)],
                                 applied=[result.counted])


class CounterCoordination:
    """``Coordinator.add``: increments of counter datasets."""

    node_id: int
    engine: Any
    clock: HybridClock
    group_commit: GroupCommit
    membership: Membership
    replica_timeout: float
    write_refusal: Callable[[], str | None] | None
    _replica_call: Callable[..., Awaitable[peer_pb2.ReplicaReply]]
    _check_live: Callable[..., list[Any]]
    _deadline: Callable[[float | None], float]
    _remaining: Callable[[float], float]
    _replicate: Callable[..., Awaitable[Any]]
    read: Callable[..., Awaitable[Record | None]]

    async def add(self, spec: DatasetSpec, pkey: bytes, lkey: bytes, delta: int, op_id: bytes,
                  consistency: Consistency = Consistency.DEFAULT,
                  durability: Durability = Durability.DEFAULT,
                  timeout: float | None = None, retry: bool = False) -> CounterResult:
        """Count ``delta`` once (per ``op_id``) and replicate; return once W replicas hold
        it. Unavailable: nothing was sent. Timeout: it may have counted; retry with the
        same ``op_id`` (and ``retry``: the replicas are read first, so an attempt that
        another owner counted is found there)."""
        may_coordinate(self.write_refusal)
        level = consistency or spec.write_consistency
        sync = (durability or spec.durability) == Durability.SYNC
        replicas = self.membership.write_replicas(pkey, spec.replication_factor)
        need = write_acks(self.membership, pkey, replicas, spec.replication_factor, level)
        live = self._check_live(replicas, need, level)
        live_ids = {m.id for m in live}
        owner = next(m for m in replicas if m.id in live_ids)  # preference order, not this node first
        deadline = self._deadline(timeout)
        op = peer_pb2.CounterAddOp(dataset=spec.storage_id, pkey=pkey, lkey=lkey, delta=delta,
                                   op_id=op_id, sync=True)
        if retry:
            await self._read_first(spec, op, level, deadline)
        result = await self._count(owner, op, deadline)
        if result is None:  # the owner holds no state for it: what do the replicas hold?
            await self._read_first(spec, op, level, deadline)
            result = await self._count(owner, op, deadline)
        if result is None:
            raise Timeout(f"node {owner.id} would not count the increment")
        others = tuple(m for m in replicas if m.id != owner.id)
        write = Write(pkey, lkey, result.entry)
        await self._replicate(spec.storage_id, others, [write], max(need - 1, 0), sync, deadline)
        return CounterResult(value_of(result.entry), result.counted, result.entry.version)

    async def _read_first(self, spec: DatasetSpec, op: peer_pb2.CounterAddOp,
                          level: Consistency, deadline: float) -> None:
        """Read the counter from the replicas into ``op.seen``: at QUORUM at least (an add
        at ONE too: so a retry or a wiped owner finds what a QUORUM add left), at the
        add's own level when too few replicas answer for that."""
        stronger = Consistency.QUORUM if level == Consistency.ONE else level
        try:
            seen = await self.read(spec, op.pkey, op.lkey, stronger, self._remaining(deadline))
        except (Unavailable, Timeout):
            if stronger == level:
                raise
            seen = await self.read(spec, op.pkey, op.lkey, level, self._remaining(deadline))
        if seen is not None:
            op.seen.CopyFrom(entry_to_proto(Entry(seen.version, seen.value, counter=True)))
        op.read = True

    async def _count(self, owner: Any, op: peer_pb2.CounterAddOp, deadline: float
                     ) -> CounterAdd | None:
        """The owner's count, here or asked (None: it wants the replicas read first)."""
        if owner.id == self.node_id:
            return await owner_add(self.engine, self.group_commit, self.clock, self.node_id,
                                   op)
        return await self._ask_owner(owner, op, deadline)

    async def _ask_owner(self, owner: Any, op: peer_pb2.CounterAddOp, deadline: float
                         ) -> CounterAdd | None:
        wait = min(self.replica_timeout, self._remaining(deadline))
        op.deadline_ms = self.clock.wall_ms() + int(wait * 1000)
        try:
            reply = await self._replica_call(owner, peer_pb2.ReplicaOp(counter_add=op), wait)
        except ReplicaRefused as exc:
            raise InvalidRequest(str(exc).partition(": ")[2] or str(exc)) from None
        except (PeerUnreachable, TimeoutError) as exc:
            raise Timeout(f"the shard owner (node {owner.id}) did not answer in time: the "
                          "increment may have counted; retry with the same op_id") from exc
        if not reply.entries:
            return None
        entry = entry_from_proto(reply.entries[0])
        if entry is None or not reply.applied:
            raise Timeout(f"node {owner.id} answered an increment without its state")
        return CounterAdd(entry, reply.applied[0])


__all__ = ["CounterCoordination", "CounterResult", "add_reply", "owner_add"]
