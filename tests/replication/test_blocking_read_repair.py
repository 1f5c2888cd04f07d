"""QUORUM reads never go back in time: read repair of the read's quorum is blocking.

A write in flight reaches one replica only (the other two are SIGSTOPped; hint replay
is held back so it stays that way). A QUORUM read through that replica returns the
new value; at that moment a quorum must hold it, so a second QUORUM read through
either other replica can never return the old value.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from manhattan.client import Consistency
from manhattan.node.local_cluster import LocalCluster
from tests.clusters import (
    new_dataset, only, start_cluster, wait_until_down, wait_until_up,
)

ROUNDS = 12
# The read through node 1 gets one attempt: its own read repair must succeed, not a
# retry that finds the replicas already agreeing (a repair that applied everything
# once counted as failed, and only the SDK's retry hid it).
FIRST_READ_TIMEOUT_S = 30.0


@pytest.fixture(scope="module")
def cluster(tmp_path_factory) -> Iterator[LocalCluster]:
    # Hints are not replayed during the test: the new value stays on one replica until
    # a read repairs it.
    local = start_cluster(tmp_path_factory.mktemp("blocking"),
                          cluster={"hint_replay_interval_s": 3600.0})
    try:
        yield local
    finally:
        local.stop()


def write_on_node_1_only(cluster: LocalCluster, first, keys: list[tuple[str, str]]) -> None:
    """"old" everywhere, then "new" on node 1 alone (nodes 2 and 3 SIGSTOPped meanwhile,
    seen down, so they get hints that are not replayed during the test)."""
    first.put_many([(p, l, "old") for p, l in keys], consistency=Consistency.ALL, timeout=60)
    for node_id in (2, 3):
        os.kill(cluster.node(node_id).pid, signal.SIGSTOP)
    try:
        wait_until_down(cluster, 2, observer=1)
        wait_until_down(cluster, 3, observer=1)
        first.put_many([(p, l, "new") for p, l in keys], consistency=Consistency.ONE)
    finally:
        for node_id in (2, 3):
            os.kill(cluster.node(node_id).pid, signal.SIGCONT)
    for node_id in (2, 3):
        wait_until_up(cluster, node_id, observer=1)
        wait_until_up(cluster, 1, observer=node_id)


def test_after_a_quorum_read_returned_the_new_value_no_quorum_read_returns_the_old(
        cluster: LocalCluster) -> None:
    token, name = new_dataset(cluster)
    keys = [("reg", f"k{i}") for i in range(ROUNDS)]
    one, two, three = (only(cluster.node(i).address, token) for i in (1, 2, 3))
    once = only(cluster.node(1).address, token, attempts=1)
    with one, two, three, once, ThreadPoolExecutor(2) as pool:
        write_on_node_1_only(cluster, one.dataset(name), keys)
        first = once.dataset(name)
        others = [two.dataset(name), three.dataset(name)]
        for pkey, lkey in keys:
            assert first.get(pkey, lkey, consistency=Consistency.QUORUM,
                             timeout=FIRST_READ_TIMEOUT_S).value == b"new"
            # At once, what each other replica holds itself (ONE: its own copy) and what
            # a QUORUM read through it returns: one of them holds the new value, and
            # neither QUORUM read goes back to the old one.
            held = list(pool.map(lambda ds: ds.get(pkey, lkey, consistency=Consistency.ONE),
                                 others))
            assert b"new" in [r.value for r in held], (pkey, lkey, held)
            later = list(pool.map(
                lambda ds: ds.get(pkey, lkey, consistency=Consistency.QUORUM), others))
            assert [r.value for r in later] == [b"new", b"new"], (pkey, lkey, later)


def test_after_a_quorum_scan_returned_new_values_no_quorum_scan_returns_old_ones(
        cluster: LocalCluster) -> None:
    token, name = new_dataset(cluster)
    pkeys = [f"scan{i}" for i in range(ROUNDS)]
    one, two, three = (only(cluster.node(i).address, token) for i in (1, 2, 3))
    once = only(cluster.node(1).address, token, attempts=1)
    with one, two, three, once, ThreadPoolExecutor(2) as pool:
        write_on_node_1_only(cluster, one.dataset(name),
                             [(p, f"l{j}") for p in pkeys for j in range(3)])
        first = once.dataset(name)
        others = [two.dataset(name), three.dataset(name)]
        for pkey in pkeys:
            page = first.scan(pkey, consistency=Consistency.QUORUM, timeout=FIRST_READ_TIMEOUT_S)
            assert [r.value for r in page] == [b"new"] * 3
            held = list(pool.map(lambda ds: ds.scan(pkey, consistency=Consistency.ONE), others))
            assert [b"new"] * 3 in [[r.value for r in page] for page in held], (pkey, held)
            later = list(pool.map(lambda ds: ds.scan(pkey, consistency=Consistency.QUORUM),
                                  others))
            assert [[r.value for r in page] for page in later] == [[b"new"] * 3] * 2, later
