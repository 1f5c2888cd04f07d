"""Snowflake IDs: unique and strictly increasing under clock steps, overflow and restarts."""

from __future__ import annotations

import threading

import pytest
from hypothesis import given, settings, strategies as st

from manhattan.services.snowflake import (
    EPOCH_MS, IDS_PER_MS, MAX_SEQUENCE, ClockMovedBackwards, LeaseLost, MemoryMark,
    SnowflakeGenerator, decode, lowest_id_at,
)

START_MS = EPOCH_MS + 1_000_000_000


class FakeClock:
    """Time moves only when the test or a sleep moves it."""

    def __init__(self, ms: int = START_MS) -> None:
        self.ms = ms
        self.slept = 0.0

    def now_ms(self) -> int:
        return self.ms

    def sleep_ms(self, ms: float) -> None:
        self.slept += ms
        self.ms += max(1, int(ms))


class FixedLease:
    def __init__(self, valid_until_ms: int) -> None:
        self.valid_until_ms = valid_until_ms


steps = st.lists(st.one_of(
    st.tuples(st.just("ids"), st.integers(1, 3 * IDS_PER_MS)),
    st.tuples(st.just("batch"), st.integers(0, 3 * IDS_PER_MS)),
    st.tuples(st.just("tick"), st.integers(-2_500, 2_500)),
    st.tuples(st.just("jump_back"), st.integers(3_001, 10**6)),
    st.tuples(st.just("restart"), st.integers(-2_500, 50)),
), max_size=25)


@settings(max_examples=60, deadline=None)
@given(steps)
def test_ids_strictly_increase_through_steps_overflow_and_restarts(plan):
    clock = FakeClock()
    mark = MemoryMark()
    generator = SnowflakeGenerator(3, 7, clock=clock, mark=mark)
    issued: list[int] = []

    def issue(make) -> None:
        try:
            issued.extend(make())
        except ClockMovedBackwards:
            # Refusing is right only when the clock is further behind than it may wait.
            behind = max(mark.load(), decode(issued[-1]).timestamp_ms if issued else 0) - clock.ms
            assert behind > 3_000 - 1_000
            clock.ms += behind  # the operator fixes the clock
            issued.extend(make())

    for action, amount in plan:
        if action == "ids":
            issue(lambda: [generator.next_id() for _ in range(min(amount, 500))])
        elif action == "batch":
            issue(lambda: generator.next_ids(amount))
        elif action == "tick":
            clock.ms += amount
        elif action == "jump_back":
            issue(lambda: [generator.next_id()])
            clock.ms -= amount
            with pytest.raises(ClockMovedBackwards):
                generator.next_id()
            assert generator.clock_backward_errors >= 1
            clock.ms += amount
        else:  # a new process on the same worker id, maybe with an earlier clock
            clock.ms += amount
            generator = SnowflakeGenerator(3, 7, clock=clock, mark=mark)
    assert issued == sorted(issued)
    assert len(set(issued)) == len(issued)
    for snowflake in issued[:50]:
        parts = decode(snowflake)
        assert (parts.datacenter, parts.worker) == (3, 7)
        assert 0 <= parts.sequence <= MAX_SEQUENCE


def test_sequence_overflow_waits_for_the_next_millisecond():
    clock = FakeClock()
    generator = SnowflakeGenerator(0, 1, clock=clock)
    ids = [generator.next_id() for _ in range(IDS_PER_MS + 10)]
    assert len(set(ids)) == len(ids) and ids == sorted(ids)
    assert decode(ids[-1]).timestamp_ms > decode(ids[0]).timestamp_ms
    assert generator.waits >= 1


def test_batches_fill_whole_milliseconds():
    clock = FakeClock()
    generator = SnowflakeGenerator(0, 1, clock=clock)
    ids = generator.next_ids(3 * IDS_PER_MS)
    assert ids == list(range(ids[0], ids[0] + IDS_PER_MS)) + ids[IDS_PER_MS:]
    assert len({decode(i).timestamp_ms for i in ids}) == 3


def test_small_step_back_is_waited_out_and_large_one_refused():
    clock = FakeClock()
    generator = SnowflakeGenerator(0, 1, clock=clock, max_backward_ms=3_000)
    first = generator.next_id()
    clock.ms -= 500
    assert generator.next_id() > first
    assert clock.slept >= 499
    clock.ms -= 10_000
    with pytest.raises(ClockMovedBackwards, match="behind"):
        generator.next_id()
    assert generator.clock_backward_errors == 1


def test_restart_with_an_earlier_clock_never_reissues():
    clock = FakeClock()
    mark = MemoryMark()
    first = SnowflakeGenerator(0, 1, clock=clock, mark=mark)
    before = [first.next_id() for _ in range(100)]
    clock.ms -= 900  # the new process's clock is behind the old one's
    second = SnowflakeGenerator(0, 1, clock=clock, mark=mark)
    assert second.next_id() > max(before)


def test_lost_lease_stops_issuing():
    clock = FakeClock()
    lease = FixedLease(START_MS + 10)
    generator = SnowflakeGenerator(0, 1, clock=clock, lease=lease)
    generator.next_id()
    clock.ms += 10
    with pytest.raises(LeaseLost):
        generator.next_id()


def test_threads_never_share_an_id():
    generator = SnowflakeGenerator(1, 2)
    results: list[list[int]] = [[] for _ in range(4)]

    def issue(out: list[int]) -> None:
        out.extend(generator.next_id() for _ in range(20_000))

    threads = [threading.Thread(target=issue, args=(r,)) for r in results]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    every = [i for r in results for i in r]
    assert len(set(every)) == len(every) == 80_000
    assert all(r == sorted(r) for r in results)


def test_decode_and_bounds():
    generator = SnowflakeGenerator(31, 31, clock=FakeClock())
    snowflake = generator.next_id()
    parts = decode(snowflake)
    assert (parts.timestamp_ms, parts.datacenter, parts.worker, parts.sequence) == (
        START_MS, 31, 31, 0)
    assert lowest_id_at(START_MS) <= snowflake < lowest_id_at(START_MS + 1)
    with pytest.raises(ValueError):
        decode(-1)
    with pytest.raises(ValueError):
        SnowflakeGenerator(32, 0)
