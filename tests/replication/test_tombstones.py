"""Deleted data never comes back, with a tombstone grace period of a few seconds.

A replica down past the grace period returns to hints older than the grace (its
peers may have purged tombstones newer than them): they are dropped, counted, and
repair brings it up to date; a snapshot older than the grace is refused for one node.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator

import pytest
from click.testing import CliRunner

from manhattan.cli.main import cli
from manhattan.client import Consistency, Delete, Put
from manhattan.client.ops import ClusterOps
from manhattan.node.local_cluster import LocalCluster
from tests.clusters import (
    eventually, new_dataset, only, start_cluster, wait_until_down, wait_until_up,
)
from tests.ops.conftest import scrape, value

GRACE_S = 3.0


@pytest.fixture(scope="module")
def cluster(tmp_path_factory) -> Iterator[LocalCluster]:
    local = start_cluster(tmp_path_factory.mktemp("tombstones"),
                          storage={"tombstone_grace_s": GRACE_S, "purge_interval_s": 0.5},
                          # hints expire max_skew_ms before the grace: keep that small here
                          clock={"max_skew_ms": 500})
    try:
        yield local
    finally:
        local.stop()


def test_deletes_while_a_replica_is_down_past_the_grace_never_come_back(
        cluster: LocalCluster) -> None:
    token, name = new_dataset(cluster)
    coordinator = cluster.node(1).address
    down = cluster.node(3)
    old = [Put("gone", f"old{i:02d}", f"v{i}") for i in range(30)]
    late = [Put("gone", f"late{i:02d}", f"w{i}") for i in range(20)]
    with only(coordinator, token) as client:
        ds = client.dataset(name)
        ds.put_many(old, consistency=Consistency.ALL)  # node 3 holds the old values
        os.kill(down.pid, signal.SIGSTOP)
        try:
            wait_until_down(cluster, 3, observer=1)
            wait_until_down(cluster, 3, observer=2)
            # Hinted for node 3: the late values, then the tombstones of everything.
            ds.put_many(late, consistency=Consistency.QUORUM)
            ds.put_many([Delete(p.pkey, p.lkey) for p in old + late],
                        consistency=Consistency.QUORUM)
            with only(coordinator, cluster.admin_token) as admin:
                before = admin.admin.node_info()
            assert before.hints_pending.get(3, 0) >= 70
            time.sleep(GRACE_S + 1.5)  # node 3 stays down past the grace period
        finally:
            os.kill(down.pid, signal.SIGCONT)
        wait_until_up(cluster, 3)
        with only(coordinator, cluster.admin_token) as admin:
            # Every hint outlived the grace: dropped unsent, counted as expired.
            assert eventually(lambda: admin.admin.node_info().hints_pending.get(3, 0) == 0)
            info = admin.admin.node_info()
            assert info.hints_replayed == before.hints_replayed
            assert info.hints_dropped >= before.hints_dropped + 70
            expired = value(scrape(info.metrics_address), "manhattan_hints_expired_total",
                            peer="3")
            assert expired >= 70
            for _ in range(2):  # repairs run (and purges between them): nothing comes back
                for _progress in ClusterOps(admin).repair(name):
                    pass
                time.sleep(1.0)
                keys = [(p.pkey, p.lkey) for p in old + late]
                assert ds.get_many(keys, consistency=Consistency.ALL) == [None] * len(keys)
                for node in cluster.nodes:
                    with only(node.address, token) as direct:
                        found = direct.dataset(name).get_many(keys, consistency=Consistency.ONE)
                        assert found == [None] * len(keys), f"node {node.node_id} resurrected"


def test_a_snapshot_older_than_the_grace_is_refused_for_one_node_naming_the_replace(
        cluster: LocalCluster) -> None:
    def manhattan(*args: str):
        return CliRunner().invoke(cli, ["--endpoints", ",".join(cluster.endpoints),
                                        "--token", cluster.admin_token, *args])

    made = manhattan("snapshot", "create", "aged")
    assert made.exit_code == 0, made.output
    time.sleep(GRACE_S + 1)
    node2 = cluster.data_dir / "node2"
    refused = manhattan("snapshot", "restore", "aged", "--data-dir", str(node2), "--force")
    assert refused.exit_code != 0
    assert "older than storage.tombstone_grace_s" in refused.output, refused.output
    assert "manhattan node replace 2" in refused.output, refused.output
    fresh = manhattan("snapshot", "create", "fresh")
    assert fresh.exit_code == 0, fresh.output
    # A fresh one passes the age check (and is then refused only because node 2 runs).
    running = manhattan("snapshot", "restore", "fresh", "--data-dir", str(node2), "--force")
    assert running.exit_code != 0 and "stop it first" in running.output, running.output
