"""The coordinator's side of one replica's write: apply here, or send to a peer (hinted
when it cannot be reached), and what came back: which writes lost last-writer-wins to
what (``supersede.py``), the replica's clock (absorbed), versions too far ahead (absent).
A mixin of ``Coordinator`` (``coordinator.py``), which provides the attributes used."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from manhattan.cluster.topology import Member
from manhattan.hlc import ClockSkewError, HybridClock
from manhattan.proto.v1 import peer_pb2
from manhattan.replication import write_blob
from manhattan.replication.hints import HintStore
from manhattan.replication.peer_link import PeerUnreachable, ReplicaRefused
from manhattan.replication.supersede import ALL_APPLIED, Beaten, beaten_by, kept_versions
from manhattan.replication.wire import write_to_proto
from manhattan.storage import Entry, GroupCommit, UnknownDataset, Version, Write

log = logging.getLogger("manhattan.coordinator")


def apply_op(dataset: str, writes: list[Write], sync: bool) -> peer_pb2.ReplicaOp:
    """The peer operation that applies ``writes``: built once per replica set (the link
    copies it per peer), not once per peer; one blob when they share a writer (every
    batch a coordinator versions), else a protobuf message per write."""
    blob = write_blob.encode(writes)
    if blob is not None:
        return peer_pb2.ReplicaOp(apply_blob=peer_pb2.ApplyBlobOp(dataset=dataset, writes=blob,
                                                                  sync=sync))
    return _proto_op(dataset, writes, sync)


def _proto_op(dataset: str, writes: list[Write], sync: bool) -> peer_pb2.ReplicaOp:
    return peer_pb2.ReplicaOp(apply=peer_pb2.ApplyOp(
        dataset=dataset, writes=[write_to_proto(w) for w in writes], sync=sync))


class ReplicaApply:
    """Replica writes and what their answers say, for ``Coordinator``."""

    engine: Any
    clock: HybridClock
    group_commit: GroupCommit
    hints: HintStore
    replica_timeout: float
    replica_acked: Callable[[int, float], None] | None
    _replica_call: Callable[..., Awaitable[peer_pb2.ReplicaReply]]
    _spawn: Callable[[Awaitable[object]], None]

    def _absorb(self, peer: int, timestamp: int) -> None:
        """Take a replica's clock into this node's (causality: what it stored or saw is
        then below every timestamp this node issues), unless it is far ahead."""
        try:
            self.clock.observe(timestamp)
        except ClockSkewError as exc:
            log.warning("not absorbing node %s's clock: %s", peer, exc)

    # -- writes -------------------------------------------------------------

    def _apply_now(self, dataset: str, writes: list[Write]) -> Beaten | None:
        """Apply here; what beat which write (None: not applied, dataset unknown)."""
        try:
            applied = self.engine.apply(dataset, writes)
        except UnknownDataset:
            return None
        if all(applied):
            return ALL_APPLIED
        return beaten_by(writes, applied, kept_versions(self.engine, dataset, writes, applied))

    async def _apply_local(self, dataset: str, writes: list[Write], sync: bool
                           ) -> Beaten | None:
        beaten = self._apply_now(dataset, writes)
        if beaten is not None and sync:
            await self.group_commit.durable()
        return beaten

    async def _apply_remote(self, member: Member, dataset: str, writes: list[Write],
                            sync: bool, op: peer_pb2.ReplicaOp | None = None
                            ) -> Beaten | None:
        """``writes`` on a peer (``op``: their wire form, when the caller built it once
        for every peer of the replica set)."""
        op = op or apply_op(dataset, writes, sync)
        started = time.perf_counter()
        try:
            try:
                reply = await self._replica_call(member, op, self.replica_timeout)
            except ReplicaRefused:
                if not op.HasField("apply_blob"):
                    raise
                # A node of a version before blobs ("empty replica operation"): the same
                # writes as protobuf messages (refused again for any other reason).
                reply = await self._replica_call(member, _proto_op(dataset, writes, sync),
                                                 self.replica_timeout)
        except ReplicaRefused as exc:  # e.g. too far ahead of its clock: a hint won't land
            log.warning("replica %s refused a write: %s", member.id, exc)
            return None
        except (PeerUnreachable, TimeoutError) as exc:
            log.info("replica %s missed a write (hinted): %s", member.id, exc or type(exc).__name__)
            self._hint(member.id, dataset, writes, sync)
            return None
        if self.replica_acked is not None:
            self.replica_acked(member.id, time.perf_counter() - started)
        if not reply.kept:
            return ALL_APPLIED
        return beaten_by(writes, reply.applied,
                         [Version(v.timestamp, v.writer) for v in reply.kept])

    def _hint(self, peer: int, dataset: str, writes: list[Write], sync: bool) -> None:
        stored = self.hints.add(peer, dataset, writes)
        if sync and stored:
            self._spawn(self.group_commit.durable())

    # -- reads --------------------------------------------------------------

    def _admitted(self, member: Member, entries: list[Entry | None]) -> list[Entry | None]:
        """A replica whose clock is far ahead may hold versions it stamped itself: they
        count as absent here (never returned, never read-repaired onto others)."""
        kept = [e if e is None or self.clock.admissible(e.version.timestamp) else None
                for e in entries]
        if kept != entries:
            log.warning("ignored versions from node %s too far ahead of this node's clock",
                        member.id)
        return kept
