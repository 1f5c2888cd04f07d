"""The open RocksDB database under every part of the engine: one column family per
dataset, the node metadata in the default family, one write lock for every
read-compare-write, and range iteration. The engine's concerns (records,
purge, raw ranges, metadata) are mixins over this base, one module each.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

from rocksdict import AccessType, ColumnFamily, Options, Rdict, ReadOptions, WriteOptions

from manhattan.hlc import wall_clock_ms
from manhattan.storage.changes import ChangeLog
from manhattan.storage.timestamp_gate import TimestampGate

_CF_PREFIX = "ds."
_META_CF = "default"


class UnknownDataset(KeyError):
    """The dataset has no column family on this node."""


def _options() -> Options:
    opts = Options(raw_mode=True)
    opts.create_if_missing(True)
    opts.create_missing_column_families(True)
    opts.set_max_background_jobs(2)
    opts.set_keep_log_file_num(5)
    return opts


class RocksBase:
    """One RocksDB directory, its dataset families and its write lock. Thread-safe."""

    def __init__(self, path: str | os.PathLike[str], *, now_ms: Callable[[], int] = wall_clock_ms):
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        self._now_ms = now_ms
        self._opts = _options()
        existing = Rdict.list_cf(str(self.path)) if (self.path / "CURRENT").exists() else []
        families = {name: _options() for name in existing if name != _META_CF}
        self._db = Rdict(
            str(self.path), self._opts, column_families=families,
            access_type=AccessType.read_write(),
        )
        self._families: dict[str, tuple[Rdict, ColumnFamily]] = {}
        for cf_name in families:
            if cf_name.startswith(_CF_PREFIX):
                self._open_family(cf_name[len(_CF_PREFIX):])
        self._buffered = WriteOptions()
        self._synced = WriteOptions()
        self._synced.sync = True
        # A write that names a family dropped meanwhile skips it instead of failing in
        # the memtable after the WAL took it, which RocksDB makes a sticky background
        # error: every later write of the node failed ("Invalid column family specified
        # in write batch", jepsen seed 20261202). Writers also look their family up
        # under the write lock, which a drop takes (``_family``).
        for options in (self._buffered, self._synced):
            options.ignore_missing_column_families = True
        # Read-compare-write of LWW must not interleave with another writer.
        self._write_lock = threading.Lock()
        # Segments each write touched, for incremental hash trees (marked under the lock).
        self.changes = ChangeLog()
        self._purge_position: tuple[str, bytes] | None = None
        self._closed = False
        # The node's clock (storage/timestamp_gate.py): skew-checks and absorbs every
        # version stored. None (bare engines in tests and tools): no check.
        self.timestamp_gate: TimestampGate | None = None
        self.refused_timestamps = 0

    # -- datasets ---------------------------------------------------------

    def _open_family(self, dataset: str) -> None:
        cf_name = _CF_PREFIX + dataset
        self._families[dataset] = (
            self._db.get_column_family(cf_name), self._db.get_column_family_handle(cf_name)
        )

    def create_dataset(self, name: str) -> None:
        with self._write_lock:
            if name not in self._families:
                self._db.create_column_family(_CF_PREFIX + name, _options())
                self._open_family(name)

    def drop_dataset(self, name: str) -> None:
        with self._write_lock:
            if self._families.pop(name, None) is not None:
                self._db.drop_column_family(_CF_PREFIX + name)
                self.changes.reset(name)

    def change_seq(self) -> int:
        """The change sequence, taken under the write lock: every write visible now is
        marked at or below it (see ``ChangeLog``)."""
        with self._write_lock:
            return self.changes.seq

    def datasets(self) -> list[str]:
        return sorted(self._families)

    def _family(self, dataset: str) -> tuple[Rdict, ColumnFamily]:
        """The dataset's family; UnknownDataset when there is none. A writer looks it up
        again under the write lock, so a drop cannot come between that and its write."""
        try:
            return self._families[dataset]
        except KeyError:
            raise UnknownDataset(dataset) from None

    @staticmethod
    def _range(
        family: Rdict, lower: bytes, upper: bytes | None, reverse: bool
    ) -> Iterator[tuple[bytes, bytes]]:
        """Entries with lower <= key < upper, ascending or descending."""
        if upper is not None and upper <= lower:
            return
        read_opts = ReadOptions()
        # Only the upper bound: rocksdict 0.3.x applies set_iterate_lower_bound
        # as an upper bound, so the lower one is enforced here by hand.
        if upper is not None:
            read_opts.set_iterate_upper_bound(upper)
        it = family.iter(read_opts)
        if reverse:
            it.seek_to_last()
            while it.valid():
                key = it.key()
                if key < lower:
                    return
                yield key, it.value()
                it.prev()
        else:
            it.seek(lower)
            while it.valid():
                yield it.key(), it.value()
                it.next()

    # -- durability and lifecycle -------------------------------------------

    def sync(self) -> None:
        self._db.flush_wal(True)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._db.flush_wal(True)
        self._families.clear()
        self._db.close()

