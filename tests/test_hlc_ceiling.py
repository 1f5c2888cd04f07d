"""The HLC never goes back across restarts and clock steps back (persisted ceiling),
and a node far ahead of its peers' clocks is told so (heartbeat drift)."""

from __future__ import annotations

import time

from hypothesis import given, settings
from hypothesis import strategies as st

from manhattan.cluster.clock_drift import ClockDrift
from manhattan.hlc import Ceiling, HybridClock, pack, physical_ms


@settings(max_examples=50, deadline=None)
@given(steps=st.lists(st.tuples(st.integers(-10_000, 10_000), st.integers(1, 50)),
                      min_size=1, max_size=8))
def test_restarts_with_the_clock_stepped_anywhere_never_reissue_a_lower_timestamp(
        tmp_path_factory, steps) -> None:
    path = tmp_path_factory.mktemp("hlc") / "hlc.ceiling"
    wall = [1_700_000_000_000]
    highest = 0
    for step_ms, issued in steps:
        wall[0] += step_ms  # the clock moved (maybe back) while the node was down
        clock = HybridClock(lambda: wall[0], ceiling=Ceiling(path), reserve_ms=2_000)
        for _ in range(issued):
            stamp = clock.now()
            assert stamp > highest
            highest = stamp


def test_the_ceiling_is_persisted_once_per_reserve_window(tmp_path) -> None:
    wall = [1_700_000_000_000]
    ceiling = Ceiling(tmp_path / "hlc.ceiling")
    clock = HybridClock(lambda: wall[0], ceiling=ceiling, reserve_ms=2_000)
    for _ in range(1_000):
        clock.now()
        wall[0] += 1  # one second of timestamps, one per ms
    assert ceiling.persists == 1
    assert ceiling.load() == 1_700_000_000_000 + 2_000
    wall[0] += 2_000
    clock.now()
    assert ceiling.persists == 2


def test_the_next_window_is_persisted_in_the_background_half_a_window_early(tmp_path) -> None:
    wall = [1_700_000_000_000]
    ceiling = Ceiling(tmp_path / "hlc.ceiling")
    clock = HybridClock(lambda: wall[0], ceiling=ceiling, reserve_ms=2_000)
    clock.now()                       # start-up: one inline persist, up to +2 s
    wall[0] += 1_500                  # past half the window, still below the ceiling
    clock.now()
    deadline = time.monotonic() + 10
    while ceiling.persists < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert ceiling.load() == 1_700_000_000_000 + 3_500 and ceiling.persists == 2
    wall[0] += 1_000                  # inside the renewed window: nothing to persist
    clock.now()
    assert ceiling.persists == 2


def test_absorbed_timestamps_are_covered_by_the_ceiling(tmp_path) -> None:
    wall = [1_700_000_000_000]
    clock = HybridClock(lambda: wall[0], ceiling=Ceiling(tmp_path / "c"), max_skew_ms=60_000)
    clock.observe(pack(wall[0] + 30_000))
    restarted = HybridClock(lambda: wall[0], ceiling=Ceiling(tmp_path / "c"))
    assert physical_ms(restarted.now()) > wall[0] + 30_000


def test_drift_refuses_while_ahead_of_the_median_peer_and_recovers() -> None:
    now = [0.0]
    drift = ClockDrift(max_drift_ms=1_000, monotonic=lambda: now[0])
    drift.sample(2, 10_000, 12_990, 13_010)   # peer 2 is 3 s behind us
    drift.sample(3, 10_000, 12_990, 13_010)
    assert drift.refusing and "3000 ms ahead" in (drift.refusal() or "")
    drift.sample(2, 13_000, 12_990, 13_010)   # our clock is back
    drift.sample(3, 13_050, 12_990, 13_010)
    assert drift.refusal() is None and not drift.refusing
    drift.sample(2, 0, 1, 2)                  # a peer that sends no clock is ignored
    assert abs(drift.ahead_ms()) < 100
