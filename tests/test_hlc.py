"""HybridClock: strictly increasing timestamps whatever the wall clock does."""

from __future__ import annotations

import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from manhattan.errors import InvalidRequest
from manhattan.hlc import (
    LOGICAL_MASK, ClockSkewError, HybridClock, logical, pack, physical_ms,
)

START_MS = 1_700_000_000_000


class Wall:
    """A wall clock the test steps by hand, backwards too."""

    def __init__(self, ms: int = START_MS) -> None:
        self.ms = ms

    def __call__(self) -> int:
        return self.ms


def test_now_follows_the_wall_clock_while_it_moves_forward() -> None:
    wall = Wall()
    clock = HybridClock(wall)
    assert clock.now() == pack(START_MS)
    wall.ms += 5
    assert clock.now() == pack(START_MS + 5)
    assert clock.wall_ms() == START_MS + 5


def test_now_stays_monotonic_when_the_wall_clock_steps_back() -> None:
    wall = Wall()
    clock = HybridClock(wall)
    issued = [clock.now(), clock.now()]
    wall.ms -= 10_000
    issued += [clock.now() for _ in range(3)]
    assert issued == sorted(set(issued))
    # Behind the wall clock's past, it counts on in the logical part...
    assert physical_ms(issued[-1]) == START_MS and logical(issued[-1]) == 4
    # ...and rejoins the wall clock once it has caught up.
    wall.ms = START_MS + 1
    assert clock.now() == pack(START_MS + 1)


def test_update_returns_a_timestamp_newer_than_the_received_one_and_all_issued() -> None:
    wall = Wall()
    clock = HybridClock(wall, max_skew_ms=1_000)
    issued = clock.now()
    received = pack(START_MS + 500, 7)  # a peer whose clock runs ahead
    merged = clock.update(received)
    assert merged > received and merged > issued
    assert merged == received + 1
    # Everything issued afterwards stays ahead of what was absorbed.
    assert clock.now() > merged


def test_update_with_an_older_timestamp_still_moves_forward() -> None:
    wall = Wall()
    clock = HybridClock(wall)
    issued = clock.now()
    merged = clock.update(pack(START_MS - 1_000))
    assert merged > issued


def test_update_refuses_a_timestamp_more_than_max_skew_ahead_and_forgets_it() -> None:
    wall = Wall()
    clock = HybridClock(wall, max_skew_ms=100)
    assert clock.update(pack(START_MS + 100, LOGICAL_MASK)) > pack(START_MS + 100, LOGICAL_MASK)
    too_far = pack(START_MS + 300)
    with pytest.raises(ClockSkewError) as raised:
        clock.update(too_far)
    assert isinstance(raised.value, InvalidRequest)
    with pytest.raises(ClockSkewError):
        clock.observe(too_far)
    # The refused timestamp left no trace in the clock.
    assert clock.now() < too_far


def test_clock_skew_error_is_an_invalid_request() -> None:
    assert issubclass(ClockSkewError, InvalidRequest)


def test_a_full_logical_counter_carries_into_the_physical_part() -> None:
    wall = Wall()
    clock = HybridClock(wall)
    carried = clock.update(pack(START_MS, LOGICAL_MASK))
    assert (physical_ms(carried), logical(carried)) == (START_MS + 1, 0)
    assert clock.now() == pack(START_MS + 1, 1)


def test_now_stays_monotonic_across_a_logical_counter_overflow() -> None:
    clock = HybridClock(Wall())  # a wall clock that never moves
    previous = clock.now()
    for _ in range(LOGICAL_MASK + 10):
        current = clock.now()
        assert current > previous
        previous = current
    assert physical_ms(previous) == START_MS + 1


def test_timestamps_issued_from_many_threads_are_all_distinct() -> None:
    clock = HybridClock(Wall())
    results: list[list[int]] = [[] for _ in range(4)]

    def issue(out: list[int]) -> None:
        for _ in range(5_000):
            out.append(clock.now())

    threads = [threading.Thread(target=issue, args=(out,)) for out in results]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    everything = [ts for out in results for ts in out]
    assert len(set(everything)) == len(everything)
    assert all(out == sorted(out) for out in results)


MAX_SKEW_MS = 1_000
operations = st.lists(
    st.one_of(
        st.tuples(st.just("step"), st.integers(-5_000, 5_000)),
        st.tuples(st.just("now"), st.just(0)),
        st.tuples(
            st.just("update"),
            st.tuples(st.integers(-10_000, MAX_SKEW_MS + 50), st.integers(0, LOGICAL_MASK)),
        ),
    ),
    max_size=60,
)


@settings(max_examples=300, deadline=None)
@given(operations)
def test_any_sequence_of_now_and_update_under_any_wall_clock_is_strictly_increasing(ops) -> None:
    wall = Wall()
    clock = HybridClock(wall, max_skew_ms=MAX_SKEW_MS)
    issued: list[int] = []
    for op, arg in ops:
        if op == "step":
            wall.ms += arg
        elif op == "now":
            issued.append(clock.now())
        else:
            offset_ms, counter = arg
            received = pack(wall.ms + offset_ms, counter)
            if offset_ms > MAX_SKEW_MS:
                with pytest.raises(ClockSkewError):
                    clock.update(received)
                continue
            merged = clock.update(received)
            assert merged > received
            issued.append(merged)
    assert all(a < b for a, b in zip(issued, issued[1:]))


@given(st.lists(st.tuples(st.integers(1, 2000), st.integers(-5, 5)), min_size=1, max_size=40))
def test_now_many_reserves_consecutive_timestamps_after_everything_issued(batches) -> None:
    wall = Wall()
    clock = HybridClock(wall)
    issued = [clock.now()]
    for count, step_ms in batches:
        wall.ms += step_ms
        first = clock.now_many(count)
        block = list(range(first, first + count))
        assert block[0] > issued[-1]
        issued += block
        issued.append(clock.now())  # what follows a block is newer than all of it
        assert issued[-1] > block[-1]
    with pytest.raises(ValueError):
        clock.now_many(0)
