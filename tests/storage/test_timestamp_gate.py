"""The engine's timestamp gate: range streaming and anti-entropy (``apply_raw``) and
replica writes (``apply``) never store a version far ahead of the node's clock, and
the clock absorbs what they do store (real RocksDB, real HybridClock)."""

from __future__ import annotations

import pytest

from manhattan.hlc import ClockSkewError, HybridClock, pack
from manhattan.storage import Entry, RocksEngine, Version, Write, storage_key
from manhattan.storage.records import encode_entry

NOW = 1_700_000_000_000


@pytest.fixture
def engine(tmp_path):
    engine = RocksEngine(tmp_path / "db", now_ms=lambda: NOW)
    engine.create_dataset("ds")
    engine.timestamp_gate = HybridClock(lambda: NOW, max_skew_ms=1_000)
    yield engine
    engine.close()


def raw(pkey: bytes, ms: int) -> tuple[bytes, bytes]:
    return storage_key(pkey, b"l"), encode_entry(Entry(Version(pack(ms), 9), b"v"))


def test_streamed_far_future_versions_are_dropped_and_the_rest_absorbed(engine) -> None:
    clock = engine.timestamp_gate
    applied = engine.apply_raw("ds", [raw(b"ok", NOW + 500), raw(b"bad", NOW + 60_000)])
    assert applied == 1 and engine.refused_timestamps == 1
    assert engine.get_entry("ds", b"bad", b"l") is None
    assert engine.get_entry("ds", b"ok", b"l") is not None
    assert clock.now() > pack(NOW + 500)  # never below a version it stored


def test_a_far_future_replica_write_is_refused_whole(engine) -> None:
    future = Write(b"p", b"l", Entry(Version(pack(NOW + 60_000), 9), b"x"))
    with pytest.raises(ClockSkewError):
        engine.apply("ds", [Write(b"p", b"m", Entry(Version(pack(NOW), 9), b"y")), future])
    assert engine.get_entry("ds", b"p", b"m") is None and engine.refused_timestamps == 2
