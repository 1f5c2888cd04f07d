"""The capacity harness (bench/concurrency.py) and the ring movement share (bench/growth.py):
real client processes, real rings; nothing here looks at the machine's speed beyond
what a sleep guarantees."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from manhattan.bench.concurrency import ClientPool, PhaseSpec, _split, sleep_call
from manhattan.bench.growth import moved_share


@given(callers=st.integers(1, 256), processes=st.integers(1, 8))
def test_callers_are_split_evenly_over_the_processes(callers: int, processes: int) -> None:
    shares = _split(callers, processes)
    assert sum(shares) == callers
    assert all(n >= 1 for n in shares) and len(shares) <= processes
    assert max(shares) - min(shares) <= 1


@pytest.mark.parametrize("kwargs, message", [
    ({"callers": 0, "seconds": 1.0}, "callers"),
    ({"callers": 1, "seconds": 0.0}, "seconds"),
    ({"callers": 1, "seconds": 1.0, "rate": -5.0}, "rate"),
])
def test_a_phase_spec_refuses_nonsense(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        PhaseSpec(sleep_call, {"ms": 1}, **kwargs)


@pytest.fixture(scope="module")
def pool():
    with ClientPool(2) as started:
        yield started


@pytest.mark.timeout(120)
def test_closed_loop_keeps_every_caller_busy_across_both_processes(pool) -> None:
    result = pool.phase(PhaseSpec(sleep_call, {"ms": 20}, callers=8, seconds=1.0))
    assert result.errors == 0
    assert result.latencies.percentile_us(50) >= 20_000  # every call waited its 20 ms
    # 8 callers of 20 ms calls: at most 400 calls/s; at least one call each.
    assert 8 <= result.calls <= 8 * 1.0 / 0.020 + 8
    assert result.rate > 1.5 * (1 / 0.020)  # more than one caller was in flight
    assert result.client_cpu_s >= 0


@pytest.mark.timeout(120)
def test_a_paced_phase_sends_at_the_rate_asked_not_faster(pool) -> None:
    result = pool.phase(PhaseSpec(sleep_call, {"ms": 1}, callers=4, seconds=1.0, rate=40.0))
    assert result.errors == 0
    assert 30 <= result.calls <= 44  # 40/s for 1 s (starts spread over the callers)


def test_a_failing_factory_is_reported_not_hung(pool) -> None:
    with pytest.raises(RuntimeError, match="KeyError"):
        pool.phase(PhaseSpec(sleep_call, {}, callers=1, seconds=0.2))


@settings(max_examples=6, deadline=None)
@given(nodes=st.integers(3, 12))
def test_a_joining_node_takes_about_its_fair_share(nodes: int) -> None:
    primary, lists = moved_share(nodes, 4_000)
    ideal = 1 / (nodes + 1)
    assert 0.5 * ideal <= primary <= 1.5 * ideal  # 256 vnodes per member
    assert lists >= primary  # a new primary changes the replica set too


def test_moved_share_refuses_an_empty_ring() -> None:
    with pytest.raises(ValueError, match="positive"):
        moved_share(0, 100)


def test_callers_option_reaches_the_capacity_levels() -> None:
    from manhattan.bench.capacity import LEVELS, QUICK_LEVELS, levels_for
    from manhattan.bench.run import parse_args, settings_from

    assert levels_for(settings_from(parse_args(["--callers", "2,8,8"]))) == (2, 8)
    assert levels_for(settings_from(parse_args([]))) == LEVELS
    assert levels_for(settings_from(parse_args(["--quick"]))) == QUICK_LEVELS


@pytest.mark.parametrize("text", ["0", "1,x", "", "2000"])
def test_callers_option_refuses_nonsense(text: str, capsys) -> None:
    from manhattan.bench.run import parse_args

    with pytest.raises(SystemExit):
        parse_args(["--callers", text])
    assert "callers" in capsys.readouterr().err


def test_a_full_run_is_five_runs_of_ten_seconds_or_more() -> None:
    from manhattan.bench.run import parse_args, settings_from

    settings = settings_from(parse_args([]))
    assert settings.rounds >= 5 and settings.seconds / settings.rounds >= 10


def test_each_table_row_shows_the_spread_of_its_runs() -> None:
    from manhattan.bench.common import Result
    from manhattan.bench.run import spread

    row = Result("s", "n", "ops", 3, 3, 3.0, 100.0, 1.0, 2.0, runs=[90.0, 110.0, 100.0])
    assert spread(row) == "90–110 ±10%"
    assert spread(Result("s", "n", "ops", 1, 1, 1.0, 100.0, 1.0, 2.0, runs=[100.0])) == "-"
