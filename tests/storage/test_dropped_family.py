"""A dataset dropped while a write to it is on its way: the write must not break the
node. RocksDB fails a batch naming a dropped column family only after the WAL took it,
and makes that a sticky background error: every later write of the node failed
(jepsen seed 20261202, node 5). The engine skips such a family instead, and its writers
look their family up under the lock a drop takes."""

from __future__ import annotations

import pytest
from rocksdict import WriteBatch

from manhattan.storage import Entry, RocksEngine, UnknownDataset, Version, Write


def test_a_write_naming_a_dropped_family_leaves_the_node_writable(tmp_path) -> None:
    engine = RocksEngine(tmp_path / "db")
    try:
        engine.create_dataset("gone")
        engine.create_dataset("kept")
        _, handle = engine._families["gone"]  # looked up by a writer, then the drop
        engine.drop_dataset("gone")
        batch = WriteBatch(raw_mode=True)
        batch.put(b"k", b"v", handle)
        engine._db.write(batch, engine._synced)  # skipped, not a sticky error
        engine.meta_put(b"m", b"1")
        engine.apply("kept", [Write(b"p", b"l", Entry(Version(1, 1), b"v", 0, False))])
        assert engine.get_entry("kept", b"p", b"l").value == b"v"
        assert engine.meta_get(b"m") == b"1"
        with pytest.raises(UnknownDataset):
            engine.apply("gone", [Write(b"p", b"l", Entry(Version(1, 1), b"v", 0, False))])
    finally:
        engine.close()
