"""The rounds themselves, against real nodes: a proposal a coordinator left accepted on
one replica only is completed by the next SERIAL read (through another coordinator) and
then seen by every later read; a stale ballot is refused; the Paxos state survives a
restart and is dropped with its dataset."""

from __future__ import annotations

import grpc
import pytest
from rocksdict import Rdict

from manhattan.client import Client, Consistency
from manhattan.hlc import pack, wall_clock_ms
from manhattan.proto.v1 import peer_pb2, peer_pb2_grpc, types_pb2
from tests.clusters import eventually, new_dataset, only, wait_until_down, wait_until_up


@pytest.fixture(scope="module")
def ds(cluster):
    token, name = new_dataset(cluster)
    return cluster, token, name


def storage_id(cluster, name: str) -> str:
    with Client(cluster.endpoints, token=cluster.admin_token) as admin:
        info = next(d for d in admin.admin.list_datasets() if d.name == name)
    return f"{name}@{info.incarnation}" if info.incarnation else name


def replica_op(cluster, node_id: int, op: peer_pb2.ReplicaOp) -> peer_pb2.ReplicaReply:
    """One replica operation on ``node_id``'s peer stream, as a coordinator sends it."""
    op.id = 1
    with grpc.insecure_channel(cluster.node(node_id).address) as channel:
        replies = peer_pb2_grpc.PeerStub(channel).Replicate(
            iter([peer_pb2.ReplicaBatch(ops=[op])]),
            metadata=(("authorization", f"Bearer {cluster.admin_token}"),), timeout=10)
        [reply] = next(replies).replies
    assert reply.code == 0, reply.message
    return reply


def proposal(timestamp: int, value: bytes) -> peer_pb2.PaxosProposal:
    ballot = types_pb2.Version(timestamp=timestamp, writer=9)
    return peer_pb2.PaxosProposal(ballot=ballot, entry=peer_pb2.Entry(
        found=True, version=ballot, value=value))


def test_a_proposal_accepted_by_one_replica_is_completed_by_the_next_serial_read(ds) -> None:
    cluster, token, name = ds
    sid = storage_id(cluster, name)
    key = dict(dataset=sid, pkey=b"orphan", lkey=b"k")
    ballot = pack(wall_clock_ms())
    # A coordinator that died after one accept: node 1 promised and accepted, no commit.
    promised = replica_op(cluster, 1, peer_pb2.ReplicaOp(paxos_prepare=peer_pb2.PaxosPrepareOp(
        **key, ballot=types_pb2.Version(timestamp=ballot, writer=9))))
    assert promised.paxos.ok
    accepted = replica_op(cluster, 1, peer_pb2.ReplicaOp(paxos_propose=peer_pb2.PaxosProposeOp(
        **key, proposal=proposal(ballot, b"orphaned"))))
    assert accepted.paxos.ok
    # A lower ballot is refused now, saying which one was promised.
    stale = replica_op(cluster, 1, peer_pb2.ReplicaOp(paxos_prepare=peer_pb2.PaxosPrepareOp(
        **key, ballot=types_pb2.Version(timestamp=ballot - 1, writer=9))))
    assert not stale.paxos.ok and stale.paxos.promised.timestamp == ballot
    # A plain read at ONE on node 1 does not see it: it is not a record yet.
    with only(cluster.node(1).address, token) as client:
        assert client.dataset(name).get("orphan", "k", consistency=Consistency.ONE) is None
    # A SERIAL read whose quorum includes node 1 completes it before answering (a quorum
    # of the two others may answer first: the proposal was not chosen, None is right).
    seen = []
    with only(cluster.node(1).address, token) as client:
        def completed() -> bool:
            seen.append(client.dataset(name).get("orphan", "k",
                                                 consistency=Consistency.SERIAL))
            return seen[-1] is not None
        assert eventually(completed, timeout=20)
    record = seen[-1]
    assert record.value == b"orphaned"
    assert record.version[:2] == (ballot, 9)  # committed with its own version
    # Committed on a quorum: QUORUM reads through any node see it from now on.
    for node in cluster.nodes:
        with only(node.address, token) as client:
            got = client.dataset(name).get("orphan", "k", consistency=Consistency.QUORUM)
            assert got is not None and got.value == b"orphaned"


def test_paxos_state_survives_a_restart_and_is_dropped_with_its_dataset(cluster) -> None:
    token, name = new_dataset(cluster)
    with Client(cluster.endpoints, token=token) as client:
        client.dataset(name).put("p", "l", "v", if_absent=True)
    sid = storage_id(cluster, name)
    key = dict(dataset=sid, pkey=b"p", lkey=b"l")
    families = lambda node: Rdict.list_cf(str(node.data_dir / "db"))  # noqa: E731
    holders = [n for n in cluster.nodes if f"px.{sid}" in families(n)]
    assert len(holders) >= 2  # a quorum promised and accepted
    node = holders[0]
    node.stop()
    node.start()
    # The promise it kept: a ballot below it is still refused after the restart.
    low = replica_op(cluster, node.node_id, peer_pb2.ReplicaOp(
        paxos_prepare=peer_pb2.PaxosPrepareOp(**key, ballot=types_pb2.Version(timestamp=1))))
    assert not low.paxos.ok and low.paxos.promised.timestamp > 1
    assert low.paxos.committed.entry.value == b"v"
    with Client(cluster.endpoints, token=cluster.admin_token) as admin:
        admin.admin.drop_dataset(name)
    assert eventually(lambda: all(f"px.{sid}" not in families(n) for n in cluster.nodes),
                      timeout=30)


def test_a_replica_down_during_a_commit_gets_the_value_as_a_hint(ds) -> None:
    cluster, token, name = ds
    down = cluster.node(3)
    down.kill()
    try:
        wait_until_down(cluster, 3, observer=1)
        with only(cluster.node(1).address, token) as client:
            version = client.dataset(name).put("hinted", "k", "v", if_absent=True)
    finally:
        down.start()
    wait_until_up(cluster, 3)
    with only(down.address, token) as client:
        def delivered() -> bool:
            got = client.dataset(name).get("hinted", "k", consistency=Consistency.ONE)
            return got is not None and got.version[:2] == version[:2]
        assert eventually(delivered, timeout=30)
