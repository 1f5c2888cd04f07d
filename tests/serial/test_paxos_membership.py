"""SERIAL rounds during a membership change, on a real cluster: while a fourth node joins
a 3-node RF=3 cluster, a round on a key moving to it asks the joining node too and needs
a quorum of the replicas plus it (as writes do). So a value chosen during the join is
held by a quorum of the key's replica set after it: a compare-and-set with the joining
node and another future replica paused is refused, not acknowledged by the two replicas
of which one is leaving the key."""

from __future__ import annotations

import pytest

from manhattan.client import Client, ConditionFailed, Consistency, ManhattanError
from manhattan.cluster.ring import Ring
from manhattan.cluster.topology import Member, Topology
from manhattan.node.process import NodeProcess
from manhattan.proto.v1 import peer_pb2, types_pb2
from tests.cluster.test_membership import adding, new_node, preload, transfer_status
from tests.clusters import (
    eventually, new_dataset, only, paused, start_cluster, wait_until_down, wait_until_up,
)
from tests.serial.test_paxos_rounds import replica_call, storage_id

SERIAL = Consistency.SERIAL


def future_ring(local) -> Ring:
    """The ring once the join under way completes (checked: one is)."""
    with Client(local.endpoints, token=local.admin_token) as admin:
        topology = admin.admin.topology()
    assert any(m.state == "joining" for m in topology.members), "the join already ended"
    return Ring(Topology(topology.epoch, tuple(Member(m.id, m.address, m.zone, m.weight)
                                               for m in topology.members)),
                vnodes=topology.vnodes)


def held_by(local, extra: NodeProcess, sid: str, key: str) -> bool:
    """Whether node 4 accepted or committed a round on the key (a peek: nothing is
    promised)."""
    reply = replica_call(extra.address, local.admin_token, peer_pb2.ReplicaOp(
        paxos_prepare=peer_pb2.PaxosPrepareOp(dataset=sid, pkey=key.encode(), lkey=b"l",
                                              peek=True, ballot=types_pb2.Version())))
    return reply.paxos.accepted.HasField("ballot") or reply.paxos.committed.HasField("ballot")


def test_a_compare_and_set_during_a_join_needs_the_joining_node(tmp_path) -> None:
    local = start_cluster(tmp_path / "c", 3)
    extra: NodeProcess | None = None
    outcome: dict[str, object] = {}
    try:
        token, name = new_dataset(local)
        sid = storage_id(local, name)
        preload(local.endpoints, token, name, 12000)
        extra = new_node(local, 4, max_records_per_s=800, chunk_records=100)
        joiner = adding(local, extra.address, outcome)
        assert eventually(lambda: transfer_status(extra.address, local.admin_token).records
                          >= 300, timeout=60), "the stream did not start"
        # Keys node 4 will replicate with node 3; node 1 or 2 leaves each of them.
        ring = future_ring(local)
        moving = [k for k in (f"cas{i}" for i in range(400))
                  if {m.id for m in ring.preference_list(k.encode(), 3)} >= {3, 4}][:2]
        assert len(moving) == 2
        with only(local.node(1).address, token) as client:
            data = client.dataset(name)
            # One future replica paused: the round needs node 1, 2 and the joining node.
            with paused(local.node(3)):
                wait_until_down(local, 3, observer=1)
                first = data.put(moving[0], "l", "v1", if_absent=True, timeout=5)
                assert held_by(local, extra, sid, moving[0])
            wait_until_up(local, 3, observer=1)
            # The joining node and node 3 paused: of the key's future replicas only one of
            # nodes 1 and 2 is up. Acknowledged by nodes 1 and 2 alone, the value could be
            # missed by a quorum of the key's replicas after the join: refused instead.
            with paused(local.node(3), extra):
                wait_until_down(local, 3, observer=1)
                wait_until_down(local, 4, observer=1)
                with pytest.raises(ManhattanError):
                    data.put(moving[1], "l", "lost?", if_absent=True, timeout=3)
            future_ring(local)  # (still joining: the premise held)
        joiner.join(300)
        assert "error" not in outcome, outcome.get("error")
        # After the join: the acknowledged value stands; the refused one never applied.
        with Client([local.endpoints[0], extra.address], token=token) as client:
            data = client.dataset(name)
            assert data.get(moving[0], "l", consistency=SERIAL).value == b"v1"
            with pytest.raises(ConditionFailed):
                data.put(moving[0], "l", "v2", if_absent=True)
            assert data.put(moving[0], "l", "v2", if_version=first)
            assert data.get(moving[1], "l", consistency=SERIAL) is None
    finally:
        if extra is not None:
            extra.stop()
        local.stop()
