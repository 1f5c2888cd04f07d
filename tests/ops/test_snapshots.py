"""Snapshots of a 3-node cluster: create, list, wipe, restore, every record back."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from manhattan.cli.main import cli
from manhattan.client import Client, Consistency, Delete, Put
from manhattan.node.local_cluster import LocalCluster
from tests.clusters import new_dataset, only, start_cluster, wait_until_up

RECORDS = 300


@pytest.fixture(scope="module")
def cluster(tmp_path_factory) -> Iterator[LocalCluster]:
    local = start_cluster(tmp_path_factory.mktemp("snapshots"))
    try:
        yield local
    finally:
        local.stop()


def manhattan(local: LocalCluster, *args: str):
    """Run the CLI against the cluster; returns click's result."""
    return CliRunner().invoke(cli, ["--endpoints", ",".join(local.endpoints),
                                    "--token", local.admin_token, *args])


def json_out(result) -> list[dict]:
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def keys(prefix: str, count: int) -> list[tuple[str, str]]:
    return [(f"{prefix}-user{i % 37}", f"item{i:04d}") for i in range(count)]


def test_snapshot_wipe_restore_brings_back_every_record_and_nothing_later(
        cluster: LocalCluster, tmp_path: Path) -> None:
    token, dataset = new_dataset(cluster)
    before = keys("before", RECORDS)
    with Client(cluster.endpoints, token=token) as client:
        ds = client.dataset(dataset)
        # ALL: every node holds every record when the snapshot is taken (the per-node
        # check below reads each node's own copy)
        ds.put_many([Put(p, l, f"value-{p}-{l}") for p, l in before],
                    consistency=Consistency.ALL, timeout=60)

        created = json_out(manhattan(cluster, "snapshot", "create", "s1", "-o", "json"))
        assert sorted(row["node"] for row in created) == [1, 2, 3]

        # Changes after the snapshot must not survive the restore.
        later = keys("after", 40)
        ds.put_many([Put(p, l, "later") for p, l in later], consistency=Consistency.QUORUM)
        ds.put_many([Delete(*before[0])], consistency=Consistency.QUORUM)

    listed = json_out(manhattan(cluster, "snapshot", "list", "-o", "json"))
    assert sorted((row["name"], row["node"]) for row in listed) == [("s1", 1), ("s1", 2), ("s1", 3)]
    for row in listed:
        assert row["complete"] is True and row["size_bytes"] > 0 and row["created_at_ms"] > 0
        assert dataset in row["datasets"]

    refused = manhattan(cluster, "snapshot", "restore", "s1", "--data-dir", str(cluster.data_dir))
    assert refused.exit_code != 0 and "stop it first" in refused.output

    cluster.stop()
    # Node 1 loses its whole data dir (snapshots too) and is restored from a backup
    # copy; nodes 2 and 3 lose their database and are restored from their own dirs.
    backup = tmp_path / "backup-node1-s1"
    shutil.copytree(cluster.data_dir / "node1" / "snapshots" / "s1", backup)
    shutil.rmtree(cluster.data_dir / "node1")
    for node_id in (2, 3):
        shutil.rmtree(cluster.data_dir / f"node{node_id}" / "db")
    restored = json_out(manhattan(cluster, "snapshot", "restore", "s1", "--from", str(backup),
                                  "--data-dir", str(cluster.data_dir / "node1"), "-o", "json"))
    assert [row["node"] for row in restored] == [1]
    for node_id in (2, 3):
        restored = json_out(manhattan(cluster, "snapshot", "restore", "s1", "--data-dir",
                                      str(cluster.data_dir / f"node{node_id}"), "-o", "json"))
        assert [row["node"] for row in restored] == [node_id]

    cluster.start()
    for node in cluster.nodes:
        wait_until_up(cluster, node.node_id)
    with Client(cluster.endpoints, token=token) as client:
        ds = client.dataset(dataset)
        records = ds.get_many(before, consistency=Consistency.QUORUM)
        assert [r.value.decode() if r else None for r in records] == \
            [f"value-{p}-{l}" for p, l in before]
        assert ds.get_many(later, consistency=Consistency.QUORUM) == [None] * len(later)
        for node in cluster.nodes:  # each node's own checkpoint holds every record
            with only(node.address, token) as one:
                page = one.dataset(dataset).get_many(before[:50], consistency=Consistency.ONE)
                assert all(r is not None for r in page)


def test_restore_refuses_a_database_without_force_and_another_nodes_snapshot(
        cluster: LocalCluster) -> None:
    # its own snapshot: the test depends on no other test's
    json_out(manhattan(cluster, "snapshot", "create", "s-force", "-o", "json"))
    cluster.stop()
    try:
        node2 = cluster.data_dir / "node2"
        kept = manhattan(cluster, "snapshot", "restore", "s-force", "--data-dir", str(node2))
        assert kept.exit_code != 0 and "--force" in kept.output, kept.output
        wrong = manhattan(cluster, "snapshot", "restore", "s-force", "--data-dir", str(node2),
                          "--from", str(cluster.data_dir / "node3" / "snapshots" / "s-force"),
                          "--force")
        assert wrong.exit_code != 0 and "snapshot of node 3, not of node2" in wrong.output, \
            wrong.output
        forced = json_out(manhattan(cluster, "snapshot", "restore", "s-force", "--data-dir",
                                    str(node2), "--force", "-o", "json"))
        assert forced[0]["previous_db"] and Path(forced[0]["previous_db"]).is_dir()
    finally:
        cluster.start()
        for node in cluster.nodes:
            wait_until_up(cluster, node.node_id)


def test_snapshot_names_are_checked_and_never_reused(cluster: LocalCluster) -> None:
    bad = manhattan(cluster, "snapshot", "create", "../escape")
    assert bad.exit_code != 0 and "not valid" in bad.output, bad.output
    first = manhattan(cluster, "snapshot", "create", "reused")
    assert first.exit_code == 0, first.output
    again = manhattan(cluster, "snapshot", "create", "reused")
    assert again.exit_code != 0 and "already exists" in again.output, again.output
    deleted = manhattan(cluster, "snapshot", "delete", "reused")
    assert deleted.exit_code == 0, deleted.output
    listed = json_out(manhattan(cluster, "snapshot", "list", "-o", "json"))
    assert "reused" not in {row["name"] for row in listed}, listed
