"""The capacity and growth suites in --quick mode: structure only, never speed."""

from __future__ import annotations

import math

import pytest

from manhattan.bench.capacity import GET, M_RF2, M_RF2_SYNC, M_RF3, PUT, PUT_MANY, QUICK_LEVELS, \
    R_ASYNC, R_SYNC


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_quick_capacity_rows_levels_peaks_and_like_for_like_ratios(quick_run) -> None:
    data = quick_run.result("capacity")
    rows = {(r["workload"], r["system"]): r for r in data["rows"]}
    skipped = " ".join(n for n in data["notes"] if "skipped" in n)
    wanted = [(GET, M_RF2), (GET, M_RF3), (PUT, M_RF2), (PUT, M_RF2_SYNC), (PUT, M_RF3),
              (PUT_MANY, M_RF2), (PUT_MANY, M_RF3)]
    peers = [(GET, R_ASYNC), (PUT, R_ASYNC), (PUT, R_SYNC), (PUT_MANY, R_ASYNC)]
    wanted += [pair for pair in peers if f"{pair[1]} skipped" not in skipped]
    for workload, system in wanted:
        for level in QUICK_LEVELS:
            row = rows[(f"{workload}, {level} callers", system)]
            assert row["runs"] and all(rate > 0 for rate in row["runs"]), row
            # server CPU comes from /proc ticks (10 ms): a short phase of a frugal server
            # (Redis, a few dozen fsynced writes) can round to 0; three Python nodes cannot
            assert row["cpu_server_us"] > 0 if system.startswith("manhattan") \
                else row["cpu_server_us"] >= 0, row
            assert row["cpu_client_us"] > 0, row
        peak = rows[(f"{workload}, peak", system)]
        best = max(rows[(f"{workload}, {n} callers", system)]["median"] for n in QUICK_LEVELS)
        assert peak["median"] == pytest.approx(best)
        assert all(math.isfinite(peak["latency_us"][p]) for p in ("p50_us", "p99_us")), peak
        assert "paced at 70%" in peak["note"]
    names = {r["name"] for r in data["ratios"]}
    if not skipped:
        assert f"{PUT}, peak: {M_RF2_SYNC} / {R_SYNC}" in names
        assert f"{GET}, peak: {M_RF2} / {R_ASYNC}" in names
        assert f"{PUT_MANY}, peak: {M_RF3} / {R_ASYNC}" in names
    assert {r["unit"] for r in data["rows"] if r["workload"].startswith(PUT_MANY)} == {"records"}
    assert any("load average" in note for note in data["notes"])


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_quick_growth_measures_each_size_and_the_ring_movement(quick_run) -> None:
    data = quick_run.result("growth")
    assert data["rows"], data["notes"]
    for row in data["rows"]:
        assert row["runs"] and all(rate > 0 for rate in row["runs"]), row
        assert math.isfinite(row["latency_us"]["p50_us"])
    moved = [r for r in data["ratios"] if r["name"].startswith("keys moved")]
    assert len(moved) == 4
    assert all(0.5 < r["value"] < 1.5 for r in moved), moved  # near the ideal 1/(n+1)
