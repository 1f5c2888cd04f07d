"""RocksEngine held against ModelEngine by a hypothesis state machine.

Hypothesis drives both engines through the same random program (out-of-order
and tied versions, tombstones, TTLs, clock steps, batches with repeated keys,
purges with and without a veto, raw range copies and deletes, metadata changes,
drops, reopening the RocksDB directory) and shrinks any divergence in reads,
stored entries, paginated scans, raw ranges or metadata to a minimal failing program.
"""

from __future__ import annotations

import shutil
import tempfile

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, invariant, rule
from model import ModelEngine

from manhattan.hlc import pack, physical_ms
from manhattan.storage import Entry, RocksEngine, Version, Write
from manhattan.storage.keys import pkey_prefix, split_storage_key, successor

BASE_MS = 1_700_000_000_000
DATASETS = ("alpha", "beta")

# Tiny key and version spaces, so that collisions, ties and \xff / prefix
# relations between keys come up in nearly every program.
key_bytes = st.sampled_from([b"", b"a", b"ab", b"b", b"\x00", b"\xff", b"a\xff", b"\xff\xff"]) | (
    st.binary(max_size=3)
)
new_versions = st.builds(
    Version,
    timestamp=st.builds(pack, st.integers(-20, 60).map(lambda d: BASE_MS + d), st.integers(0, 2)),
    writer=st.integers(0, 2),
    superseded=st.just(0),  # a write answer's field only: storage never keeps it
)
datasets = st.sampled_from(DATASETS)
values = st.binary(max_size=4)
meta_keys = st.sampled_from([b"m/", b"m/a", b"m/b", b"m/b\x00", b"n/a", b"\xff"])


class EngineVersusModel(RuleBasedStateMachine):
    """Every read of the RocksDB engine equals the model's, after any program."""

    pkeys = Bundle("pkeys")
    lkeys = Bundle("lkeys")
    # Writes draw versions from a bundle, so that the very same version comes
    # back on the same key (an exact LWW tie that must lose) and purges can
    # aim at the exact age of a tombstone.
    versions = Bundle("versions")

    def __init__(self) -> None:
        super().__init__()
        self.now = BASE_MS
        self.dir = tempfile.mkdtemp(prefix="manhattan-engine-model-")
        self.real = RocksEngine(self.dir, now_ms=self._clock)
        self.model = ModelEngine(now_ms=self._clock)
        for name in DATASETS:
            self.real.create_dataset(name)
            self.model.create_dataset(name)
        self.touched: set[tuple[bytes, bytes]] = set()

    def _clock(self) -> int:
        return self.now

    def teardown(self) -> None:
        try:
            self.real.close()
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)

    def _apply_both(self, dataset: str, writes: list[Write]) -> None:
        self.touched.update((w.pkey, w.lkey) for w in writes)
        expected = self.model.apply(dataset, writes)
        assert self.real.apply(dataset, writes) == expected

    # -- keys ---------------------------------------------------------------

    @rule(target=pkeys, pkey=key_bytes)
    def new_pkey(self, pkey: bytes) -> bytes:
        return pkey

    @rule(target=lkeys, lkey=key_bytes)
    def new_lkey(self, lkey: bytes) -> bytes:
        return lkey

    @rule(target=versions, version=new_versions)
    def new_version(self, version: Version) -> Version:
        return version

    # -- writes -------------------------------------------------------------

    @rule(dataset=datasets, pkey=pkeys, lkey=lkeys, version=versions, value=values)
    def put(self, dataset: str, pkey: bytes, lkey: bytes, version: Version, value: bytes) -> None:
        self._apply_both(dataset, [Write(pkey, lkey, Entry(version, value))])

    @rule(dataset=datasets, pkey=pkeys, lkey=lkeys, version=versions)
    def delete(self, dataset: str, pkey: bytes, lkey: bytes, version: Version) -> None:
        self._apply_both(dataset, [Write(pkey, lkey, Entry(version, tombstone=True))])

    @rule(
        dataset=datasets, pkey=pkeys, lkey=lkeys, version=versions, value=values,
        ttl_ms=st.sampled_from([-1, 0, 1]) | st.integers(-5, 60),
    )
    def put_with_ttl(
        self, dataset: str, pkey: bytes, lkey: bytes, version: Version, value: bytes, ttl_ms: int
    ) -> None:
        entry = Entry(version, value, expires_at_ms=self.now + ttl_ms)
        self._apply_both(dataset, [Write(pkey, lkey, entry)])

    @rule(
        dataset=datasets,
        writes=st.lists(
            st.tuples(pkeys, lkeys, versions, values, st.booleans()), min_size=1, max_size=6
        ),
        repeat_version=versions,
    )
    def apply_batch_with_a_repeated_key(
        self, dataset: str, writes: list[tuple], repeat_version: Version
    ) -> None:
        batch = [
            Write(p, l, Entry(v, b"" if tomb else val, tombstone=tomb))
            for p, l, v, val, tomb in writes
        ]
        # The first key again, later in the same batch, with another version.
        first = batch[0]
        batch.append(Write(first.pkey, first.lkey, Entry(repeat_version, b"again")))
        self._apply_both(dataset, batch)

    # -- time, maintenance, lifecycle ----------------------------------------

    @rule(ms=st.integers(0, 40))
    def advance_clock(self, ms: int) -> None:
        self.now += ms

    @rule(grace_ms=st.integers(0, 60))
    def purge(self, grace_ms: int) -> None:
        # A budget large enough for one full sweep, the only kind the model does.
        assert self.real.purge(grace_ms, budget=1_000_000) == self.model.purge(grace_ms)

    @rule(dataset=datasets, pkey=pkeys, lkey=lkeys, version=versions, parity=st.integers(0, 1))
    def delete_then_purge_with_a_veto(self, dataset: str, pkey: bytes, lkey: bytes,
                                      version: Version, parity: int) -> None:
        # The tombstone gate's shape: a rule over (dataset, storage key, entry). The
        # grace period is chosen so that the fresh tombstone is old enough (when its
        # version is in the past): only the veto decides whether it goes.
        def may_drop(dataset: str, key: bytes, entry: Entry) -> bool:
            return (len(key) + len(dataset)) % 2 == parity

        self.delete(dataset, pkey, lkey, version)
        grace_ms = max(self.now - physical_ms(version.timestamp) - 1, 0)
        assert (self.real.purge(grace_ms, budget=1_000_000, may_drop=may_drop)
                == self.model.purge(grace_ms, may_drop=may_drop))

    # -- raw ranges -----------------------------------------------------------

    @rule(source=datasets, into=datasets, pkey=st.none() | pkeys)
    def copy_a_raw_range(self, source: str, into: str, pkey: bytes | None) -> None:
        """What streaming and anti-entropy do: read raw items on one side, apply them
        last-writer-wins on the other (here: another dataset)."""
        lower, upper = (b"", None) if pkey is None else (pkey_prefix(pkey),
                                                          successor(pkey_prefix(pkey)))
        items = list(self.model.iter_raw(source, lower, upper))
        assert list(self.real.iter_raw(source, lower, upper)) == items
        self.touched.update(split_storage_key(k)[1:] for k, _ in items)
        assert self.real.apply_raw(into, items) == self.model.apply_raw(into, items)

    @rule(dataset=datasets, pkey=pkeys, whole=st.booleans())
    def delete_a_raw_range(self, dataset: str, pkey: bytes, whole: bool) -> None:
        bounds = [(pkey_prefix(pkey), None if whole else successor(pkey_prefix(pkey)))]
        for engine in (self.real, self.model):
            engine.delete_range(dataset, bounds)

    # -- metadata ---------------------------------------------------------------

    @rule(key=meta_keys, value=values)
    def meta_put(self, key: bytes, value: bytes) -> None:
        for engine in (self.real, self.model):
            engine.meta_put(key, value)

    @rule(key=meta_keys)
    def meta_delete(self, key: bytes) -> None:
        for engine in (self.real, self.model):
            engine.meta_delete(key)

    @rule(puts=st.lists(st.tuples(meta_keys, values), max_size=3),
          deletes=st.lists(meta_keys, max_size=2))
    def meta_write(self, puts: list[tuple[bytes, bytes]], deletes: list[bytes]) -> None:
        for engine in (self.real, self.model):
            engine.meta_write(puts=puts, deletes=deletes)

    @rule(version=versions, margin_ms=st.sampled_from([-1, 0, 1]))
    def purge_at_the_grace_boundary_of_a_version(self, version: Version, margin_ms: int) -> None:
        # Tombstones written at ``version`` are exactly ``grace_ms`` old when margin is 0.
        grace_ms = self.now - physical_ms(version.timestamp) + margin_ms
        if grace_ms >= 0:
            self.purge(grace_ms)

    @rule(dataset=datasets)
    def drop_and_recreate_dataset(self, dataset: str) -> None:
        for engine in (self.real, self.model):
            engine.drop_dataset(dataset)
            engine.create_dataset(dataset)

    @rule()
    def close_and_reopen(self) -> None:
        self.real.close()
        self.real = RocksEngine(self.dir, now_ms=self._clock)
        assert self.real.datasets() == self.model.datasets()

    # -- reads --------------------------------------------------------------

    @rule(
        dataset=datasets, pkey=pkeys,
        start=st.none() | lkeys, end=st.none() | lkeys,
        limit=st.integers(1, 4), reverse=st.booleans(),
    )
    def scan_page_by_page(
        self, dataset: str, pkey: bytes, start: bytes | None, end: bytes | None,
        limit: int, reverse: bool,
    ) -> None:
        real_cursor = model_cursor = None
        for _ in range(len(self.touched) + 2):
            kwargs = dict(start=start, end=end, limit=limit, reverse=reverse)
            real_page = self.real.scan(dataset, pkey, cursor=real_cursor, **kwargs)
            model_page = self.model.scan(dataset, pkey, cursor=model_cursor, **kwargs)
            assert real_page.records == model_page.records
            assert (real_page.cursor is None) == (model_page.cursor is None)
            if model_page.cursor is None:
                return
            real_cursor, model_cursor = real_page.cursor, model_page.cursor
        raise AssertionError("the scan did not end")

    @invariant()
    def every_get_and_stored_entry_equals_the_models(self) -> None:
        for dataset in DATASETS:
            for pkey, lkey in self.touched:
                assert self.real.get(dataset, pkey, lkey) == self.model.get(dataset, pkey, lkey)
                assert (
                    self.real.get_entry(dataset, pkey, lkey)
                    == self.model.get_entry(dataset, pkey, lkey)
                )

    @invariant()
    def raw_ranges_and_metadata_equal_the_models(self) -> None:
        for dataset in DATASETS:
            items = list(self.model.iter_raw(dataset, b"", None))
            assert list(self.real.iter_raw(dataset, b"", None)) == items
            keys = [k for k, _ in items] + [pkey_prefix(b"absent")]
            assert self.real.get_raw_many(dataset, keys) == self.model.get_raw_many(dataset, keys)
        for prefix in (b"", b"m/", b"m/b"):
            assert self.real.meta_items(prefix) == self.model.meta_items(prefix)
            assert self.real.meta_items(prefix, 1) == self.model.meta_items(prefix, 1)
        assert self.real.meta_get(b"m/a") == self.model.meta_get(b"m/a")

    @invariant()
    def stored_entries_page_alike(self) -> None:
        for dataset in DATASETS:
            for pkey in {p for p, _ in self.touched}:
                for reverse in (False, True):
                    pages = []
                    for engine in (self.real, self.model):
                        got, cursor = [], None
                        for _ in range(len(self.touched) + 2):
                            page, cursor = engine.scan_entries(dataset, pkey, limit=2,
                                                               reverse=reverse, cursor=cursor)
                            got.append(page)
                            if cursor is None:
                                break
                        pages.append(got)
                    assert pages[0] == pages[1]

    @invariant()
    def full_paginated_scans_equal_the_models(self) -> None:
        for dataset in DATASETS:
            for pkey in {p for p, _ in self.touched}:
                for reverse in (False, True):
                    expected = self.model.scan(
                        dataset, pkey, limit=1_000_000, reverse=reverse
                    ).records
                    got, cursor = [], None
                    while True:
                        page = self.real.scan(
                            dataset, pkey, limit=2, reverse=reverse, cursor=cursor
                        )
                        got.extend(page.records)
                        cursor = page.cursor
                        if cursor is None:
                            break
                        assert len(got) <= len(expected)
                    assert got == expected


EngineVersusModel.TestCase.settings = settings(
    max_examples=40,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
# Hypothesis gives up shrinking a failure after 300 s; let it finish and print the
# minimal program instead of the default pytest timeout cutting it short.
TestRocksEngineAgreesWithTheModelAfterAnyProgram = pytest.mark.timeout(450)(
    EngineVersusModel.TestCase
)
