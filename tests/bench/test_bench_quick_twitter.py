"""``bench/run.py --quick --suite twitter`` runs end to end: every system measured, the
contract JSON and the report written under --out, never over the repo's. Structure only:
nothing here looks at speed."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

SYSTEMS = ("manhattan", "redis-cluster", "redis")
WORKLOADS = ("fan-out", "home page", "mixed 100:1", "post", "post (8 callers)")


@pytest.fixture(scope="module")
def twitter_run(quick_run) -> tuple[Path, dict]:
    assert quick_run.repo_untouched  # a quick run never rewrites the repo's results
    return quick_run.out, json.loads((quick_run.out / "results" / "twitter.json").read_text())


def test_every_system_has_every_workload_with_a_positive_rate(twitter_run) -> None:
    _, data = twitter_run
    skipped = any("skipped" in note for note in data["notes"])
    systems = ("manhattan",) if skipped else SYSTEMS
    rows = {(r["workload"], r["system"]): r for r in data["rows"]}
    for system in systems:
        assert system in data["versions"]
        for workload in WORKLOADS:
            row = rows[(workload, system)]
            assert row["runs"] and all(rate > 0 for rate in row["runs"]), row
            assert row["median"] > 0
            if workload != "fan-out":  # fan-out is a rate over a drain, not per call
                assert set(row["latency_us"]) == {"p50_us", "p95_us", "p99_us", "p999_us"}
                assert all(math.isfinite(v) and v > 0 for v in row["latency_us"].values())


def test_ratios_against_redis_cluster_carry_the_targets(twitter_run) -> None:
    _, data = twitter_run
    if any("skipped" in note for note in data["notes"]):
        pytest.skip("Redis is not installed here: " + "; ".join(data["notes"]))
    targets = {r["name"]: r["target"] for r in data["ratios"]}
    assert targets["fan-out: Manhattan / redis-cluster"] == 1.0
    assert targets["home page: Manhattan / redis-cluster"] == 1.0
    assert targets["post (8 callers): Manhattan / redis-cluster"] == 0.3
    assert "home page: Manhattan / redis" in targets
    assert all(math.isfinite(r["value"]) and r["value"] > 0 for r in data["ratios"])


def test_report_is_rendered_under_out(twitter_run) -> None:
    out, _ = twitter_run
    text = (out / "BENCHMARKS.md").read_text()
    assert "## Twitter workload" in text and "## Machine" in text
    assert (out / "plots" / "twitter-throughput.png").exists()
    assert (out / "plots" / "twitter-latency.png").exists()
    assert (out / "results" / "latest.json").exists()
