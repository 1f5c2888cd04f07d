"""A replica refuses a prepare or a proposal from a coordinator whose topology is more
than one step behind its own: that coordinator missed a whole membership change, so the
replica set it asks may share no quorum with the new one. A refusal changes nothing.
One step behind, the same epoch, a coordinator that does not say, and a read's peek are
answered. On a real engine."""

from __future__ import annotations

import asyncio

import pytest

from manhattan.errors import StaleTopology
from manhattan.proto.v1 import peer_pb2
from manhattan.replication.paxos_replica import PaxosReplica, proposal_to_proto, version_to_proto
from manhattan.storage import Entry, GroupCommit, RocksEngine, Version
from manhattan.storage.paxos_state import NO_BALLOT, Proposal

KEY = dict(dataset="d", pkey=b"p", lkey=b"l")
REPLICA_EPOCH = 12


def prepare(replica: PaxosReplica, ballot: Version, epoch: int, *, peek: bool = False
            ) -> peer_pb2.PaxosReply:
    return asyncio.run(replica.prepare(peer_pb2.PaxosPrepareOp(
        **KEY, ballot=version_to_proto(ballot), peek=peek, topology_epoch=epoch)))


def propose(replica: PaxosReplica, ballot: Version, epoch: int) -> peer_pb2.PaxosReply:
    proposal = Proposal(ballot, Entry(ballot, b"v", 0, False))
    return asyncio.run(replica.propose(peer_pb2.PaxosProposeOp(
        **KEY, proposal=proposal_to_proto(proposal), topology_epoch=epoch,
        commit_on_accept=True)))


def test_a_coordinator_two_steps_behind_is_refused_and_changes_nothing(tmp_path) -> None:
    engine = RocksEngine(tmp_path / "db")
    engine.create_dataset("d")
    try:
        replica = PaxosReplica(engine, GroupCommit(engine.sync), lambda: REPLICA_EPOCH)
        with pytest.raises(StaleTopology, match="epoch 10.*epoch 12"):
            prepare(replica, Version(100, 1), REPLICA_EPOCH - 2)
        with pytest.raises(StaleTopology):
            propose(replica, Version(100, 1), REPLICA_EPOCH - 2)
        state = engine.paxos_state("d", b"p", b"l")
        assert state.promised == NO_BALLOT and state.accepted is None and state.committed is None
        assert engine.get_entry("d", b"p", b"l") is None
        # A read's peek promises nothing: answered whatever the epoch.
        assert prepare(replica, Version(0, 1), 1, peek=True).ok
        # One step behind (a round during the change meets the rounds after its switch),
        # the same epoch, one ahead, and none said: served.
        for ballot, epoch in ((101, REPLICA_EPOCH - 1), (102, REPLICA_EPOCH),
                              (103, REPLICA_EPOCH + 1), (104, 0)):
            assert prepare(replica, Version(ballot, 1), epoch).ok
            assert propose(replica, Version(ballot, 1), epoch).stored
        assert engine.get_entry("d", b"p", b"l").version == Version(104, 1)
    finally:
        engine.close()
