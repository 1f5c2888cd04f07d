"""``manhattan bench ycsb`` against a real 3-node cluster (small numbers)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from click.testing import CliRunner

from manhattan.cli.main import cli
from manhattan.node.local_cluster import LocalCluster


@pytest.fixture(scope="module")
def local(tmp_path_factory) -> Iterator[LocalCluster]:
    """Three nodes on free ports, converged, stopped by PID."""
    cluster = LocalCluster(tmp_path_factory.mktemp("bench-cli"), nodes=3, base_port=None)
    cluster.start().wait_converged()
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def run(local, monkeypatch, tmp_path):
    for var in ("MANHATTAN_ENDPOINTS", "MANHATTAN_TOKEN", "MANHATTAN_CLUSTER_FILE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.chdir(tmp_path)

    def invoke(*args: str):
        return CliRunner().invoke(cli, ["--endpoints", ",".join(local.endpoints),
                                        "--token", local.admin_token, "bench", "ycsb", *args])
    return invoke


def test_ycsb_json_every_workload(run):
    result = run("--dataset", "ycsb1", "--create", "--tenant", "bench-cli", "--rf", "3",
                 "-w", "A,B,C", "-w", "D", "-w", "E", "-w", "F", "--records", "300",
                 "--operations", "40", "--consistency", "quorum", "--value-size", "100",
                 "--seed", "3", "-o", "json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    # QUORUM reads after QUORUM writes (R+W>N): no read may miss a loaded or inserted
    # record (at ONE, D's reads of the newest inserts may reach a replica behind).
    assert doc["settings"]["consistency"] == "QUORUM"
    phases = [row["phase"] for row in doc["results"]]
    assert phases == ["load", "A", "B", "C", "D", "E", "F"]
    for row in doc["results"]:
        assert row["count"] > 0 and row["rate_per_s"] > 0
        assert row["p50_us"] <= row["p99_us"] <= row["p999_us"]
        assert row["read_misses"] == 0
    assert doc["results"][0]["count"] == 300


def test_ycsb_table_again_on_the_same_dataset(run):
    result = run("--dataset", "ycsb2", "--create", "--tenant", "bench-cli2", "--records", "50",
                 "--operations", "20", "--consistency", "quorum")
    assert result.exit_code == 0, result.output
    assert "p99.9" in result.output and "load" in result.output
    again = run("--dataset", "ycsb2", "--create", "--tenant", "bench-cli2", "--no-load",
                "--records", "50", "--operations", "20", "-w", "C", "-o", "json")
    assert again.exit_code == 0, again.output
    assert [r["phase"] for r in json.loads(again.output)["results"]] == ["C"]


@pytest.mark.parametrize("args, message", [
    (["-w", "G"], "unknown workload G"),
    (["--value-size", "0"], "MIN <= MAX"),
    (["--value-size", "2000000"], "at most 1 MiB"),
    (["--records", "0"], "x>=1"),
    (["--consistency", "all"], "'all' is not one of"),
    (["--create"], "--create needs --tenant"),
])
def test_ycsb_rejects_bad_input(run, args, message):
    result = run("--dataset", "x", *args)
    assert result.exit_code == 2 and message in result.output, result.output


def test_ycsb_unknown_dataset_is_a_clean_error(run):
    result = run("--dataset", "no-such-dataset", "--records", "5", "--operations", "5")
    assert result.exit_code == 1
    assert "Error" in result.output and "Traceback" not in result.output
