"""Counter state (storage/counters.py) and the engine's counter paths: the CRDT laws,
convergence whatever order replicas' states arrive in, and the owner's increments."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from manhattan.storage import Entry, RocksEngine, Version, Write
from manhattan.storage.counters import (
    DEDUP_MAX_OPS, EMPTY, INT64_MAX, INT64_MIN, CounterOverflow, CounterState, combine, resolve,
    state_of, value_of,
)
from manhattan.storage.keys import pkey_prefix
from manhattan.storage.records import decode_entry, encode_entry

DS = "counts"
NOW_MS = 1_700_000_000_000

# An increment: (shard, delta, op id, ms).
increments = st.lists(st.tuples(st.integers(1, 4), st.integers(-1000, 1000),
                                st.binary(min_size=1, max_size=4),
                                st.integers(NOW_MS, NOW_MS + 5000)), max_size=12)


def build(steps) -> CounterState:
    state = EMPTY
    for shard, delta, op_id, ms in steps:
        if op_id not in state.ops:
            state = state.add(shard, delta, op_id, ms)
    return state


@settings(deadline=None)  # a loaded CI box: correctness, not speed
@given(increments, increments, increments)
def test_merge_is_commutative_associative_and_idempotent(a, b, c) -> None:
    x, y, z = build(a), build(b), build(c)
    assert x.merge(y).encode() == y.merge(x).encode()
    assert x.merge(y).merge(z).encode() == x.merge(y.merge(z)).encode()
    assert x.merge(x).encode() == x.encode()


@settings(deadline=None)
@given(increments)
def test_encoding_round_trips_and_the_value_is_the_sum_of_counted_deltas(steps) -> None:
    state = EMPTY
    expected = 0
    for shard, delta, op_id, ms in steps:
        if op_id not in state.ops:
            state = state.add(shard, delta, op_id, ms)
            expected += delta
    assert CounterState.decode(state.encode()) == state
    assert state.value == expected


def test_disjoint_shards_add_up_and_a_stale_copy_of_a_shard_loses_nothing() -> None:
    one = EMPTY.add(1, 5, b"a", NOW_MS)
    newer_one = one.add(1, 2, b"b", NOW_MS + 1)
    two = EMPTY.add(2, -3, b"c", NOW_MS)
    merged = newer_one.merge(two).merge(one)  # the stale copy of shard 1 arrives last
    assert merged.value == 4
    assert merged.shards == {1: (7, 0), 2: (0, 3)}


def test_the_dedup_window_is_bounded_by_count() -> None:
    state = EMPTY
    for i in range(DEDUP_MAX_OPS + 10):
        state = state.add(1, 1, f"op-{i}".encode(), NOW_MS + i)
    assert len(state.ops) == DEDUP_MAX_OPS
    assert b"op-0" not in state.ops and f"op-{DEDUP_MAX_OPS + 9}".encode() in state.ops


def test_overflow_is_refused_at_both_ends() -> None:
    top = EMPTY.add(1, INT64_MAX, b"a", NOW_MS)
    with pytest.raises(CounterOverflow):
        top.add(2, 1, b"b", NOW_MS)
    bottom = EMPTY.add(1, INT64_MIN + 1, b"a", NOW_MS).add(1, -1, b"b", NOW_MS)
    assert bottom.value == INT64_MIN
    with pytest.raises(CounterOverflow):
        bottom.add(1, -1, b"c", NOW_MS)


def test_a_malformed_state_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        CounterState.decode(b"\x07\x00")
    with pytest.raises(ValueError):
        CounterState.decode(EMPTY.add(1, 1, b"x", NOW_MS).encode()[:-3])


def entry(state: CounterState, timestamp: int, writer: int = 1) -> Entry:
    return Entry(Version(timestamp, writer), state.encode(), counter=True)


@settings(max_examples=60, deadline=None)
@given(st.lists(increments, min_size=2, max_size=4), st.randoms(use_true_random=False))
def test_replicas_converge_whatever_order_states_arrive_in(shards, rnd) -> None:
    """Every replica's states, delivered to two replicas in different orders (and
    some twice), leave both with the same bytes and the same version."""
    states = [entry(build([(i + 1, d, o, m) for _, d, o, m in steps]), NOW_MS + i)
              for i, steps in enumerate(shards)]
    deliveries = states + rnd.sample(states, len(states) // 2)
    left: Entry | None = None
    right: Entry | None = None
    for item in deliveries:
        left = resolve(left, item) or left
    for item in rnd.sample(deliveries, len(deliveries)):
        right = resolve(right, item) or right
    assert left is not None and right is not None
    # The two may differ in version until they exchange once (anti-entropy): then equal.
    for _ in range(2):
        left, right = (resolve(left, right) or left), (resolve(right, left) or right)
    assert left == right
    assert value_of(left) == sum(value_of(s) for s in states)
    assert combine(states) is not None and value_of(combine(states)) == value_of(left)


def test_plain_entries_still_resolve_last_writer_wins() -> None:
    old, new = Entry(Version(1, 1), b"a"), Entry(Version(2, 1), b"b")
    assert resolve(old, new) == new
    assert resolve(new, old) is None
    assert combine([old, None, new]) == new


# -- the engine -------------------------------------------------------------------


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[RocksEngine]:
    eng = RocksEngine(tmp_path / "db")
    eng.create_dataset(DS)
    try:
        yield eng
    finally:
        eng.close()


def add(engine: RocksEngine, delta: int, op_id: bytes, shard: int = 1, ts: int = 100):
    return engine.counter_add(DS, b"p", b"l", delta=delta, op_id=op_id, shard=shard,
                              timestamp=ts, now_ms=NOW_MS)


def test_the_owner_counts_an_op_id_once(engine: RocksEngine) -> None:
    first = add(engine, 5, b"op-1")
    again = add(engine, 5, b"op-1", ts=200)
    assert first.counted and not again.counted
    assert again.entry == first.entry
    assert value_of(engine.get_entry(DS, b"p", b"l")) == 5


def test_an_increment_stamps_a_version_above_the_stored_one(engine: RocksEngine) -> None:
    first = add(engine, 1, b"a", ts=500)
    second = add(engine, 1, b"b", ts=10)  # a clock behind what is stored
    assert second.entry.version.timestamp > first.entry.version.timestamp


def test_overflow_writes_nothing(engine: RocksEngine) -> None:
    add(engine, INT64_MAX, b"a")
    with pytest.raises(CounterOverflow):
        add(engine, 1, b"b")
    assert value_of(engine.get_entry(DS, b"p", b"l")) == INT64_MAX


def test_a_plain_value_is_not_a_counter(engine: RocksEngine) -> None:
    engine.apply(DS, [Write(b"p", b"l", Entry(Version(1, 1), b"text"))])
    with pytest.raises(ValueError, match="not a counter"):
        add(engine, 1, b"a")


def test_replica_writes_merge_instead_of_replacing(engine: RocksEngine) -> None:
    """A replica write of another shard's state, older by version, still lands; the
    same state delivered again changes nothing."""
    mine = add(engine, 3, b"a", shard=1, ts=1000).entry
    theirs = entry(EMPTY.add(2, 4, b"b", NOW_MS), 10, writer=2)
    assert engine.apply(DS, [Write(b"p", b"l", theirs)]) == [True]
    stored = engine.get_entry(DS, b"p", b"l")
    assert value_of(stored) == 7 and stored.version > mine.version
    assert engine.apply(DS, [Write(b"p", b"l", theirs)]) == [True]
    assert engine.get_entry(DS, b"p", b"l") == stored


def test_raw_applies_merge_too(engine: RocksEngine) -> None:
    """Anti-entropy and streaming apply raw stored values: counters merge there too,
    even two states of one key in one batch."""
    add(engine, 3, b"a", shard=1)
    key = pkey_prefix(b"p") + b"l"
    two = encode_entry(entry(EMPTY.add(2, 4, b"b", NOW_MS), 5, writer=2))
    three = encode_entry(entry(EMPTY.add(3, -1, b"c", NOW_MS), 6, writer=3))
    assert engine.apply_raw(DS, [(key, two), (key, three)]) == 2
    stored = decode_entry(engine.get_raw_many(DS, [key])[0])
    assert stored.counter and value_of(stored) == 6
    assert engine.apply_raw(DS, [(key, two)]) == 0  # already held: nothing changes
    assert state_of(stored).shards == {1: (3, 0), 2: (4, 0), 3: (0, 1)}


def test_an_owner_with_no_state_asks_for_the_replicas_state_first(engine: RocksEngine) -> None:
    """A node that lost its disk must not restart its shard from zero (the others' copy of
    its shard would hide the new increments): without the replicas' state nothing counts."""
    assert engine.counter_add(DS, b"p", b"l", delta=1, op_id=b"a", shard=1, timestamp=100,
                              now_ms=NOW_MS, absent_ok=False) is None
    assert engine.get_entry(DS, b"p", b"l") is None
    theirs = entry(EMPTY.add(1, 40, b"old", NOW_MS), 50)  # what the other replicas held
    engine.apply(DS, [Write(b"p", b"l", theirs)])
    after = engine.counter_add(DS, b"p", b"l", delta=1, op_id=b"a", shard=1, timestamp=100,
                               now_ms=NOW_MS, absent_ok=False)
    assert after is not None and value_of(after.entry) == 41
