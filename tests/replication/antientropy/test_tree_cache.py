"""Incremental hash trees (issue 16.6): a tree kept current from the engine's change
marks equals a tree built from scratch, after any mix of writes on two replicas, and
an unchanged dataset is served without a rescan."""

from __future__ import annotations

import tempfile

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from manhattan.replication.antientropy.hashtree import build_tree, segment_versions
from manhattan.replication.antientropy.tree_cache import TreeCache
from manhattan.storage import Entry, RocksEngine, Version, Write
from manhattan.storage.keys import pkey_prefix, ring_position

DS = "ds"
# Boundaries off the 2-byte segment grid: a segment cut by a range end is hashed in part.
RANGES = [(0, 0x3FFF_1234), (0x5000_0000, 0xC000_8001), (0xE000_0007, 1 << 32)]
PKEYS = [f"user{i}" for i in range(60)]

write_op = st.tuples(st.just("write"), st.integers(0, 1), st.sampled_from(PKEYS),
                     st.sampled_from([b"a", b"b", b"c"]), st.integers(1, 50), st.booleans())
raw_op = st.tuples(st.just("copy"), st.integers(0, 1))  # one replica streams all to the other
drop_op = st.tuples(st.just("drop_range"), st.integers(0, 1), st.sampled_from(PKEYS))
purge_op = st.tuples(st.just("purge"), st.integers(0, 1))
check_op = st.tuples(st.just("check"))
ops = st.lists(st.one_of(write_op, write_op, write_op, raw_op, drop_op, purge_op, check_op),
               max_size=40)


def _assert_current(cache: TreeCache, engine: RocksEngine) -> None:
    cached, scratch = cache.tree(DS, RANGES), build_tree(engine, DS, RANGES)
    assert cached.levels == scratch.levels
    assert cached.keys == scratch.keys


def _apply(engines: list[RocksEngine], op: tuple) -> None:
    kind = op[0]
    if kind == "write":
        _, side, pkey, lkey, ts, tomb = op
        entry = Entry(Version(ts << 16, side + 1), b"" if tomb else b"v", 0, tomb)
        engines[side].apply(DS, [Write(pkey.encode(), lkey, entry)])
    elif kind == "copy":
        src, dst = engines[op[1]], engines[1 - op[1]]
        items = list(src.iter_raw(DS, b"", None))
        dst.apply_raw(DS, items)
    elif kind == "drop_range":
        prefix = pkey_prefix(op[2].encode())
        engines[op[1]].delete_range(DS, [(prefix, prefix + b"\xff")])
    elif kind == "purge":
        engines[op[1]].purge(grace_ms=-(1 << 62))  # every tombstone is past its grace


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops)
def test_incremental_trees_equal_trees_built_from_scratch(program):
    with tempfile.TemporaryDirectory() as a, tempfile.TemporaryDirectory() as b:
        engines = [RocksEngine(a), RocksEngine(b)]
        try:
            for engine in engines:
                engine.create_dataset(DS)
            caches = [TreeCache(engine) for engine in engines]
            for cache, engine in zip(caches, engines):
                _assert_current(cache, engine)  # cached while empty: the hardest start
            for op in program:
                _apply(engines, op)
                if op[0] == "check":
                    for cache, engine in zip(caches, engines):
                        _assert_current(cache, engine)
            trees = [cache.tree(DS, RANGES) for cache in caches]
            for cache, engine in zip(caches, engines):
                _assert_current(cache, engine)
            same = (segment_versions(engines[0], DS, RANGES, range(1 << 16))
                    == segment_versions(engines[1], DS, RANGES, range(1 << 16)))
            assert (trees[0].root == trees[1].root) == same
        finally:
            for engine in engines:
                engine.close()


def test_an_unchanged_dataset_is_served_without_a_rescan(tmp_path):
    engine = RocksEngine(tmp_path)
    try:
        engine.create_dataset(DS)
        engine.apply(DS, [Write(p.encode(), b"l", Entry(Version(1 << 16, 1), b"v", 0, False))
                          for p in PKEYS])
        cache = TreeCache(engine)
        first = cache.tree(DS, RANGES)
        assert cache.stats["full_builds"] == 1
        assert cache.tree(DS, RANGES) is first
        assert cache.stats == {"full_builds": 1, "segments_rehashed": 0, "served_unchanged": 1}
        pkey = PKEYS[0].encode()
        engine.apply(DS, [Write(pkey, b"l", Entry(Version(2 << 16, 1), b"w", 0, False))])
        updated = cache.tree(DS, RANGES)
        in_ranges = any(s <= ring_position(pkey) < e for s, e in RANGES)
        assert cache.stats["segments_rehashed"] == (1 if in_ranges else 0)
        assert cache.stats["full_builds"] == 1
        assert (updated.root != first.root) == in_ranges
        assert updated.levels == build_tree(engine, DS, RANGES).levels
    finally:
        engine.close()


def test_old_trees_are_rebuilt_from_a_full_scan(tmp_path):
    now = [0.0]
    engine = RocksEngine(tmp_path)
    try:
        engine.create_dataset(DS)
        cache = TreeCache(engine, max_age_s=60, clock=lambda: now[0])
        cache.tree(DS, RANGES)
        now[0] = 59.0
        cache.tree(DS, RANGES)
        assert cache.stats["full_builds"] == 1
        now[0] = 61.0
        cache.tree(DS, RANGES)
        assert cache.stats["full_builds"] == 2
    finally:
        engine.close()
