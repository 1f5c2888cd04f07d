"""Counters on real 3-node RF=3 clusters: a replica that missed increments gets them
from hints; replicas that each missed different increments (hints off) read the
merged total at QUORUM before any repair, and hold the same state after one
`manhattan repair` (a second repair finds nothing to exchange)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from manhattan.client import Consistency
from manhattan.node.local_cluster import LocalCluster

from tests.clusters import (
    eventually, new_dataset, only, start_cluster, wait_until_down, wait_until_up,
)
from tests.replication.antientropy.test_repair import run_cli

Q, ONE, ALL = Consistency.QUORUM, Consistency.ONE, Consistency.ALL
KEYS = [f"user{i}" for i in range(12)]


def add_round(local, node_id: int, token: str, ds: str, delta: int,
              expected: dict[str, int]) -> None:
    """One QUORUM add of ``delta`` to every key through ``node_id``."""
    with only(local.node(node_id).address, token) as client:
        data = client.dataset(ds)
        for key in KEYS:
            data.add(key, "n", delta, consistency=Q)
            expected[key] = expected.get(key, 0) + delta


def local_values(local, node_id: int, token: str, ds: str) -> dict[str, int]:
    """Every key's counter as ``node_id`` holds it (ONE through itself: no repair)."""
    with only(local.node(node_id).address, token) as client:
        data = client.dataset(ds)
        return {key: data.counter(key, "n", consistency=ONE) for key in KEYS}


def test_a_replica_that_missed_increments_gets_them_from_hints(tmp_path):
    local = start_cluster(tmp_path / "c")
    try:
        token, ds = new_dataset(local, kind="counter")
        expected: dict[str, int] = {}
        add_round(local, 1, token, ds, 3, expected)
        local.node(3).kill()
        wait_until_down(local, 3, observer=1)
        add_round(local, 1, token, ds, -5, expected)
        add_round(local, 2, token, ds, 11, expected)
        local.node(3).start()
        wait_until_up(local, 3)
        assert eventually(lambda: local_values(local, 3, token, ds) == expected, timeout=30)
        add_round(local, 3, token, ds, 1, expected)  # node 3 owns shards again
        for node_id in (1, 2, 3):
            assert eventually(lambda: local_values(local, node_id, token, ds) == expected,
                              timeout=30)
    finally:
        local.stop()


@pytest.fixture(scope="module")
def quiet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    """A cluster with hints and background repair off: what a replica misses stays
    missed until a read or `manhattan repair` brings it (tests restart what they kill)."""
    local = start_cluster(tmp_path_factory.mktemp("quiet"), cluster={"max_hints_per_peer": 0},
                          repair={"enabled": False})
    try:
        yield local
    finally:
        local.stop()


def test_diverged_replicas_merge_on_read_and_converge_on_repair(quiet: LocalCluster):
    local = quiet
    token, ds = new_dataset(local, kind="counter")
    expected: dict[str, int] = {}
    add_round(local, 1, token, ds, 2, expected)
    local.node(3).kill()                       # node 3 misses these for good
    wait_until_down(local, 3, observer=1)
    add_round(local, 1, token, ds, 7, expected)
    local.node(3).start()
    wait_until_up(local, 3)
    local.node(1).kill()                       # and node 1 misses these
    wait_until_down(local, 1, observer=2)
    add_round(local, 2, token, ds, -4, expected)
    local.node(1).start()
    wait_until_up(local, 1)
    # Node 1 really diverged (it was down for the last round, and nothing read through it
    # since). Node 3 may already hold everything: the last round's adds read it as part of
    # their quorum, and their blocking read repair brought it up to date.
    assert local_values(local, 1, token, ds) != expected
    result = run_cli(local, "repair", "--dataset", ds, "-o", "json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["exchanges_failed"] == 0
    for node_id in (1, 2, 3):
        assert local_values(local, node_id, token, ds) == expected, node_id
    again = json.loads(run_cli(local, "repair", "--dataset", ds, "-o", "json").stdout)
    assert again["records_exchanged"] == 0 and again["ranges_differing"] == 0


def test_a_quorum_read_merges_replicas_that_each_lack_increments(quiet: LocalCluster):
    local = quiet
    try:
        token, ds = new_dataset(local, kind="counter")
        expected: dict[str, int] = {}
        local.node(3).kill()
        wait_until_down(local, 3, observer=1)
        add_round(local, 1, token, ds, 5, expected)   # on nodes 1 and 2 only
        local.node(3).start()
        wait_until_up(local, 3)
        local.node(2).kill()
        wait_until_down(local, 2, observer=1)
        add_round(local, 1, token, ds, 6, expected)   # on nodes 1 and 3 only
        local.node(1).kill()
        local.node(2).start()
        wait_until_up(local, 2, observer=3)
        # Nodes 2 and 3 each lack one round: a QUORUM read merges them.
        with only(local.node(3).address, token) as client:
            data = client.dataset(ds)
            # 30 s: the blocking read repair meets a node restarted a moment ago
            assert {key: data.counter(key, "n", consistency=Q, timeout=30)
                    for key in KEYS} == expected
        # ... and its blocking read repair left the full state on both.
        assert local_values(local, 3, token, ds) == expected
        assert local_values(local, 2, token, ds) == expected
    finally:
        for node_id in (1, 2, 3):  # the module's next test finds every node up
            if local.node(node_id).pid is None:
                local.node(node_id).start()
