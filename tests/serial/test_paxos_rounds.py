"""The rounds themselves, against real nodes: a proposal a coordinator left accepted on
one replica only is completed by the next SERIAL read (through another coordinator) and
then seen by every later read; a stale ballot is refused; the Paxos state survives a
restart and is dropped with its dataset. The SDK's own SERIAL read (one hop, the client
asking a majority of replicas itself) answers without a coordinator, steps aside for a
proposal in progress, and rides out a paused replica. A coordinator's next
compare-and-set on a key skips the prepare under the ballot its replicas granted, and
never once another round or a plain write touched the key. With three replicas a
round needs no commit phase: a peer's accept completes the quorum and stores the value,
and a peer that refused it gets the value as a hint."""

from __future__ import annotations

import asyncio
import os
import signal

import grpc
import pytest
from rocksdict import Rdict

from manhattan.client import AsyncClient, Client, ConditionFailed, Consistency
from manhattan.hlc import pack, wall_clock_ms
from manhattan.proto.v1 import peer_pb2, peer_pb2_grpc, types_pb2
from tests.clusters import eventually, new_dataset, only, wait_until_down, wait_until_up
from tests.ops.conftest import node_info, scrape, value


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
    return replica_call(cluster.node(node_id).address, cluster.admin_token, op)


def replica_call(address: str, admin_token: str, op: peer_pb2.ReplicaOp
                 ) -> peer_pb2.ReplicaReply:
    """One replica operation on the peer stream of the node at ``address``."""
    op.id = 1
    with grpc.insecure_channel(address) as channel:
        replies = peer_pb2_grpc.PeerStub(channel).Replicate(
            iter([peer_pb2.ReplicaBatch(ops=[op])]),
            metadata=(("authorization", f"Bearer {admin_token}"),), timeout=10)
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


def paxos_events(cluster) -> dict[int, dict[str, float]]:
    """Each node's manhattan_paxos_total by event (for what a call did where)."""
    counts = {}
    for node in cluster.nodes:
        samples = scrape(node_info(node.address, cluster.admin_token).metrics_address)
        counts[node.node_id] = {event: value(samples, "manhattan_paxos_total", event=event)
                                for event in ("peek", "serial_read", "completed_in_progress",
                                              "rounds", "granted_round", "granted_refused",
                                              "committed_on_accept")}
    return counts


def grew(before, after, event: str) -> list[float]:
    return [after[n][event] - before[n][event] for n in sorted(before)]


def test_the_sdk_reads_at_serial_in_one_hop_asking_a_majority_itself(ds) -> None:
    cluster, token, name = ds
    reads = 8
    with Client(cluster.endpoints, token=token) as client:
        dataset = client.dataset(name)
        version = dataset.put("direct", "k", "v1", if_absent=True)
        dataset.get("direct", "k", consistency=Consistency.SERIAL)  # the topology is known
        before = paxos_events(cluster)
        for _ in range(reads):
            got = dataset.get("direct", "k", consistency=Consistency.SERIAL)
            assert got.value == b"v1" and got.version[:2] == version[:2]
        assert dataset.get("direct", "none", consistency=Consistency.SERIAL) is None
    after = paxos_events(cluster)
    # No node coordinated a read; two replicas (a majority of three) answered each.
    assert grew(before, after, "serial_read") == [0, 0, 0]
    assert sum(grew(before, after, "peek")) >= 2 * (reads + 1)


def test_the_async_sdk_reads_at_serial_in_one_hop_too(ds) -> None:
    cluster, token, name = ds
    with Client(cluster.endpoints, token=token) as client:
        version = client.dataset(name).put("async-direct", "k", "a", if_absent=True)

    async def reads() -> list:
        async with AsyncClient(cluster.endpoints, token=token) as client:
            dataset = client.dataset(name)
            first = await dataset.get("async-direct", "k", consistency=Consistency.SERIAL)
            before = paxos_events(cluster)
            got = [await dataset.get("async-direct", "k", consistency=Consistency.SERIAL)
                   for _ in range(4)]
            return [first, *got], before

    got, before = asyncio.run(reads())
    after = paxos_events(cluster)
    assert all(r.value == b"a" and r.version[:2] == version[:2] for r in got)
    assert grew(before, after, "serial_read") == [0, 0, 0]
    assert sum(grew(before, after, "peek")) >= 8


def serial_get_with(kind: str, cluster, token: str, name: str, pkey: str):
    """One SERIAL get through the sync or the async SDK."""
    if kind == "sync":
        with Client(cluster.endpoints, token=token) as client:
            return client.dataset(name).get(pkey, "k", consistency=Consistency.SERIAL)

    async def read():
        async with AsyncClient(cluster.endpoints, token=token) as client:
            return await client.dataset(name).get(pkey, "k", consistency=Consistency.SERIAL)
    return asyncio.run(read())


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_the_sdk_steps_aside_for_a_proposal_in_progress_and_a_coordinator_completes_it(
        ds, kind) -> None:
    cluster, token, name = ds
    sid = storage_id(cluster, name)
    key = dict(dataset=sid, pkey=f"chosen-{kind}".encode(), lkey=b"k")
    ballot = pack(wall_clock_ms())
    # Chosen (accepted by a majority, nodes 1 and 2) but never committed: every majority
    # the SDK can ask holds it in progress.
    for node_id in (1, 2):
        assert replica_op(cluster, node_id, peer_pb2.ReplicaOp(
            paxos_prepare=peer_pb2.PaxosPrepareOp(
                **key, ballot=types_pb2.Version(timestamp=ballot, writer=9)))).paxos.ok
        assert replica_op(cluster, node_id, peer_pb2.ReplicaOp(
            paxos_propose=peer_pb2.PaxosProposeOp(
                **key, proposal=proposal(ballot, b"chosen")))).paxos.ok
    before = paxos_events(cluster)
    record = serial_get_with(kind, cluster, token, name, f"chosen-{kind}")
    after = paxos_events(cluster)
    assert record.value == b"chosen" and record.version[:2] == (ballot, 9)
    assert sum(grew(before, after, "peek")) >= 2  # it asked the replicas first
    assert sum(grew(before, after, "serial_read")) == 1  # then went through a coordinator
    assert sum(grew(before, after, "completed_in_progress")) >= 1


def test_a_paused_replica_costs_the_sdk_a_hedge_not_a_coordinator(ds) -> None:
    cluster, token, name = ds
    with Client(cluster.endpoints, token=token) as client:
        dataset = client.dataset(name)
        version = dataset.put("paused", "k", "v", if_absent=True)
        dataset.get("paused", "k", consistency=Consistency.SERIAL)
        # The key's primary: asked first by every read while the client's topology
        # still holds it live (until its next refresh).
        primary = client.topology.replicas(name, b"paused")[0].id
        others = [n.node_id for n in cluster.nodes if n.node_id != primary]
        before = paxos_events(cluster)
        os.kill(cluster.node(primary).pid, signal.SIGSTOP)
        try:
            # After the hedge the spare replica is asked too: its answer and the
            # other first one make the majority.
            got = [dataset.get("paused", "k", consistency=Consistency.SERIAL)
                   for _ in range(6)]
        finally:
            os.kill(cluster.node(primary).pid, signal.SIGCONT)
    assert all(r.value == b"v" and r.version[:2] == version[:2] for r in got)
    wait_until_up(cluster, primary)
    after = paxos_events(cluster)
    index = {node_id: i for i, node_id in enumerate(sorted(before))}
    assert [grew(before, after, "serial_read")[index[n]] for n in others] == [0, 0]
    assert all(grew(before, after, "peek")[index[n]] >= 6 for n in others)


def test_the_next_compare_and_set_through_the_same_node_skips_the_prepare(ds) -> None:
    cluster, token, name = ds
    with only(cluster.node(1).address, token) as client:
        dataset = client.dataset(name)
        version = dataset.put("granted", "k", "v0", if_absent=True)  # a full round
        before = paxos_events(cluster)
        for i in range(1, 6):
            version = dataset.put("granted", "k", f"v{i}", if_version=version)
        got = dataset.get("granted", "k", consistency=Consistency.SERIAL)
    after = paxos_events(cluster)
    assert got.value == b"v5" and got.version[:2] == version[:2]
    # Each of the five proposed under the ballot the previous commit was granted.
    assert grew(before, after, "granted_round")[0] == 5
    assert grew(before, after, "rounds") == [0, 0, 0]  # no prepare anywhere
    with pytest.raises(ConditionFailed):  # a stale version still fails, by a full round
        with only(cluster.node(1).address, token) as client:
            client.dataset(name).put("granted", "k", "late", if_version=(1, 1))


def test_a_round_through_another_node_voids_the_granted_ballot(ds) -> None:
    cluster, token, name = ds
    with only(cluster.node(1).address, token) as first, \
            only(cluster.node(2).address, token) as second:
        mine, theirs = first.dataset(name), second.dataset(name)
        version = mine.put("voided", "k", "a", if_absent=True)  # node 1 is granted
        version = theirs.put("voided", "k", "b", if_version=version)  # node 2's prepare
        before = paxos_events(cluster)
        # Node 1's cached value ("a") would fail this condition: a full round decides.
        version = mine.put("voided", "k", "c", if_version=version)
        after = paxos_events(cluster)
        assert mine.get("voided", "k", consistency=Consistency.SERIAL).value == b"c"
        # Node 2's grant (from "b") was voided by node 1's prepare: an unconditional
        # SERIAL write, which node 2's cached value cannot fail, is refused under it,
        # and a full round applies it.
        middle = paxos_events(cluster)
        theirs.put("voided", "k", "d", consistency=Consistency.SERIAL)
        last = paxos_events(cluster)
        assert theirs.get("voided", "k", consistency=Consistency.SERIAL).value == b"d"
    assert grew(before, after, "granted_round")[0] == 0 and grew(before, after, "rounds")[0] >= 1
    assert grew(middle, last, "granted_refused")[1] == 1
    assert grew(middle, last, "granted_round")[1] == 0


def test_a_plain_write_in_between_is_never_missed_by_a_granted_round(ds) -> None:
    cluster, token, name = ds
    with only(cluster.node(1).address, token) as client:
        dataset = client.dataset(name)
        version = dataset.put("mixed", "k", "serial", if_absent=True)  # node 1 is granted
        # A plain last-writer-wins write on every replica, after the grant.
        plain = dataset.put("mixed", "k", "plain", consistency=Consistency.ALL)
        before = paxos_events(cluster)
        # Against node 1's cached value the condition holds; against the key's it does
        # not: the replicas refuse the granted proposal and the full round fails it.
        with pytest.raises(ConditionFailed) as failed:
            dataset.put("mixed", "k", "lost?", if_version=version)
        after = paxos_events(cluster)
    assert failed.value.current.value == b"plain"
    assert failed.value.current.version[:2] == plain[:2]
    assert grew(before, after, "granted_refused")[0] == 1


def test_a_value_with_a_ttl_always_takes_a_full_round(ds) -> None:
    cluster, token, name = ds
    with only(cluster.node(1).address, token) as client:
        dataset = client.dataset(name)
        version = dataset.put("ttl", "k", "a", if_absent=True)
        before = paxos_events(cluster)
        dataset.put("ttl", "k", "b", if_version=version, ttl=60)
        after = paxos_events(cluster)
    assert grew(before, after, "granted_round")[0] == 0
    assert grew(before, after, "rounds")[0] == 1


def stored(cluster, sid: str, pkey: bytes, lkey: bytes) -> list[bytes | None]:
    """The record each node's own store holds for the key (a replica read, no repair)."""
    values = []
    for node in cluster.nodes:
        reply = replica_op(cluster, node.node_id, peer_pb2.ReplicaOp(read=peer_pb2.ReadOp(
            dataset=sid, keys=[types_pb2.Key(pkey=pkey, lkey=lkey)])))
        [entry] = reply.entries
        values.append(entry.value if entry.found else None)
    return values


def test_a_round_is_chosen_and_stored_on_two_replicas_without_a_commit_phase(ds) -> None:
    cluster, token, name = ds
    sid = storage_id(cluster, name)
    before = paxos_events(cluster)
    with only(cluster.node(1).address, token) as client:
        dataset = client.dataset(name)
        version = dataset.put("one-round", "k", "v0", if_absent=True)  # a full round
        for i in range(1, 4):  # granted rounds
            # Answered: a quorum already holds the record (a QUORUM read would see it).
            assert stored(cluster, sid, b"one-round", b"k").count(f"v{i - 1}".encode()) >= 2
            version = dataset.put("one-round", "k", f"v{i}", if_version=version)
    after = paxos_events(cluster)
    assert grew(before, after, "committed_on_accept") == [4, 0, 0]
    assert grew(before, after, "granted_round")[0] == 3
    assert eventually(lambda: stored(cluster, sid, b"one-round", b"k") == [b"v3"] * 3)


def test_a_replica_that_refused_a_chosen_value_gets_it_as_a_hint(ds) -> None:
    cluster, token, name = ds
    sid = storage_id(cluster, name)
    # Node 3 promised a ballot a minute ahead to a coordinator that never came back:
    # it refuses node 1's proposals, node 2's accept makes them chosen.
    ahead = types_pb2.Version(timestamp=pack(wall_clock_ms() + 60_000, 0), writer=9)
    replica_op(cluster, 3, peer_pb2.ReplicaOp(paxos_prepare=peer_pb2.PaxosPrepareOp(
        dataset=sid, pkey=b"refused", lkey=b"k", ballot=ahead)))
    before = paxos_events(cluster)
    with only(cluster.node(1).address, token) as client:
        client.dataset(name).put("refused", "k", "v", if_absent=True)
    after = paxos_events(cluster)
    assert grew(before, after, "committed_on_accept")[0] == 1
    assert eventually(lambda: stored(cluster, sid, b"refused", b"k") == [b"v"] * 3,
                      timeout=30)
