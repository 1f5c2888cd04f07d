"""YCSB generators: keys in range, skew, latest, op mix, determinism; the driver."""

from __future__ import annotations

import bisect
import random
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from manhattan.bench.driver import load_phase, run_phase
from manhattan.bench.workloads import (
    INSERT, READ, RMW, SCAN, UPDATE, WORKLOADS, Key, KeyMap, OperationStream, ScrambledZipfian,
    Store, StoreBase, Zipfian, load_items, parse_value_size, zeta,
)

workload_names = st.sampled_from(sorted(WORKLOADS))


def stream(name: str, records: int = 1000, seed: int = 1, **kw) -> OperationStream:
    return OperationStream(WORKLOADS[name], records, seed, keys=KeyMap(4), **kw)


@settings(max_examples=40, deadline=None)
@given(workload_names, st.integers(1, 3000), st.integers(0, 2**32), st.integers(1, 300))
def test_chosen_keys_exist_and_inserts_continue_the_sequence(name, records, seed, count):
    s = stream(name, records, seed, expected_inserts=count)
    existing = records
    for op in s.take(count):
        if op.kind == INSERT:
            assert op.number == existing  # the next key number, never a reused one
            existing += 1
        else:
            assert 0 <= op.number < existing
        assert op.key == s.keys.key(op.number)
        if op.kind == SCAN:
            assert 1 <= op.scan_length <= 100
        if op.kind in (UPDATE, INSERT, RMW):
            assert op.value is not None and 100 <= len(op.value) <= 1000
    assert s.key_count == existing


@settings(max_examples=20, deadline=None)
@given(workload_names, st.integers(0, 2**32))
def test_same_seed_same_operations(name, seed):
    assert stream(name, seed=seed).take(200) == stream(name, seed=seed).take(200)


def test_different_seeds_differ():
    assert stream("A", seed=1).take(100) != stream("A", seed=2).take(100)


@pytest.mark.parametrize("name", sorted(WORKLOADS))
def test_op_mix_matches_the_workload(name):
    n = 20_000
    counts = Counter(op.kind for op in stream(name, seed=7, expected_inserts=n).take(n))
    for kind, share in WORKLOADS[name].proportions:
        assert abs(counts[kind] / n - share) < 0.02, (kind, counts)
    assert set(counts) <= {kind for kind, _ in WORKLOADS[name].proportions}


@settings(max_examples=10, deadline=None)
@given(st.integers(100, 5000), st.integers(0, 2**32))
def test_zipfian_is_skewed_towards_small_items(items, seed):
    z = Zipfian(items, random.Random(seed))
    draws = [z.next() for _ in range(5000)]
    assert all(0 <= d < items for d in draws)
    top = sum(d < max(1, items // 10) for d in draws) / len(draws)
    assert top > 0.5  # a tenth of the items get most of the requests (uniform: 0.1)
    assert Counter(draws).most_common(1)[0][0] == 0


def test_scrambled_zipfian_has_hot_keys_spread_over_the_space():
    z = ScrambledZipfian(10_000, random.Random(3))
    counts = Counter(z.next() for _ in range(20_000))
    hottest = [k for k, _ in counts.most_common(10)]
    assert sum(c for _, c in counts.most_common(10)) / 20_000 > 0.1  # uniform: 0.001
    assert max(hottest) - min(hottest) > 1000  # not bunched at the start


def test_latest_favours_recent_inserts():
    s = stream("D", records=10_000, seed=5, expected_inserts=5000)
    ages = []
    for _ in range(5000):
        op = s.next()
        if op.kind == READ:
            ages.append(s.key_count - 1 - op.number)  # 0: the newest record
    assert sum(age < 1000 for age in ages) / len(ages) > 0.6  # newest 10 % of keys
    assert min(ages) == 0


@pytest.mark.parametrize("n", [1, 2, 10, 1000, 150_000])
def test_zeta_matches_the_exact_sum(n):
    exact = sum(i ** -0.99 for i in range(1, n + 1))
    assert zeta(n, 0.99) == pytest.approx(exact, rel=1e-9)
    assert zeta(n, 0.99, n // 2, zeta(n // 2, 0.99)) == pytest.approx(exact, rel=1e-9)


def test_zeta_of_ten_billion_is_ycsbs_constant():
    assert zeta(10**10, 0.99) == pytest.approx(26.46902820178302, rel=1e-9)


def test_parse_value_size():
    assert parse_value_size("100") == (100, 100)
    assert parse_value_size("100-1000") == (100, 1000)
    for bad in ("0", "10-5", "x", "1-2-3", ""):
        with pytest.raises(ValueError):
            parse_value_size(bad)


class DictStore(StoreBase):
    """A sorted in-memory store: the reference semantics of a YCSB Store."""

    name = "dict"

    def __init__(self) -> None:
        self.data: dict[Key, bytes] = {}
        self.order: dict[bytes, list[bytes]] = {}

    def read(self, key):
        return self.data.get(key)

    def update(self, key, value):
        if key not in self.data:
            bisect.insort(self.order.setdefault(key.bucket, []), key.item)
        self.data[key] = value

    def scan(self, key, count):
        items = self.order.get(key.bucket, [])
        start = bisect.bisect_left(items, key.item)
        return len(items[start:start + count])


def test_driver_runs_every_workload_without_misses():
    store = DictStore()
    assert isinstance(store, Store)
    keys = KeyMap(3)
    loaded = load_phase(store, load_items(2000, 9, keys), batch=300)
    assert loaded.operations == 2000 and len(store.data) == 2000
    assert loaded.by_kind["load batch"].count == 7
    count = 2000
    for name in "ABCFDE":
        s = OperationStream(WORKLOADS[name], count, 9, keys=keys, expected_inserts=500)
        ops = s.take(500)
        result = run_phase(store, ops)
        count = s.key_count
        assert result.operations == 500 and result.elapsed_s > 0
        assert result.misses == 0
        assert result.counts == dict(Counter(op.kind for op in ops))
        assert result.latencies().count == 500
        if name == "E":
            assert result.scanned > result.counts[SCAN]  # scans return many records
    assert len(store.data) == count


@pytest.mark.parametrize("items", [1, 2, 3])
def test_zipfian_over_tiny_key_spaces_stays_in_range(items: int) -> None:
    """Two items made zeta(n) == zeta(2): the eta formula divided by zero (found by CI)."""
    zipf = Zipfian(items, random.Random(5))
    drawn = {zipf.next() for _ in range(2000)}
    assert drawn <= set(range(items)) and 0 in drawn
    assert {zipf.next(items + 1) for _ in range(2000)} <= set(range(items + 1))
