"""Server-side trim through the SDK on a real 3-node cluster: every replica keeps the
newest records, a replica that missed the trim converges by repair without bringing a
trimmed record back, and bad arguments are refused before anything is sent."""

from __future__ import annotations

import asyncio

import grpc
import pytest

from manhattan.client import AsyncClient, Consistency, InvalidRequest, PermissionDenied, Put
from manhattan.client.ops import ClusterOps
from manhattan.node.local_cluster import LocalCluster
from manhattan.proto.v1 import data_pb2, data_pb2_grpc
from tests.clusters import (
    eventually, new_dataset, only, paused, wait_until_down, wait_until_up,
)

ONE, QUORUM, ALL = Consistency.ONE, Consistency.QUORUM, Consistency.ALL


def lkey(i: int) -> bytes:
    return i.to_bytes(8, "big")


def fill(ds, pkey: str, count: int) -> None:
    ds.put_many([Put(pkey, lkey(i), b"e%d" % i) for i in range(count)], consistency=ALL,
                timeout=60)


def on_node(cluster: LocalCluster, node_id: int, token: str, name: str, pkey: str
            ) -> list[int]:
    """The live lkeys one replica holds (a ONE scan served by that node itself)."""
    with only(cluster.node(node_id).address, token) as client:
        records = client.dataset(name).scan(pkey, limit=1000, consistency=ONE)
    return [int.from_bytes(r.lkey, "big") for r in records]


def test_trim_keeps_the_newest_records_on_every_replica(cluster: LocalCluster) -> None:
    token, name = new_dataset(cluster)
    with only(cluster.node(1).address, token) as client:
        ds = client.dataset(name)
        fill(ds, "home", 30)
        result = ds.trim("home", 10, consistency=ALL)
        assert result.removed == 20 and result.floor == lkey(19)
        assert ds.trim("home", 10, consistency=ALL).removed == 0  # idempotent
        # Records after the trim are not touched by it; only the range is trimmed.
        fill(ds, "other", 5)
        assert ds.trim("home", 0, start=lkey(25), end=lkey(28)).removed == 3
    for node_id in (1, 2, 3):
        assert on_node(cluster, node_id, token, name, "home") == [20, 21, 22, 23, 24, 28, 29]
        assert on_node(cluster, node_id, token, name, "other") == [0, 1, 2, 3, 4]


def test_async_facade_trims(cluster: LocalCluster) -> None:
    token, name = new_dataset(cluster)
    with only(cluster.node(2).address, token) as client:
        fill(client.dataset(name), "tl", 12)

    async def run() -> tuple[int, list[bytes]]:
        async with AsyncClient(cluster.endpoints, token=token, timeout=30) as client:
            ds = client.dataset(name)
            result = await ds.trim("tl", 4, consistency=QUORUM)
            return result.removed, [r.lkey for r in await ds.scan("tl", consistency=QUORUM)]

    removed, left = asyncio.run(run())
    assert removed == 8 and left == [lkey(i) for i in range(8, 12)]


def test_a_replica_that_missed_the_trim_converges_without_resurrecting(
        cluster: LocalCluster) -> None:
    token, name = new_dataset(cluster)
    down = cluster.node(3)
    with only(cluster.node(1).address, token) as client:
        ds = client.dataset(name)
        fill(ds, "home", 25)
        with paused(down):
            wait_until_down(cluster, 3, observer=1)
            assert ds.trim("home", 5, consistency=QUORUM, timeout=30).removed == 20
        wait_until_up(cluster, 3)
    assert on_node(cluster, 3, token, name, "home") == list(range(25))  # it missed it
    # A QUORUM read through node 3 merges with a peer's tombstones and repairs node 3
    # before answering: the trimmed records never come back, there or anywhere.
    with only(cluster.node(3).address, token) as client:
        merged = client.dataset(name).scan("home", limit=1000, consistency=QUORUM)
    assert [int.from_bytes(r.lkey, "big") for r in merged] == list(range(20, 25))
    assert eventually(lambda: on_node(cluster, 3, token, name, "home") == list(range(20, 25)))
    for node_id in (1, 2):
        assert on_node(cluster, node_id, token, name, "home") == list(range(20, 25))


def test_anti_entropy_brings_a_missed_trim_to_its_replica(cluster: LocalCluster) -> None:
    """No read needed: a repair pass carries the tombstones to the replica that was down,
    and an entry written after the trim (below the cut) survives everywhere."""
    token, name = new_dataset(cluster)
    down = cluster.node(2)
    with only(cluster.node(1).address, token) as client:
        ds = client.dataset(name)
        fill(ds, "feed", 12)
        with paused(down):
            wait_until_down(cluster, 2, observer=1)
            assert ds.trim("feed", 4, consistency=QUORUM, timeout=30).removed == 8
            ds.put("feed", lkey(0), b"again", consistency=QUORUM)  # newer than the trim
        wait_until_up(cluster, 2)
    assert on_node(cluster, 2, token, name, "feed") == list(range(12))  # it missed the trim
    with only(cluster.node(1).address, cluster.admin_token) as admin:
        for _progress in ClusterOps(admin).repair(name):
            pass
    expected = [0, 8, 9, 10, 11]
    assert eventually(lambda: on_node(cluster, 2, token, name, "feed") == expected)
    for node_id in (1, 3):
        assert on_node(cluster, node_id, token, name, "feed") == expected


def test_bad_trims_are_refused_before_anything_is_sent(cluster: LocalCluster) -> None:
    token, name = new_dataset(cluster)
    with only(cluster.node(1).address, token) as client:
        ds = client.dataset(name)
        fill(ds, "home", 3)
        for bad in ({"keep": -1}, {"keep": 1.5}, {"keep": True},
                    {"keep": 1, "start": b"b", "end": b"a"}):
            with pytest.raises(InvalidRequest):
                ds.trim("home", **bad)
    # The node checks too (a client of another language, or an old one).
    with grpc.insecure_channel(cluster.node(1).address) as channel:
        stub = data_pb2_grpc.DataStub(channel)
        metadata = (("authorization", f"Bearer {token}"),)
        for request in (data_pb2.TrimRequest(dataset=name, pkey=b"home", keep=10_000_000),
                        data_pb2.TrimRequest(dataset=name, pkey=b"", keep=1),
                        data_pb2.TrimRequest(dataset=name, pkey=b"home", keep=1, start=b"z",
                                             end=b"a")):
            with pytest.raises(grpc.RpcError) as refused:
                stub.Trim(request, metadata=metadata, timeout=10)
            assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    # A read-only token may not trim.
    with only(cluster.node(1).address, cluster.admin_token) as admin:
        tenant = next(d.tenant for d in admin.admin.list_datasets() if d.name == name)
        read_only, _ = admin.admin.create_token(tenant, read_only=True)
    with only(cluster.node(1).address, read_only) as client:
        with pytest.raises(PermissionDenied):
            client.dataset(name).trim("home", 0)
    assert on_node(cluster, 1, token, name, "home") == [0, 1, 2]
