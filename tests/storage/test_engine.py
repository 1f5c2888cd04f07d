"""Example tests of RocksEngine: LWW, batches, tombstones, TTL, purge, scans, layout."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from rocksdict import AccessType, Options, Rdict
from uhashring import HashRing

from manhattan.hlc import pack
from manhattan.storage import (
    MAX_SKIPPED_PER_PAGE, Entry, RocksEngine, UnknownDataset, Version, Write, ring_position,
    storage_key,
)
from manhattan.storage.keys import split_storage_key

NOW_MS = 1_700_000_000_000
DS = "things"


class Clock:
    """A wall clock the test moves by hand."""

    def __init__(self, ms: int = NOW_MS) -> None:
        self.ms = ms

    def __call__(self) -> int:
        return self.ms


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def engine(tmp_path: Path, clock: Clock) -> Iterator[RocksEngine]:
    eng = RocksEngine(tmp_path / "db", now_ms=clock)
    eng.create_dataset(DS)
    yield eng
    eng.close()


def v(ms_offset: int, writer: int = 1, logical: int = 0) -> Version:
    """A version whose HLC timestamp is ``ms_offset`` ms after NOW_MS."""
    return Version(pack(NOW_MS + ms_offset, logical), writer)


def put(pkey: bytes, lkey: bytes, version: Version, value: bytes = b"x", **kw) -> Write:
    return Write(pkey, lkey, Entry(version, value, **kw))


def tombstone(pkey: bytes, lkey: bytes, version: Version) -> Write:
    return Write(pkey, lkey, Entry(version, tombstone=True))


def scan_all(engine: RocksEngine, pkey: bytes, **kw) -> tuple[list[bytes], int]:
    """(lkeys of every page of a scan followed to its end, number of pages)."""
    lkeys: list[bytes] = []
    cursor = None
    for pages in range(1, 10_000):
        page = engine.scan(DS, pkey, cursor=cursor, **kw)
        lkeys.extend(r.lkey for r in page.records)
        cursor = page.cursor
        if cursor is None:
            return lkeys, pages
    raise AssertionError("scan never ended")


# -- last-writer-wins ---------------------------------------------------------


def test_newer_timestamp_wins_regardless_of_arrival_order(engine: RocksEngine) -> None:
    assert engine.apply(DS, [put(b"p", b"l", v(20), b"new")]) == [True]
    assert engine.apply(DS, [put(b"p", b"l", v(10), b"old")]) == [False]
    record = engine.get(DS, b"p", b"l")
    assert record is not None and (record.value, record.version) == (b"new", v(20))

    assert engine.apply(DS, [put(b"p", b"l", v(20, logical=1), b"newer")]) == [True]
    assert engine.get(DS, b"p", b"l").value == b"newer"


def test_equal_timestamps_are_broken_by_the_higher_writer_id(engine: RocksEngine) -> None:
    assert engine.apply(DS, [put(b"p", b"l", v(5, writer=7), b"seven")]) == [True]
    assert engine.apply(DS, [put(b"p", b"l", v(5, writer=3), b"three")]) == [False]
    assert engine.get(DS, b"p", b"l").value == b"seven"
    assert engine.apply(DS, [put(b"p", b"l", v(5, writer=9), b"nine")]) == [True]
    assert engine.get(DS, b"p", b"l").value == b"nine"


def test_a_write_with_the_very_same_version_is_not_applied(engine: RocksEngine) -> None:
    assert engine.apply(DS, [put(b"p", b"l", v(5), b"first")]) == [True]
    assert engine.apply(DS, [put(b"p", b"l", v(5), b"second")]) == [False]
    assert engine.get(DS, b"p", b"l").value == b"first"


def test_apply_returns_one_boolean_per_write_saying_whether_it_was_stored(
    engine: RocksEngine,
) -> None:
    engine.apply(DS, [put(b"p", b"b", v(10))])
    result = engine.apply(DS, [
        put(b"p", b"a", v(1)),     # new key
        put(b"p", b"b", v(9)),     # older than stored
        put(b"q", b"a", v(1)),     # new key, other pkey
        put(b"p", b"b", v(11)),    # newer than stored
    ])
    assert result == [True, False, True, True]
    assert engine.get(DS, b"p", b"b").version == v(11)


def test_a_later_duplicate_in_one_batch_wins_only_if_newer(engine: RocksEngine) -> None:
    assert engine.apply(DS, [put(b"p", b"k", v(5), b"5"), put(b"p", b"k", v(3), b"3")]) == [
        True, False,
    ]
    assert engine.get(DS, b"p", b"k").value == b"5"

    assert engine.apply(DS, [put(b"p", b"k", v(6), b"6"), put(b"p", b"k", v(8), b"8")]) == [
        True, True,
    ]
    assert engine.get(DS, b"p", b"k").value == b"8"

    # The duplicate is compared with the batch's own earlier write, not only with
    # what was stored before the batch.
    assert engine.apply(DS, [put(b"p", b"k", v(2), b"2"), put(b"p", b"k", v(9), b"9"),
                             put(b"p", b"k", v(9), b"9-again")]) == [False, True, False]
    assert engine.get_entry(DS, b"p", b"k") == Entry(v(9), b"9")


def test_a_batch_that_fails_part_way_applies_none_of_its_writes(engine: RocksEngine) -> None:
    too_long_pkey = b"x" * 70_000  # does not fit the u16 length of the key layout
    with pytest.raises(Exception):
        engine.apply(DS, [put(b"p", b"a", v(1)), put(too_long_pkey, b"b", v(1))])
    assert engine.get_entry(DS, b"p", b"a") is None


def test_a_concurrent_scan_never_sees_half_of_a_batch(engine: RocksEngine) -> None:
    lkeys = [bytes([i]) for i in range(20)]
    engine.apply(DS, [put(b"p", k, v(0), b"0") for k in lkeys])
    stop = threading.Event()

    def writer() -> None:
        for i in range(1, 400):
            engine.apply(DS, [put(b"p", k, v(i), str(i).encode()) for k in lkeys])
        stop.set()

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        scans = 0
        while not stop.is_set() or scans == 0:
            records = engine.scan(DS, b"p", limit=100).records
            assert len(records) == len(lkeys)
            assert len({r.value for r in records}) == 1, "a scan saw a batch half applied"
            scans += 1
    finally:
        thread.join()


# -- tombstones and TTL ---------------------------------------------------------


def test_a_tombstone_hides_the_record_from_get_and_scan(engine: RocksEngine) -> None:
    engine.apply(DS, [put(b"p", b"a", v(1)), put(b"p", b"b", v(1))])
    assert engine.apply(DS, [tombstone(b"p", b"a", v(2))]) == [True]
    assert engine.get(DS, b"p", b"a") is None
    assert engine.get_entry(DS, b"p", b"a") == Entry(v(2), b"", tombstone=True)
    assert [r.lkey for r in engine.scan(DS, b"p").records] == [b"b"]


def test_tombstones_are_themselves_last_writer_wins(engine: RocksEngine) -> None:
    engine.apply(DS, [put(b"p", b"a", v(10), b"live")])
    # An older delete loses against the stored value...
    assert engine.apply(DS, [tombstone(b"p", b"a", v(5))]) == [False]
    assert engine.get(DS, b"p", b"a").value == b"live"
    # ...a newer one wins, and then an older write cannot resurrect the record...
    assert engine.apply(DS, [tombstone(b"p", b"a", v(20))]) == [True]
    assert engine.apply(DS, [put(b"p", b"a", v(15), b"zombie")]) == [False]
    assert engine.get(DS, b"p", b"a") is None
    # ...but a write newer than the tombstone does.
    assert engine.apply(DS, [put(b"p", b"a", v(25), b"back")]) == [True]
    assert engine.get(DS, b"p", b"a").value == b"back"


def test_a_tombstone_for_a_key_never_written_is_stored(engine: RocksEngine) -> None:
    assert engine.apply(DS, [tombstone(b"p", b"a", v(3))]) == [True]
    assert engine.apply(DS, [put(b"p", b"a", v(2))]) == [False]
    assert engine.get(DS, b"p", b"a") is None


def test_a_record_is_invisible_from_the_moment_its_ttl_expires(
    engine: RocksEngine, clock: Clock
) -> None:
    engine.apply(DS, [put(b"p", b"a", v(0), b"ttl", expires_at_ms=NOW_MS + 10),
                      put(b"p", b"b", v(0), b"forever")])
    clock.ms = NOW_MS + 9
    assert engine.get(DS, b"p", b"a").expires_at_ms == NOW_MS + 10
    assert [r.lkey for r in engine.scan(DS, b"p").records] == [b"a", b"b"]
    clock.ms = NOW_MS + 10
    assert engine.get(DS, b"p", b"a") is None
    assert [r.lkey for r in engine.scan(DS, b"p").records] == [b"b"]
    # Expired is not deleted: the stored version is still there for LWW and repair.
    assert engine.get_entry(DS, b"p", b"a") == Entry(v(0), b"ttl", NOW_MS + 10)
    assert engine.apply(DS, [put(b"p", b"a", v(-1), b"older")]) == [False]


# -- purge --------------------------------------------------------------------


def test_purge_turns_expired_values_into_tombstones_of_the_same_version(
    engine: RocksEngine, clock: Clock
) -> None:
    engine.apply(DS, [put(b"p", b"gone", v(0), b"x", expires_at_ms=NOW_MS + 5),
                      put(b"p", b"kept", v(0), b"y", expires_at_ms=NOW_MS + 50)])
    clock.ms = NOW_MS + 5
    assert engine.purge(grace_ms=60_000) == 1
    assert engine.get_entry(DS, b"p", b"gone") == Entry(v(0), b"", NOW_MS + 5, tombstone=True)
    assert engine.get_entry(DS, b"p", b"kept") == Entry(v(0), b"y", NOW_MS + 50)


def test_purge_drops_tombstones_older_than_the_grace_period_and_keeps_younger_ones(
    engine: RocksEngine, clock: Clock
) -> None:
    engine.apply(DS, [tombstone(b"p", b"old", v(0)), tombstone(b"p", b"edge", v(100)),
                      tombstone(b"p", b"young", v(150)), put(b"p", b"live", v(0))])
    clock.ms = NOW_MS + 1_100
    assert engine.purge(grace_ms=1_000) == 1
    assert engine.get_entry(DS, b"p", b"old") is None
    # Exactly grace_ms old is not yet older than the grace period.
    assert engine.get_entry(DS, b"p", b"edge") == Entry(v(100), tombstone=True)
    assert engine.get_entry(DS, b"p", b"young") == Entry(v(150), tombstone=True)
    assert engine.get(DS, b"p", b"live") is not None
    clock.ms = NOW_MS + 1_101
    assert engine.purge(grace_ms=1_000) == 1
    assert engine.get_entry(DS, b"p", b"edge") is None
    assert engine.get_entry(DS, b"p", b"young") is not None


def test_purge_with_a_small_budget_resumes_where_it_stopped_across_datasets(
    engine: RocksEngine, clock: Clock
) -> None:
    engine.create_dataset("other")
    for name in (DS, "other"):
        # Live records sort first: a purge that started over on every call would
        # spend its whole budget on them and never reach the tombstones.
        engine.apply(name, [put(b"p", b"a%02d" % i, v(0)) for i in range(10)])
        engine.apply(name, [tombstone(b"p", b"z%02d" % i, v(0)) for i in range(13)])
    clock.ms = NOW_MS + 10
    # 46 entries, 5 visited per call: ten calls sweep both datasets exactly once.
    done = [engine.purge(grace_ms=0, budget=5) for _ in range(10)]
    assert all(n <= 5 for n in done)
    assert sum(done) == 26
    for name in (DS, "other"):
        assert all(engine.get_entry(name, b"p", b"z%02d" % i) is None for i in range(13))
        assert len(engine.scan(name, b"p").records) == 10

    # A finished sweep starts over at the first dataset.
    engine.apply("other", [tombstone(b"p", b"a00", v(1))])
    clock.ms = NOW_MS + 20
    assert engine.purge(grace_ms=0, budget=1_000) == 1
    assert engine.get_entry("other", b"p", b"a00") is None


# -- scans ----------------------------------------------------------------------


def test_scan_returns_live_records_of_a_range_in_lkey_order_either_way(
    engine: RocksEngine,
) -> None:
    engine.apply(DS, [put(b"p", k, v(1)) for k in (b"d", b"a", b"c", b"b", b"e")])
    page = engine.scan(DS, b"p", start=b"b", end=b"e")
    assert [r.lkey for r in page.records] == [b"b", b"c", b"d"] and page.cursor is None
    page = engine.scan(DS, b"p", start=b"b", end=b"e", reverse=True)
    assert [r.lkey for r in page.records] == [b"d", b"c", b"b"] and page.cursor is None


def test_scan_cursor_resumes_strictly_after_the_last_lkey_returned(engine: RocksEngine) -> None:
    lkeys = [b"", b"\x00", b"a", b"a\x00", b"a\xff", b"b", b"\xff", b"\xff\xff"]
    engine.apply(DS, [put(b"p", k, v(1)) for k in lkeys])
    for limit in (1, 2, 3):
        assert scan_all(engine, b"p", limit=limit)[0] == lkeys
        assert scan_all(engine, b"p", limit=limit, reverse=True)[0] == lkeys[::-1]
        assert scan_all(engine, b"p", limit=limit, start=b"a", end=b"b")[0] == lkeys[2:5]


def test_scan_rejects_a_cursor_it_did_not_make(engine: RocksEngine) -> None:
    with pytest.raises(ValueError):
        engine.scan(DS, b"p", cursor=b"garbage")


def test_a_scan_over_many_tombstones_returns_partial_pages_with_a_cursor_until_done(
    engine: RocksEngine,
) -> None:
    dead = [b"m%06d" % i for i in range(2 * MAX_SKIPPED_PER_PAGE + 1)]
    engine.apply(DS, [put(b"p", b"a", v(1)), put(b"p", b"z", v(1))]
                 + [tombstone(b"p", k, v(1)) for k in dead])
    first = engine.scan(DS, b"p", limit=10)
    # The page stops after MAX_SKIPPED_PER_PAGE invisible entries, short of its limit.
    assert [r.lkey for r in first.records] == [b"a"]
    assert first.cursor is not None
    for reverse, expected in ((False, [b"a", b"z"]), (True, [b"z", b"a"])):
        lkeys, pages = scan_all(engine, b"p", limit=10, reverse=reverse)
        assert lkeys == expected
        assert pages >= 3


def test_records_of_one_pkey_never_leak_into_another_pkeys_scan(engine: RocksEngine) -> None:
    pkeys = [b"", b"a", b"ab", b"a\x00", b"a\xff", b"b", b"\xff", b"\xff\xff", b"\xffa"]
    lkeys = [b"", b"\x00", b"b", b"\xff", b"\xff\xff"]
    engine.apply(DS, [put(p, l, v(1), p + b"|" + l) for p in pkeys for l in lkeys])
    for p in pkeys:
        for reverse in (False, True):
            records = engine.scan(DS, p, reverse=reverse).records
            assert {r.pkey for r in records} == {p}
            assert [r.value for r in records] == [
                p + b"|" + l for l in (lkeys[::-1] if reverse else lkeys)
            ]
            assert scan_all(engine, p, limit=2, reverse=reverse)[0] == (
                lkeys[::-1] if reverse else lkeys
            )
    assert engine.scan(DS, b"never written").records == []


# -- datasets -------------------------------------------------------------------


def test_drop_dataset_removes_every_record_and_a_recreated_one_starts_empty(
    engine: RocksEngine,
) -> None:
    engine.create_dataset("keep")
    engine.apply(DS, [put(b"p", b"a", v(1)), tombstone(b"p", b"b", v(1))])
    engine.apply("keep", [put(b"p", b"a", v(1))])
    engine.drop_dataset(DS)
    assert engine.datasets() == ["keep"]
    with pytest.raises(UnknownDataset):
        engine.get(DS, b"p", b"a")
    engine.create_dataset(DS)
    assert engine.get_entry(DS, b"p", b"a") is None
    assert engine.get_entry(DS, b"p", b"b") is None
    assert engine.scan(DS, b"p").records == []
    assert engine.get("keep", b"p", b"a") is not None


def test_datasets_and_their_records_survive_close_and_reopen(tmp_path: Path, clock: Clock) -> None:
    first = RocksEngine(tmp_path / "db", now_ms=clock)
    for name in ("b", "a", "dropped"):
        first.create_dataset(name)
    first.apply("a", [put(b"p", b"k", v(1), b"va")])
    first.apply("b", [tombstone(b"p", b"k", v(2))])
    first.drop_dataset("dropped")
    first.close()

    second = RocksEngine(tmp_path / "db", now_ms=clock)
    try:
        assert second.datasets() == ["a", "b"]
        assert second.get("a", b"p", b"k").value == b"va"
        assert second.get_entry("b", b"p", b"k") == Entry(v(2), tombstone=True)
    finally:
        second.close()


def test_create_dataset_is_a_no_op_when_it_exists(engine: RocksEngine) -> None:
    engine.apply(DS, [put(b"p", b"a", v(1))])
    engine.create_dataset(DS)
    assert engine.datasets() == [DS]
    assert engine.get(DS, b"p", b"a") is not None


@pytest.mark.parametrize("call", [
    lambda e: e.get("nope", b"p", b"l"),
    lambda e: e.get_entry("nope", b"p", b"l"),
    lambda e: e.apply("nope", [put(b"p", b"l", v(1))]),
    lambda e: e.scan("nope", b"p"),
], ids=["get", "get_entry", "apply", "scan"])
def test_an_unknown_dataset_raises_unknown_dataset(engine: RocksEngine, call) -> None:
    with pytest.raises(UnknownDataset):
        call(engine)


# -- storage-key layout ------------------------------------------------------------


PKEYS = [b"", b"a", b"ab", b"user:42", b"\x00\xff\x80", b"\xe9t\xe9"]


@pytest.mark.parametrize("pkey", PKEYS)
def test_ring_position_is_uhashrings_ketama_hash_of_the_pkey_as_latin1(pkey: bytes) -> None:
    ring = HashRing(hash_fn="ketama")
    assert ring_position(pkey) == ring.hashi(pkey.decode("latin-1"))
    assert 0 <= ring_position(pkey) < 2**32


def test_stored_keys_are_ring_position_then_length_prefixed_pkey_then_lkey(
    tmp_path: Path, clock: Clock
) -> None:
    engine = RocksEngine(tmp_path / "db", now_ms=clock)
    engine.create_dataset(DS)
    written = {(p, b"l" + p) for p in PKEYS} | {(b"a", b""), (b"a", b"\xff")}
    engine.apply(DS, [put(p, l, v(1)) for p, l in written])
    engine.close()

    # Read the column family straight from RocksDB, past the engine.
    families = {name: Options(raw_mode=True) for name in Rdict.list_cf(str(tmp_path / "db"))}
    raw = Rdict(str(tmp_path / "db"), Options(raw_mode=True), column_families=families,
                access_type=AccessType.read_only())
    try:
        keys = list(raw.get_column_family("ds." + DS).keys())
    finally:
        raw.close()

    assert len(keys) == len(written)
    seen = set()
    for key in keys:
        position, pkey, lkey = split_storage_key(key)
        seen.add((pkey, lkey))
        expected_position = HashRing(hash_fn="ketama").hashi(pkey.decode("latin-1"))
        assert key[:4] == expected_position.to_bytes(4, "big") == position.to_bytes(4, "big")
        assert key[4:6] == len(pkey).to_bytes(2, "big")
        assert key == key[:6] + pkey + lkey == storage_key(pkey, lkey)
    assert seen == written
    # Records sort by ring position first, so a ring arc is one contiguous range.
    positions = [int.from_bytes(k[:4], "big") for k in keys]
    assert positions == sorted(positions)


# -- node metadata --------------------------------------------------------------


def test_meta_values_round_trip_list_by_prefix_and_survive_reopen(
    tmp_path: Path, clock: Clock
) -> None:
    engine = RocksEngine(tmp_path / "db", now_ms=clock)
    engine.meta_put(b"cat/a", b"1")
    engine.meta_put(b"cat/b", b"2")
    engine.meta_put(b"cat0", b"not under cat/")
    engine.meta_put(b"node/id", b"7")
    engine.meta_put(b"\xff\xff", b"high")
    engine.meta_put(b"\xff\xff\x00", b"higher")
    assert engine.meta_get(b"cat/a") == b"1"
    assert engine.meta_get(b"missing") is None
    assert engine.meta_items(b"cat/") == [(b"cat/a", b"1"), (b"cat/b", b"2")]
    assert engine.meta_items(b"\xff") == [(b"\xff\xff", b"high"), (b"\xff\xff\x00", b"higher")]
    engine.meta_delete(b"cat/a")
    engine.close()

    engine = RocksEngine(tmp_path / "db", now_ms=clock)
    try:
        assert engine.meta_get(b"cat/a") is None
        assert engine.meta_items(b"cat/") == [(b"cat/b", b"2")]
        assert engine.meta_get(b"node/id") == b"7"
        # Metadata lives apart from the datasets.
        assert engine.datasets() == []
    finally:
        engine.close()


@given(st.binary(max_size=64))
def test_ring_position_matches_uhashring_for_any_pkey(pkey: bytes) -> None:
    assert ring_position(pkey) == HashRing(hash_fn="ketama").hashi(pkey.decode("latin-1"))
