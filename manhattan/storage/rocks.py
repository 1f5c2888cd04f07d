"""The RocksDB engine (rocksdict): one column family per dataset, LWW apply.

Writes go through a WriteBatch so that a batch is atomic on the node. The
write-ahead log is always on; durability beyond a process crash comes from
``sync()`` (an fsync of the WAL), which the node calls through GroupCommit so
that concurrent durable writes share one fsync.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from rocksdict import Checkpoint, WriteBatch

from manhattan.hlc import ClockSkewError
from manhattan.storage.counters import resolve
from manhattan.storage.counters_engine import RocksCounters
from manhattan.storage.engine import DEFAULT_SCAN_LIMIT, MAX_SKIPPED_PER_PAGE
from manhattan.storage.keys import (
    decode_cursor, encode_cursor, pkey_prefix, split_storage_key, successor,
)
from manhattan.storage.meta_store import RocksMetaStore
from manhattan.storage.paxos_state import RocksPaxosState
from manhattan.storage.purge import RocksPurge
from manhattan.storage.raw_ranges import RocksRawRanges
from manhattan.storage.records import (
    Entry, Record, ScanPage, Version, Write, decode_entry, decode_version, encode_entry,
)
from manhattan.storage.rocks_base import UnknownDataset


class RocksEngine(RocksCounters, RocksPaxosState, RocksPurge, RocksRawRanges, RocksMetaStore):
    """Engine over one RocksDB directory. Safe to call from several threads.

    Records (this module), counter increments (``counters_engine.py``), purge
    (``purge.py``), raw ranges (``raw_ranges.py``), node metadata (``meta_store.py``) and
    per-key Paxos state (``paxos_state.py``) over one open database (``rocks_base.py``).
    """

    # -- reads ------------------------------------------------------------

    def get_entry(self, dataset: str, pkey: bytes, lkey: bytes) -> Entry | None:
        family, _ = self._family(dataset)
        raw = family.get(pkey_prefix(pkey) + lkey)
        return None if raw is None else decode_entry(raw)

    def get(self, dataset: str, pkey: bytes, lkey: bytes) -> Record | None:
        entry = self.get_entry(dataset, pkey, lkey)
        if entry is None or not entry.visible_at(self._now_ms()):
            return None
        return Record(pkey, lkey, entry.value, entry.version, entry.expires_at_ms)

    def scan(
        self,
        dataset: str,
        pkey: bytes,
        *,
        start: bytes | None = None,
        end: bytes | None = None,
        limit: int = DEFAULT_SCAN_LIMIT,
        reverse: bool = False,
        cursor: bytes | None = None,
    ) -> ScanPage:
        family, _ = self._family(dataset)
        prefix = pkey_prefix(pkey)
        lower, upper = self._bounds(prefix, start, end, reverse, cursor)
        now = self._now_ms()
        records: list[Record] = []
        skipped = 0
        last_lkey: bytes | None = None
        for key, raw in self._range(family, lower, upper, reverse):
            lkey = key[len(prefix):]
            last_lkey = lkey
            entry = decode_entry(raw)
            if entry.visible_at(now):
                records.append(Record(pkey, lkey, entry.value, entry.version, entry.expires_at_ms))
                if len(records) >= limit:
                    break
            else:
                skipped += 1
                if skipped >= MAX_SKIPPED_PER_PAGE:
                    break
        else:
            return ScanPage(records, None)
        return ScanPage(records, encode_cursor(last_lkey or b""))

    def scan_entries(
        self,
        dataset: str,
        pkey: bytes,
        *,
        start: bytes | None = None,
        end: bytes | None = None,
        limit: int = DEFAULT_SCAN_LIMIT,
        reverse: bool = False,
        cursor: bytes | None = None,
    ) -> tuple[list[tuple[bytes, Entry]], bytes | None]:
        """Stored versions of one pkey, tombstones and expired values included:
        what replicas exchange so a coordinator can merge them by LWW."""
        family, _ = self._family(dataset)
        prefix = pkey_prefix(pkey)
        lower, upper = self._bounds(prefix, start, end, reverse, cursor)
        entries: list[tuple[bytes, Entry]] = []
        for key, raw in self._range(family, lower, upper, reverse):
            entries.append((key[len(prefix):], decode_entry(raw)))
            if len(entries) >= limit:
                return entries, encode_cursor(entries[-1][0])
        return entries, None

    @staticmethod
    def _bounds(prefix: bytes, start: bytes | None, end: bytes | None, reverse: bool,
                cursor: bytes | None) -> tuple[bytes, bytes | None]:
        """[lower, upper) storage keys of a scan, narrowed past a cursor."""
        lower = prefix + (start or b"")
        upper = prefix + end if end is not None else successor(prefix)
        after = decode_cursor(cursor) if cursor else None
        if after is not None:
            if reverse:
                upper = prefix + after  # exclusive: resume strictly before it
            else:
                lower = max(lower, prefix + after + b"\x00")
        return lower, upper

    # -- writes -----------------------------------------------------------

    def apply(self, dataset: str, writes: Sequence[Write], *, sync: bool = False) -> list[bool]:
        self._family(dataset)  # UnknownDataset before any work (again under the lock)
        if self.timestamp_gate is not None and writes:
            # The newest carries the others: one skew check and clock update per batch.
            try:
                self.timestamp_gate.observe(max(w.entry.version.timestamp for w in writes))
            except ClockSkewError:
                self.refused_timestamps += len(writes)
                raise
        prefixes: dict[bytes, bytes] = {}
        keys = []
        for write in writes:
            prefix = prefixes.get(write.pkey)
            if prefix is None:
                prefix = prefixes[write.pkey] = pkey_prefix(write.pkey)
            keys.append(prefix + write.lkey)
        batch = WriteBatch(raw_mode=True)
        applied: list[bool] = []
        with self._write_lock:
            family, handle = self._family(dataset)  # (not dropped meanwhile: see _family)
            # One multi-get for the stored versions: far cheaper than a get per record.
            stored = family.get(keys) if keys else []
            newest: dict[bytes, Version] = {}
            merged: dict[bytes, Entry] = {}  # counter states written by this batch
            for key, raw, write in zip(keys, stored, writes):
                if write.entry.counter:  # merged, never lost (storage/counters.py)
                    base = merged.get(key) or (decode_entry(raw) if raw is not None else None)
                    result = resolve(base, write.entry)
                    if result is not None:
                        merged[key] = result
                        newest[key] = result.version
                        batch.put(key, encode_entry(result), handle)
                    applied.append(True)
                    continue
                current = newest.get(key)
                if current is None and raw is not None:
                    current = decode_version(raw)
                incoming = write.entry.version
                if current is not None and incoming <= current:
                    applied.append(False)
                    continue
                newest[key] = incoming
                batch.put(key, encode_entry(write.entry), handle)
                applied.append(True)
            if newest:
                self._db.write(batch, self._synced if sync else self._buffered)
                self.changes.mark(dataset, newest)
        return applied

    # -- figures and checkpoints ------------------------------------------

    def approximate_keys(self) -> int:
        """RocksDB's estimate of the number of keys over all datasets."""
        return sum(
            family.property_int_value("rocksdb.estimate-num-keys") or 0
            for family, _ in self._families.values()
        )

    def dataset_bytes(self, dataset: str) -> int:
        """RocksDB's estimate of one dataset's size here (SST live data + memtables);
        cheap (no I/O), for storage quotas. 0 for an unknown dataset."""
        entry = self._families.get(dataset)
        if entry is None:
            return 0
        family = entry[0]
        return sum(family.property_int_value(p) or 0 for p in (
            "rocksdb.estimate-live-data-size", "rocksdb.cur-size-all-mem-tables"))

    def dataset_stats(self) -> dict[str, dict[str, int]]:
        """RocksDB's own figures per dataset (for /metrics): estimated keys, live data,
        SST and memtable bytes."""
        properties = {
            "estimated_keys": "rocksdb.estimate-num-keys",
            "live_data_bytes": "rocksdb.estimate-live-data-size",
            "sst_bytes": "rocksdb.total-sst-files-size",
            "memtable_bytes": "rocksdb.cur-size-all-mem-tables",
        }
        return {
            dataset: {name: family.property_int_value(prop) or 0
                      for name, prop in properties.items()}
            for dataset, (family, _) in list(self._families.items())
        }

    def checkpoint(self, path: str | os.PathLike[str]) -> None:
        """A consistent point-in-time copy of the whole database (every dataset and the
        node metadata) at ``path``, which must not exist: SST files are hard-linked,
        memtables flushed first. Opens as a normal RocksDB directory."""
        Checkpoint(self._db).create_checkpoint(str(path))

    def disk_bytes(self) -> int:
        """Bytes of the files in the database directory."""
        return sum(p.stat().st_size for p in self.path.iterdir() if p.is_file())


__all__ = ["RocksEngine", "UnknownDataset", "split_storage_key"]
