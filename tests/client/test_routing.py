"""Token-aware routing, the topology cache, and get_many/put_many split by replica set.

Unit tests run on hand-made topologies; the rest run against a real 3-node cluster.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable

import grpc
import pytest

from manhattan.client import (
    AsyncClient, Client, Consistency, DatasetInfo, Durability, Put, RetryPolicy,
    RoundRobinPolicy, TokenAwarePolicy, TopologyCache,
)
from manhattan.client import operations as ops
from manhattan.client.core import ClientCore
from manhattan.errors import InvalidRequest, Timeout, Unavailable
from manhattan.client.topology import Refresh
from manhattan.cluster.membership import topology_from_proto
from manhattan.cluster.ring import Ring
from manhattan.node.local_cluster import LocalCluster
from manhattan.proto.v1 import cluster_pb2, cluster_pb2_grpc, data_pb2, types_pb2
from manhattan.types import Version

QUORUM = Consistency.QUORUM


def message(epoch: int = 1, nodes: int = 5, dead: tuple[int, ...] = ()
            ) -> cluster_pb2.TopologyMessage:
    """A topology as a node would send it."""
    return cluster_pb2.TopologyMessage(epoch=epoch, vnodes=64, members=[
        cluster_pb2.MemberMessage(id=i, address=f"10.0.0.{i}:7000", zone="default", weight=1,
                                  state=cluster_pb2.NORMAL, alive=i not in dead)
        for i in range(1, nodes + 1)])


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def eventually(check: Callable[[], bool], timeout: float = 10.0) -> bool:
    """Poll ``check`` until it holds or ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.1)
    return check()


# -- unit: policies and cache on hand-made topologies ---------------------------------------


def test_token_aware_plan_puts_live_replicas_of_the_pkey_first_then_the_child_plan() -> None:
    cache = TopologyCache()
    cache.update(message(dead=()))
    policy = TokenAwarePolicy(RoundRobinPolicy(["10.0.0.1:7000"], discover=True))
    policy.populate(cache)
    ring = Ring(topology_from_proto(message()), vnodes=64)
    for i in range(50):
        pkey = f"user-{i}".encode()
        replicas = [m.address for m in ring.preference_list(pkey, 3)]
        plan = list(policy.query_plan(ops.get("ds", pkey, b"", Consistency.DEFAULT)))
        assert set(plan[:3]) == set(replicas)
        assert sorted(plan) == sorted(f"10.0.0.{n}:7000" for n in range(1, 6))  # learned all
    # a replica reported down goes after every live endpoint
    pkey = b"user-7"
    primary = ring.preference_list(pkey, 3)[0]
    cache.update(message(dead=(primary.id,)))
    plan = list(policy.query_plan(ops.get("ds", pkey, b"", Consistency.DEFAULT)))
    assert plan[-1] == primary.address and len(plan) == 5
    # multi-key and admin calls (no pkey) get the child's plan
    assert policy.query_plan(ops.list_tenants())[-1] == primary.address


def _put_of_k_and_its_replicas() -> tuple[ops.Operation, list[str]]:
    ring = Ring(topology_from_proto(message()), vnodes=64)
    op = ops.put("ds", b"k", b"", b"v", None, Consistency.DEFAULT, Durability.DEFAULT)
    return op, [m.address for m in ring.preference_list(b"k", 3)]


def _token_aware(**options) -> TokenAwarePolicy:
    """A policy populated with the test topology (seed 10.0.0.1 only)."""
    cache = TopologyCache()
    cache.update(message())
    policy = TokenAwarePolicy(RoundRobinPolicy(["10.0.0.1:7000"]), **options)
    policy.populate(cache)
    return policy


def test_token_aware_rotates_replicas_or_keeps_the_primary_first() -> None:
    op, replicas = _put_of_k_and_its_replicas()
    shuffled = _token_aware()
    assert {shuffled.query_plan(op)[0] for _ in range(9)} == set(replicas)
    fixed = _token_aware(shuffle_replicas=False)
    assert {fixed.query_plan(op)[0] for _ in range(9)} == {replicas[0]}


def test_replication_factor_is_pinned_learned_or_defaulted_and_capped() -> None:
    cache = TopologyCache()
    assert cache.replicas("ds", b"k") == ()  # nothing known yet: no routing
    cache.update(message(nodes=2))
    assert cache.replication_factor("unknown") == 2  # default 3, capped by 2 members
    cache.update(message(epoch=2, nodes=5))
    assert cache.replication_factor("unknown") == 3
    cache.pin_replication_factor("pinned", 1)
    assert len(cache.replicas("pinned", b"k")) == 1
    info = DatasetInfo("tweets", "t", 5, Consistency.ONE, Consistency.QUORUM,
                       Durability.DEFAULT, 0, 0)
    cache.learn_datasets([info])
    assert len(cache.replicas("tweets", b"k")) == 5
    assert cache.replication_factor("t/tweets") == 5  # as an admin names it: tenant/name
    cache.forget_dataset("tweets")
    assert cache.replication_factor("tweets") == 3


def test_plain_round_robin_keeps_to_the_endpoints_it_was_given() -> None:
    cache = TopologyCache()
    cache.update(message())
    policy = RoundRobinPolicy(["10.0.0.9:7000"])
    policy.populate(cache)
    assert list(policy.query_plan(ops.list_tenants())) == ["10.0.0.9:7000"]


def test_topology_cache_fetches_first_then_periodically_on_failure_and_for_new_datasets() -> None:
    clock = FakeClock()
    cache = TopologyCache(refresh_interval=10.0, retry_interval=0.5, clock=clock)
    assert cache.due() is Refresh.WAIT  # first use waits (bounded) for a topology
    assert cache.claim() and not cache.claim()  # one fetch at a time
    assert cache.due() is Refresh.NONE
    cache.finish(None)  # failed: try again soon, in the background
    assert cache.due() is Refresh.NONE
    clock.now += 0.5
    assert cache.due() is Refresh.BACKGROUND
    assert cache.claim()
    cache.finish(message(epoch=3))
    assert cache.epoch == 3 and cache.due() is Refresh.NONE
    clock.now += 9.0
    assert cache.due() is Refresh.NONE
    clock.now += 1.0
    assert cache.due() is Refresh.BACKGROUND  # periodic
    assert cache.claim()
    cache.finish(message(epoch=2, dead=(1,)))  # an older epoch is ignored
    assert cache.epoch == 3 and cache.is_alive(1)
    clock.now += 1.0
    cache.invalidate()  # a call met Unavailable
    assert cache.due() is Refresh.BACKGROUND
    assert cache.claim()
    cache.finish(message(epoch=3, dead=(1,)))
    assert not cache.is_alive(1) and cache.dead_addresses == {"10.0.0.1:7000"}
    clock.now += 1.0
    assert cache.due() is Refresh.NONE
    cache.replication_factor("new-dataset")  # unknown: ask ListDatasets once
    assert cache.due() is Refresh.BACKGROUND
    assert cache.claim()
    cache.finish(message(epoch=3), datasets=[])
    clock.now += 1.0
    cache.replication_factor("new-dataset")
    assert cache.due() is Refresh.NONE  # not again until the periodic refresh


@pytest.mark.parametrize("error, refetch", [
    (Timeout("no answer in time"), True),  # a paused node looks like this
    (Unavailable("refused"), True),
    (InvalidRequest("bad key"), False),
    (None, False),
])
def test_a_node_that_failed_or_did_not_answer_in_time_brings_the_topology_fetch_forward(
        error, refetch) -> None:
    clock = FakeClock()
    cache = TopologyCache(refresh_interval=10.0, retry_interval=0.5, clock=clock)
    core = ClientCore(["10.0.0.1:7000"], token=None, timeout=5.0, retry=None, routing=None,
                      topology=cache)
    assert cache.claim()
    cache.finish(message())
    clock.now += 1.0
    assert cache.due() is Refresh.NONE
    core.record("10.0.0.1:7000", error)
    assert cache.due() is (Refresh.BACKGROUND if refetch else Refresh.NONE)


def test_split_groups_items_by_replica_set_and_reassembles_in_order() -> None:
    cache = TopologyCache()
    cache.update(message())
    keys = [(f"p{i % 40}".encode(), f"l{i}".encode()) for i in range(200)]
    op = ops.get_many("ds", keys, Consistency.DEFAULT)
    groups = cache.group("ds", op.batch_pkeys())
    assert len(groups) > 1 and sorted(i for g in groups for i in g) == list(range(200))
    parts = ops.split(op, groups)
    ring = Ring(topology_from_proto(message()), vnodes=64)
    for group, part in zip(groups, parts):
        assert [(k.pkey, k.lkey) for k in part.request.keys] == [keys[i] for i in group]
        assert part.pkey == keys[group[0]][0] and part.dataset == "ds"
        replica_sets = {frozenset(m.id for m in ring.preference_list(k.pkey, 3))
                        for k in part.request.keys}
        assert len(replica_sets) == 1
    answers = [[keys[i] for i in group] for group in groups]
    assert ops.reassemble(groups, answers) == keys


def test_grouping_remembers_replica_sets_per_ring_and_never_across_a_change(
        monkeypatch) -> None:
    """group() remembers each pkey's replica set for the ring it was computed on: the
    same answer as a fresh cache, before and after the topology changes, and with the
    memo overflowing its bound."""
    keys = [f"follower{i}".encode() for i in range(300)]

    def fresh(nodes: int) -> list[list[int]]:
        cache = TopologyCache()
        cache.update(message(nodes=nodes))
        return cache.group("ds", keys)

    cache = TopologyCache()
    cache.update(message(nodes=3))
    assert cache.group("ds", keys) == cache.group("ds", keys) == fresh(3)
    cache.update(message(epoch=2, nodes=5))  # a new ring: nothing remembered carries over
    assert cache.group("ds", keys) == fresh(5) != fresh(3)
    monkeypatch.setattr("manhattan.client.topology.MAX_REMEMBERED_SETS", 10)
    assert cache.group("ds", keys) == cache.group("ds", keys) == fresh(5)


def test_put_many_asks_for_the_compact_answer_and_reads_either_form() -> None:
    """Every part of a split put_many asks for the compact answer; the versions come out
    the same from it (first, count, superseded exceptions) as from a node that answers a
    version per write."""
    cache = TopologyCache()
    cache.update(message())
    op = ops.put_many("ds", [Put(f"p{i}", "l", "v") for i in range(50)], Consistency.DEFAULT,
                      Durability.DEFAULT)
    parts = ops.split(op, cache.group("ds", op.batch_pkeys()))
    assert len(parts) > 1 and all(part.request.compact_reply for part in parts)
    full = data_pb2.MultiPutResponse(versions=[
        types_pb2.Version(timestamp=700 + i, writer=4, superseded_by=900 if i == 1 else 0)
        for i in range(3)])
    compact = data_pb2.MultiPutResponse(first=types_pb2.Version(timestamp=700, writer=4),
                                        count=3, superseded=[data_pb2.Superseded(index=1, by=900)])
    expected = [Version(700, 4), Version(701, 4, 900), Version(702, 4)]
    assert op.parse(full) == op.parse(compact) == expected
    assert op.parse(data_pb2.MultiPutResponse()) == []


# -- against a real 3-node cluster -----------------------------------------------------------


def fetch_ring(address: str, token: str) -> Ring:
    """The ring exactly as a node places keys."""
    with grpc.insecure_channel(address) as channel:
        msg = cluster_pb2_grpc.ClusterStub(channel).GetTopology(
            cluster_pb2.GetTopologyRequest(), metadata=(("authorization", f"Bearer {token}"),),
            timeout=5)
    return Ring(topology_from_proto(msg), vnodes=msg.vnodes)


def record_sends(client: Client) -> list[tuple[str, str]]:
    """(method, endpoint) of every data call the client sends from now on."""
    sent: list[tuple[str, str]] = []
    attempt = client._attempt

    def recording(op, endpoint, deadline):
        if op.service == "data":
            sent.append((op.method, endpoint))
        return attempt(op, endpoint, deadline)

    client._attempt = recording  # type: ignore[method-assign]
    return sent


def all_alive(client: Client) -> bool:
    """Refresh the client's topology; whether every member is reported alive."""
    client.refresh_topology()
    topology = client.topology.topology
    return topology is not None and all(client.topology.is_alive(m.id) for m in topology.members)


def test_single_key_ops_and_batches_of_one_replica_set_go_to_a_replica(sdk_cluster: LocalCluster,
                                                      cluster_tenant) -> None:
    t = cluster_tenant
    with Client(sdk_cluster.endpoints, token=sdk_cluster.admin_token) as admin:
        admin.admin.create_dataset(t.dataset + "-rf1", tenant=t.tenant, replication_factor=1)
    with Client([t.seed], token=t.token) as client:
        ds = client.dataset(t.dataset)
        ds.put("warm", "up", "x")  # first use: topology and datasets fetched
        assert set(client.endpoints) == set(sdk_cluster.endpoints)  # learned from one seed
        assert client.topology.replication_factor(t.dataset) == 3
        assert client.topology.replication_factor(t.dataset + "-rf1") == 1
        assert eventually(lambda: all_alive(client))
        ring = fetch_ring(t.seed, t.token)
        sent = record_sends(client)
        for i in range(30):
            pkey = f"user-{i}".encode()
            replicas = {m.address for m in ring.preference_list(pkey, 3)}
            plan = client.routing.query_plan(ops.get(t.dataset, pkey, b"", QUORUM))
            assert set(plan[:3]) == replicas
            primary = ring.preference_list(pkey, 1)[0].address
            assert client.routing.query_plan(
                ops.get(t.dataset + "-rf1", pkey, b"", QUORUM))[0] == primary
            sent.clear()
            ds.put(pkey, "k", f"v{i}", consistency=QUORUM)
            assert ds.get(pkey, "k", consistency=QUORUM).value == f"v{i}".encode()
            rf1 = client.dataset(t.dataset + "-rf1")
            rf1.put(pkey, "k", "one")
            # a batch of one replica set goes to it too
            rf1.put_many([(pkey, "a", "1"), (pkey, "b", "2")])
            rf1.get_many([(pkey, "a"), (pkey, "b")])
            assert sent == [("Put", sent[0][1]), ("Get", sent[1][1]), ("Put", primary),
                            ("MultiPut", primary), ("MultiGet", primary)]
            assert sent[0][1] in replicas and sent[1][1] in replicas


def test_client_given_one_seed_keeps_working_after_the_seed_is_killed(
        restart_killed: LocalCluster, cluster_tenant) -> None:
    sdk_cluster = restart_killed
    t = cluster_tenant
    seed = sdk_cluster.node(1)

    async def async_round(client: AsyncClient, tag: str) -> None:
        ds = client.dataset(t.dataset)
        for i in range(10):
            await ds.put(f"a{i}", "k", f"{tag}{i}", consistency=QUORUM)
            assert (await ds.get(f"a{i}", "k", consistency=QUORUM)).value == f"{tag}{i}".encode()

    loop = asyncio.new_event_loop()
    try:
        # A put on the seed's connection as it dies has an unknown outcome (ConnectionLost);
        # this test is about routing around the dead seed, so its puts may be repeated.
        retry = RetryPolicy(retry_non_idempotent=True)
        with Client([seed.address], token=t.token, timeout=5, retry=retry) as client:
            aclient = AsyncClient([seed.address], token=t.token, timeout=5, retry=retry)
            ds = client.dataset(t.dataset)
            for i in range(10):
                ds.put(f"p{i}", "k", f"before{i}", consistency=QUORUM)
            loop.run_until_complete(async_round(aclient, "before"))
            assert set(client.endpoints) == set(sdk_cluster.endpoints)
            assert set(aclient.endpoints) == set(sdk_cluster.endpoints)
            seed.kill()
            started = time.monotonic()
            for i in range(10):
                assert ds.get(f"p{i}", "k", consistency=QUORUM).value == f"before{i}".encode()
                ds.put(f"p{i}", "k", f"after{i}", consistency=QUORUM)
                assert ds.get(f"p{i}", "k", consistency=QUORUM).value == f"after{i}".encode()
            assert ds.get_many([(f"p{i}", "k") for i in range(10)], consistency=QUORUM)[9] \
                .value == b"after9"
            loop.run_until_complete(async_round(aclient, "after"))
            assert time.monotonic() - started < 15
            # it learned that the seed is gone: no longer the first choice
            assert eventually(lambda: seed.address in client.topology.dead_addresses
                              or client.breakers.state(seed.address).value != "closed")
            loop.run_until_complete(aclient.close())
    finally:
        loop.close()


def test_get_many_and_put_many_split_by_replica_set_keep_the_callers_order(
        sdk_cluster: LocalCluster, cluster_tenant) -> None:
    t = cluster_tenant
    rng = random.Random(7)
    items = [Put(f"user-{i % 200}", f"tweet-{i:04d}", f"body-{i}") for i in range(1000)]
    rng.shuffle(items)
    with Client([t.seed], token=t.token) as client:
        ds = client.dataset(t.dataset)
        sent = record_sends(client)
        versions = ds.put_many(items, consistency=QUORUM)  # 1,000 records: the node's limit
        assert len(versions) == 1000 and len(set(versions)) == 1000
        groups = client.topology.group(t.dataset, [i.pkey.encode() for i in items])
        # 3 nodes, RF 3: every pkey lives on the same set of nodes, so one request.
        assert len(groups) == 1
        assert [m for m, _ in sent] == ["MultiPut"] * len(groups)
        keys = [(i.pkey, i.lkey) for i in items[:999]] + [("nobody", "x")]  # the 1,000 limit
        rng.shuffle(keys)
        records = ds.get_many(keys, consistency=QUORUM)
        expected = {(i.pkey, i.lkey): i.value.encode() for i in items}
        assert [r.value if r else None for r in records] == [expected.get(k) for k in keys]
        by_key = {(i.pkey, i.lkey): v for i, v in zip(items, versions)}
        assert all(r.version == by_key[(r.pkey.decode(), r.lkey.decode())]
                   for r in records if r is not None)

    async def main() -> None:
        async with AsyncClient([t.seed], token=t.token) as client:
            ds = client.dataset(t.dataset)
            batch = [(f"a-{i % 50}", f"l{i}", f"v{i}") for i in range(300)]
            assert len(await ds.put_many(batch, consistency=QUORUM)) == 300
            wanted = [(p, l) for p, l, _ in reversed(batch)]
            records = await ds.get_many(wanted, consistency=QUORUM)
            assert [r.value for r in records] == [v.encode() for _, _, v in reversed(batch)]
            assert len(client.topology.group(t.dataset, [p.encode() for p, _ in wanted])) == 1

    asyncio.run(main())


@pytest.mark.parametrize("keys", [[], [("only", "one")]])
def test_get_many_of_no_key_or_one_replica_set_is_a_single_request(
        sdk_cluster: LocalCluster, cluster_tenant, keys) -> None:
    t = cluster_tenant
    with Client([t.seed], token=t.token) as client:
        ds = client.dataset(t.dataset)
        assert ds.get_many(keys) == [None] * len(keys)


def test_sticky_routing_keeps_the_replica_that_answered_last_first() -> None:
    put, replicas = _put_of_k_and_its_replicas()
    sticky = _token_aware(sticky=True)
    assert {sticky.query_plan(put)[0] for _ in range(9)} == set(replicas)  # nothing yet
    sticky.answered(replicas[1])
    plans = [sticky.query_plan(put) for _ in range(9)]
    assert {plan[0] for plan in plans} == {replicas[1]}
    assert all(sorted(plan[:3]) == sorted(replicas) for plan in plans)  # others follow
    sticky.answered("10.9.9.9:7000")  # not a replica of this key: no effect on its plan
    assert {sticky.query_plan(put)[0] for _ in range(9)} == set(replicas)
    sticky.answered(None)  # a failed attempt drops the stickiness
    assert {sticky.query_plan(put)[0] for _ in range(9)} == set(replicas)
