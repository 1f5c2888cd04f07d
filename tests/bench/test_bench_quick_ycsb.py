"""The ycsb and targets suites in --quick mode: structure only, never speed."""

from __future__ import annotations

import json
import math

import pytest

PERCENTILES = ("p50_us", "p95_us", "p99_us", "p999_us")


def _check_rows(doc: dict) -> None:
    for row in doc["rows"]:
        assert row["runs"] and all(rate > 0 for rate in row["runs"]), row
        assert all(math.isfinite(row["latency_us"][p]) for p in PERCENTILES), row
        assert row["cpu_client_us"] is not None


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_quick_ycsb_and_targets(quick_run):
    out = quick_run.out
    legacy = json.loads(quick_run.legacy_json.read_text())
    assert {"ycsb", "targets"} <= set(legacy["suites"])

    ycsb = json.loads((out / "results" / "ycsb.json").read_text())
    assert ycsb["suite"] == "ycsb" and ycsb["notes"]
    _check_rows(ycsb)
    systems = {r["system"] for r in ycsb["rows"]}
    skipped = " ".join(n for n in ycsb["notes"] if "skipped" in n)
    for system in ("manhattan ONE", "manhattan QUORUM", "rocksdict in-process"):
        assert system in systems
    for peer in ("redis", "redis-cluster", "etcd"):
        assert peer in systems or f"{peer} skipped" in skipped  # no root/apt: a note
    for system in systems:
        assert {r["workload"] for r in ycsb["rows"] if r["system"] == system} == set("ABCDEF")
    assert set(ycsb["versions"]) == systems
    ratio_names = {r["name"] for r in ycsb["ratios"]}
    for workload in "ABCDEF":
        assert f"YCSB {workload}: manhattan ONE / rocksdict in-process" in ratio_names
        if "redis-cluster" in systems:
            assert f"YCSB {workload}: manhattan QUORUM / redis-cluster" in ratio_names

    targets = json.loads((out / "results" / "targets.json").read_text())
    assert targets["suite"] == "targets"
    _check_rows(targets)
    pairs = {(r["workload"], r["system"]) for r in targets["rows"]}
    assert {("get 100 B", "grpc echo"), ("get 100 B", "manhattan ONE"),
            ("put 100 B", "manhattan QUORUM SYNC"),
            ("put_many x100", "manhattan QUORUM BUFFERED")} <= pairs
    names = {r["name"] for r in targets["ratios"]}
    assert "get ONE / grpc echo" in names
    if ("get 100 B", "etcd (linearizable)") in pairs:
        assert {"get ONE / etcd linearizable get", "get ONE / etcd serializable get",
                "put QUORUM SYNC / etcd put"} <= names
    if ("put_many x100", "redis-cluster pipeline") in pairs:
        assert "put_many x100 QUORUM / Redis Cluster pipeline x100" in names
    for r in targets["ratios"]:
        assert math.isfinite(r["value"]) and r["value"] > 0
