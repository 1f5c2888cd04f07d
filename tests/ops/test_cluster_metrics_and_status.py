"""On a 3-node cluster: hint, replication and read-repair metrics, and `manhattan status`.

Hint replay is slowed to once an hour here, so hints written while a node is down
stay pending (for the gauges and status to show) and that node stays stale after
it returns (so a read at ALL has something to repair).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator

import pytest
from click.testing import CliRunner

from manhattan.cli.main import cli
from manhattan.client import Consistency, Put
from manhattan.node.local_cluster import LocalCluster
from tests.clusters import (
    eventually, new_dataset, only, start_cluster, wait_until_down, wait_until_up,
)
from tests.ops.conftest import node_info, scrape, value

WRITES = 30


@pytest.fixture(scope="module")
def cluster(tmp_path_factory) -> Iterator[LocalCluster]:
    local = start_cluster(tmp_path_factory.mktemp("ops-cluster"),
                          cluster={"hint_replay_interval_s": 3600})
    try:
        yield local
    finally:
        local.stop()


def status_json(local: LocalCluster) -> list[dict]:
    result = CliRunner().invoke(cli, ["--endpoints", local.node(1).address,
                                      "--token", local.admin_token, "status", "-o", "json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def metrics_of(local: LocalCluster, node_id: int) -> str:
    return node_info(local.node(node_id).address, local.admin_token).metrics_address


def test_cluster_file_and_nodeinfo_name_the_same_metrics_endpoints(cluster: LocalCluster) -> None:
    from manhattan.node.cluster_file import read_cluster_file
    listed = read_cluster_file(cluster.data_dir / "cluster.toml")["metrics"]
    assert listed == [metrics_of(cluster, n.node_id) for n in cluster.nodes]


def test_replica_write_latency_is_recorded_per_peer(cluster: LocalCluster) -> None:
    token, dataset = new_dataset(cluster)
    address = metrics_of(cluster, 1)
    before = scrape(address)
    with only(cluster.node(1).address, token) as client:
        client.dataset(dataset).put_many([Put(f"u{i}", "l", "v") for i in range(WRITES)],
                                         consistency=Consistency.ALL, timeout=30)
    after = scrape(address)
    for peer in ("2", "3"):
        grew = (value(after, "manhattan_replica_write_duration_seconds_count", peer=peer)
                - value(before, "manhattan_replica_write_duration_seconds_count", peer=peer))
        assert grew >= 1, f"no replica write to node {peer} was timed"


def test_hints_read_repairs_and_status_follow_a_node_outage(cluster: LocalCluster) -> None:
    token, dataset = new_dataset(cluster)
    address = metrics_of(cluster, 1)
    before = scrape(address)
    keys = [(f"h{i}", "l") for i in range(WRITES)]
    cluster.node(3).stop()
    wait_until_down(cluster, 3, observer=1)
    try:
        with only(cluster.node(1).address, token) as client:
            for pkey, lkey in keys:
                client.dataset(dataset).put(pkey, lkey, "v", consistency=Consistency.QUORUM)
        during = scrape(address)
        pending = (value(during, "manhattan_hints_pending", peer="3")
                   - value(before, "manhattan_hints_pending", peer="3"))
        assert pending == WRITES

        rows = {row["id"]: row for row in status_json(cluster)}
        assert rows[3]["status"] == "down" and rows[3]["node"] is None
        assert rows[1]["node"]["hints_pending_by_peer"]["3"] >= WRITES
    finally:
        cluster.node(3).start()
    wait_until_up(cluster, 3)

    after_restart = scrape(address)
    assert value(after_restart, "manhattan_hints_pending", peer="3") >= WRITES  # replay is slow
    # ... and `manhattan status` shows them on node 1 with node 3 back up.
    def rows_once_node_3_answers() -> dict[int, dict] | None:
        """The status rows once node 3 answers the CLI's NodeInfo (a node restarted on a
        loaded box may miss the status call's short deadline once)."""
        rows = {row["id"]: row for row in status_json(cluster)}
        return rows if rows[3]["status"] == "up" else None

    assert eventually(lambda: rows_once_node_3_answers() is not None, timeout=30)
    rows = rows_once_node_3_answers() or {}
    assert rows[1]["node"]["hints_pending"] >= WRITES
    assert value(after_restart, "manhattan_hints_oldest_age_seconds", peer="3") > 0

    repairs_before = value(after_restart, "manhattan_read_repairs_total")
    with only(cluster.node(1).address, token) as client:
        records = client.dataset(dataset).get_many(keys, consistency=Consistency.ALL)
    assert all(r is not None for r in records)
    assert eventually(lambda: value(scrape(address), "manhattan_read_repairs_total")
                      - repairs_before == WRITES)
    assert node_info(cluster.node(1).address, cluster.admin_token).read_repairs >= WRITES


def test_status_json_reports_load_hints_repair_streaming_and_metrics_per_node(
        cluster: LocalCluster) -> None:
    # Every node serves requests more than a second apart (the rate samples its running
    # total once a second), so each has served some within its one-minute window.
    for _ in range(3):
        for member in cluster.nodes:
            node_info(member.address, cluster.admin_token)
        time.sleep(0.6)
    rows = status_json(cluster)
    assert sorted(row["id"] for row in rows) == [1, 2, 3]
    for row in rows:
        assert row["status"] == "up" and row["state"] == "normal"
        node = row["node"]
        assert node["requests_total"] >= 3
        assert node["requests_per_second"] > 0
        assert set(node["repair"]) == {"running", "progress", "keys_compared",
                                       "ranges_differing", "records_exchanged",
                                       "last_completed_ms"}
        assert set(node["streaming"]) == {"active", "progress", "records", "bytes"}
        assert node["metrics_address"] == metrics_of(cluster, row["id"])
        assert 0 < row["ownership"] <= 1
        assert node["hints_pending"] >= 0 and node["hints_dropped"] >= 0


def test_status_table_shows_the_ops_columns(cluster: LocalCluster) -> None:
    result = CliRunner().invoke(cli, ["--endpoints", cluster.node(1).address,
                                      "--token", cluster.admin_token, "status"],
                                env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    from tests.cli.tables import read_table
    rows = read_table(result.output, ["id", "req/s", "hints", "repair", "stream"], title=True)
    # repair and streaming state of each node (background anti-entropy may be running)
    states = [state for row in rows for state in row[3:]]
    assert len(states) == 6 and all(re.fullmatch(r"idle|\d+%|\d+x \d+%", s) for s in states), \
        result.output
