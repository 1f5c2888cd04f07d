"""No single message can end a peer stream: large answers and large hint queues are cut
into messages under the gRPC limit, while other tenants' operations ride the same links.

Before the cut, a QUORUM multi-get of 100 values of 1 MiB made one replica reply of
100 MiB (over the 64 MiB limit): the stream ended and every operation in flight on it
failed; 80 MiB of hints were replayed as one message, with the same effect, forever.
"""

from __future__ import annotations

import asyncio
import os
import signal
import threading
from collections.abc import Iterator

import pytest

from manhattan.client import AsyncClient, Consistency, Put, RoundRobinPolicy
from manhattan.node.local_cluster import LocalCluster
from tests.clusters import (
    eventually, new_dataset, only, start_cluster, wait_until_down, wait_until_up,
)

MiB = 1024 * 1024


@pytest.fixture(scope="module")
def cluster(tmp_path_factory) -> Iterator[LocalCluster]:
    # Generous replica and call timeouts: on a loaded machine a slow answer must not pass
    # for a broken stream (which fails its operations at once, whatever the timeout).
    local = start_cluster(tmp_path_factory.mktemp("bounded"),
                          cluster={"replica_timeout_s": 30.0})
    try:
        yield local
    finally:
        local.stop()


def value_of(i: int) -> bytes:
    return bytes([i % 251]) * MiB


def put_large(ds, pkey: str, count: int, consistency: Consistency) -> None:
    """Writes ``count`` values of 1 MiB; a 60 s deadline per 10 MiB batch, as the SDK's
    default 5 s is no bound for 30 MiB of replica writes on a loaded 2-core machine."""
    for first in range(0, count, 10):  # 10 MiB per batch: under max_batch_bytes
        ds.put_many([Put(pkey, f"{i:03d}", value_of(i)) for i in range(first, min(first + 10, count))],
                    consistency=consistency, timeout=60)


class Bystander:
    """Another tenant's reads and writes through the same coordinator, at ALL, so each
    rides every peer link while the large transfer runs; counts failures (bounded)."""

    def __init__(self, local: LocalCluster, address: str, max_ops: int = 2000) -> None:
        token, name = new_dataset(local)
        self._client = only(address, token)
        self._ds = self._client.dataset(name)
        self._stop = threading.Event()
        self._max_ops = max_ops
        self.ok = 0
        self.errors: list[Exception] = []
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        for i in range(self._max_ops):
            if self._stop.is_set():
                return
            try:
                self._ds.put("by", f"k{i % 20}", f"v{i}", consistency=Consistency.ALL,
                             timeout=60)
                assert self._ds.get("by", f"k{i % 20}", consistency=Consistency.ALL,
                                    timeout=60).value == f"v{i}".encode()
                self.ok += 1
            except Exception as exc:  # noqa: BLE001 - every failure is the finding
                self.errors.append(exc)

    def __enter__(self) -> "Bystander":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=120)
        self._client.close()


async def async_get_many(address: str, token: str, name: str, keys) -> list:
    async with AsyncClient([address], token=token, routing=RoundRobinPolicy([address])) as aio:
        return await aio.dataset(name).get_many(keys, consistency=Consistency.QUORUM,
                                                timeout=120)


def test_quorum_get_many_of_100_values_of_1_mib_leaves_every_peer_stream_up(
        cluster: LocalCluster) -> None:
    token, name = new_dataset(cluster)
    coordinator = cluster.node(1).address
    with only(coordinator, token) as client:
        ds = client.dataset(name)
        put_large(ds, "big", 100, Consistency.ALL)
        keys = [("big", f"{i:03d}") for i in range(100)]
        with Bystander(cluster, coordinator) as others:
            for _ in range(2):
                records = ds.get_many(keys, consistency=Consistency.QUORUM, timeout=120)
                assert [r.value == value_of(i) for i, r in enumerate(records)] == [True] * 100
            # The asyncio SDK follows the multi-get's pages the same way.
            assert asyncio.run(async_get_many(coordinator, token, name, keys)) == records
            # A QUORUM scan of the same 100 MiB: replicas' pages and the answer are cut
            # by bytes, the cursor resumes after each.
            page = ds.scan_page("big", limit=100, consistency=Consistency.QUORUM)
            assert 0 < len(page.records) <= 4 and page.cursor
            scanned = ds.scan("big", limit=100, consistency=Consistency.QUORUM, timeout=120)
            assert [r.value == value_of(i) for i, r in enumerate(scanned)] == [True] * 100
        assert others.errors == [] and others.ok > 0, others.errors[:3]


def test_replay_of_80_mib_of_hints_lands_and_leaves_the_stream_up(cluster: LocalCluster) -> None:
    token, name = new_dataset(cluster)
    late = cluster.node(3)
    coordinator = cluster.node(1).address
    os.kill(late.pid, signal.SIGSTOP)
    try:
        wait_until_down(cluster, 3, observer=1)
        with only(coordinator, token) as client:
            put_large(client.dataset(name), "hinted", 80, Consistency.QUORUM)
        with only(coordinator, cluster.admin_token) as admin:
            assert admin.admin.node_info().hints_pending.get(3, 0) >= 80
    finally:
        os.kill(late.pid, signal.SIGCONT)
    wait_until_up(cluster, 3, observer=1)
    with Bystander(cluster, coordinator) as others, \
            only(coordinator, cluster.admin_token) as admin:
        assert eventually(lambda: admin.admin.node_info().hints_pending.get(3, 0) == 0,
                          timeout=120), admin.admin.node_info()
    assert others.errors == [] and others.ok > 0, others.errors[:3]
    with only(late.address, token) as direct:  # node 3 holds every hinted value itself
        records = direct.dataset(name).get_many([("hinted", f"{i:03d}") for i in range(80)],
                                                consistency=Consistency.ONE)
        assert [r is not None and r.value == value_of(i) for i, r in enumerate(records)] \
            == [True] * 80
