"""Properties of the local trim (``storage/trim.py``) on a real RocksEngine: never
more than the cap kept, never a newer entry dropped (by lkey or by version), and
appends racing the trim kept."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from manhattan.hlc import pack
from manhattan.storage import Entry, RocksEngine, Version, Write
from manhattan.storage.trim import doomed, trim

NOW_MS = 1_700_000_000_000
DS = "timelines"
TRIM_AT = Version(pack(NOW_MS + 1_000, 0), 9)  # after every stored entry below
_pkeys = itertools.count()


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RocksEngine]:
    eng = RocksEngine(Path(tmp_path_factory.mktemp("trim")) / "db", now_ms=lambda: NOW_MS)
    eng.create_dataset(DS)
    yield eng
    eng.close()


def fresh_pkey() -> bytes:
    """Each example its own partition: one engine serves every example."""
    return b"user-%d" % next(_pkeys)


# A stored partition: lkey -> (ms offset of its version, tombstone?).
partitions = st.dictionaries(
    st.integers(0, 60).map(lambda i: i.to_bytes(2, "big")),
    st.tuples(st.integers(0, 500), st.booleans()), max_size=40)


def load(engine: RocksEngine, pkey: bytes, stored: dict[bytes, tuple[int, bool]]) -> None:
    engine.apply(DS, [Write(pkey, lkey, Entry(Version(pack(NOW_MS + ms, 0), 1), b"v", 0, dead))
                      for lkey, (ms, dead) in stored.items()])


def live(engine: RocksEngine, pkey: bytes) -> list[bytes]:
    return [r.lkey for r in engine.scan(DS, pkey, limit=10_000).records]


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(stored=partitions, keep=st.integers(0, 45))
def test_trim_keeps_exactly_the_newest_live_records(engine: RocksEngine, stored, keep: int
                                                    ) -> None:
    pkey = fresh_pkey()
    load(engine, pkey, stored)
    before = live(engine, pkey)
    outcome = trim(engine, DS, pkey, keep=keep, version=TRIM_AT, now_ms=lambda: NOW_MS)
    after = live(engine, pkey)
    assert len(after) <= keep
    assert after == sorted(before)[-keep:] if keep else after == []
    gone = sorted(set(before) - set(after))
    assert outcome.removed == len(gone)
    assert outcome.floor == (gone[-1] if gone else None)
    # Never a newer entry dropped: everything removed sorts below everything kept.
    assert not after or not gone or max(gone) < min(after)
    # Trimming again changes nothing.
    assert trim(engine, DS, pkey, keep=keep, version=TRIM_AT, now_ms=lambda: NOW_MS).removed == 0


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(stored=partitions, keep=st.integers(0, 20),
       racing=st.dictionaries(st.integers(0, 80).map(lambda i: i.to_bytes(2, "big")),
                              st.integers(1, 500), max_size=15))
def test_appends_racing_a_trim_are_never_dropped(engine: RocksEngine, stored, keep: int,
                                                 racing: dict[bytes, int]) -> None:
    """Writes newer than the trim's version that land between its scan and its apply
    (any lkey, including ones the trim picked) all survive it."""
    pkey = fresh_pkey()
    load(engine, pkey, stored)
    planned = doomed(engine, DS, pkey, keep=keep, version=TRIM_AT, now_ms=NOW_MS)
    newer = [Write(pkey, lkey, Entry(Version(TRIM_AT.timestamp + ms, 2), b"new"))
             for lkey, ms in racing.items()]
    engine.apply(DS, newer)  # the concurrent appends
    engine.apply(DS, planned)  # then the trim's tombstones
    after = set(live(engine, pkey))
    assert {w.lkey for w in newer} <= after
    # Of the entries the trim saw, still never more than the cap.
    assert len(after - set(racing)) <= keep


@settings(max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(stored=partitions, keep=st.integers(0, 20), lo=st.integers(0, 30), span=st.integers(1, 30))
def test_trim_stays_inside_its_range(engine: RocksEngine, stored, keep: int, lo: int,
                                     span: int) -> None:
    pkey = fresh_pkey()
    load(engine, pkey, stored)
    start, end = lo.to_bytes(2, "big"), (lo + span).to_bytes(2, "big")
    before = live(engine, pkey)
    trim(engine, DS, pkey, keep=keep, version=TRIM_AT, now_ms=lambda: NOW_MS, start=start,
         end=end)
    after = live(engine, pkey)
    inside = [k for k in before if start <= k < end]
    assert [k for k in after if not start <= k < end] == [k for k in before
                                                          if not start <= k < end]
    assert [k for k in after if start <= k < end] == (inside[-keep:] if keep else [])


def test_entries_newer_than_the_trim_are_kept_even_below_the_cut(engine: RocksEngine) -> None:
    pkey = fresh_pkey()
    load(engine, pkey, {b"\x00\x01": (0, False), b"\x00\x02": (0, False), b"\x00\x03": (0, False)})
    # An old lkey rewritten after the trim was stamped (a re-delivered entry).
    engine.apply(DS, [Write(pkey, b"\x00\x01", Entry(Version(TRIM_AT.timestamp + 5, 1), b"v"))])
    outcome = trim(engine, DS, pkey, keep=1, version=TRIM_AT, now_ms=lambda: NOW_MS)
    assert live(engine, pkey) == [b"\x00\x01", b"\x00\x03"]
    assert outcome.removed == 1 and outcome.floor == b"\x00\x02"


def test_negative_keep_is_refused(engine: RocksEngine) -> None:
    with pytest.raises(ValueError, match="keep"):
        trim(engine, DS, fresh_pkey(), keep=-1, version=TRIM_AT, now_ms=lambda: NOW_MS)


def test_a_trim_that_spans_many_scan_pages_matches_one_page(engine: RocksEngine,
                                                             monkeypatch) -> None:
    """Tombstones are applied a page at a time: with pages of 4, the same outcome."""
    import manhattan.storage.trim as trim_module

    monkeypatch.setattr(trim_module, "PAGE", 4)

    @settings(max_examples=30, deadline=None)
    @given(stored=partitions, keep=st.integers(0, 45))
    def check(stored, keep: int) -> None:
        pkey = fresh_pkey()
        load(engine, pkey, stored)
        before = live(engine, pkey)
        outcome = trim(engine, DS, pkey, keep=keep, version=TRIM_AT, now_ms=lambda: NOW_MS)
        kept = sorted(before)[-keep:] if keep else []
        assert live(engine, pkey) == kept
        gone = sorted(set(before) - set(kept))
        assert (outcome.removed, outcome.floor) == (len(gone), gone[-1] if gone else None)

    check()


@pytest.fixture(scope="module")
def replicas(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[RocksEngine]]:
    engines = [RocksEngine(Path(tmp_path_factory.mktemp(f"replica{i}")) / "db",
                           now_ms=lambda: NOW_MS) for i in range(3)]
    for eng in engines:
        eng.create_dataset(DS)
    yield engines
    for eng in engines:
        eng.close()


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(entries=st.dictionaries(st.integers(0, 60).map(lambda i: i.to_bytes(2, "big")),
                               st.tuples(st.integers(0, 500), st.sets(st.integers(0, 2),
                                                                      min_size=1)),
                               max_size=40),
       keep=st.integers(0, 25))
def test_replicas_that_differ_converge_to_at_least_the_newest_keep(
        replicas: list[RocksEngine], entries, keep: int) -> None:
    """Each replica holds some of the records (a write that reached only some) and trims
    its own; merged by LWW, as repair leaves them: the newest ``keep`` of all the
    records survive (never fewer), every record written after the trim survives, and
    replicas that held the same records keep exactly the newest ``keep``."""
    pkey = fresh_pkey()
    for index, engine in enumerate(replicas):
        load(engine, pkey, {k: (ms, False) for k, (ms, holders) in entries.items()
                            if index in holders})
        trim(engine, DS, pkey, keep=keep, version=TRIM_AT, now_ms=lambda: NOW_MS)
    late = Write(pkey, b"\x00\x00", Entry(Version(TRIM_AT.timestamp + 1, 3), b"late"))
    replicas[0].apply(DS, [late])  # below every cut, written after the trim was stamped
    merged: dict[bytes, Entry] = {}
    for engine in replicas:
        found, _ = engine.scan_entries(DS, pkey, limit=10_000)
        for lkey, entry in found:
            if lkey not in merged or merged[lkey].version < entry.version:
                merged[lkey] = entry
    alive = sorted(k for k, e in merged.items() if not e.tombstone)
    union = sorted(entries)
    newest = union[-keep:] if keep else []
    assert set(newest) <= set(alive)
    assert late.lkey in alive
    if all(holders == {0, 1, 2} for _, holders in entries.values()):
        assert set(alive) == set(newest) | {late.lkey}
