"""The RocksDB engine (rocksdict): one column family per dataset, LWW apply.

Writes go through a WriteBatch so that a batch is atomic on the node. The
write-ahead log is always on; durability beyond a process crash comes from
``sync()`` (an fsync of the WAL), which the node calls through GroupCommit so
that concurrent durable writes share one fsync.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from rocksdict import (
    AccessType, Checkpoint, ColumnFamily, Options, Rdict, ReadOptions, WriteBatch, WriteOptions,
)

from manhattan.hlc import physical_ms, wall_clock_ms
from manhattan.storage.engine import DEFAULT_SCAN_LIMIT, MAX_SKIPPED_PER_PAGE
from manhattan.storage.keys import (
    decode_cursor, encode_cursor, pkey_prefix, split_storage_key, successor,
)
from manhattan.storage.records import (
    Entry, Record, ScanPage, Version, Write, decode_entry, decode_version, encode_entry,
)

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


class RocksEngine:
    """Engine over one RocksDB directory. Safe to call from several threads."""

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
        # Read-compare-write of LWW must not interleave with another writer.
        self._write_lock = threading.Lock()
        self._purge_position: tuple[str, bytes] | None = None
        self._closed = False

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

    def datasets(self) -> list[str]:
        return sorted(self._families)

    def _family(self, dataset: str) -> tuple[Rdict, ColumnFamily]:
        try:
            return self._families[dataset]
        except KeyError:
            raise UnknownDataset(dataset) from None

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

    # -- writes -----------------------------------------------------------

    def apply(self, dataset: str, writes: Sequence[Write], *, sync: bool = False) -> list[bool]:
        family, handle = self._family(dataset)
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
            # One multi-get for the stored versions: far cheaper than a get per record.
            stored = family.get(keys) if keys else []
            newest: dict[bytes, Version] = {}
            for key, raw, write in zip(keys, stored, writes):
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
        return applied

    def purge(self, grace_ms: int, budget: int = 10_000,
              may_drop: Callable[[str, bytes, Entry], bool] | None = None) -> int:
        """Expired values become tombstones (so an older replica copy cannot come
        back through repair); tombstones older than ``grace_ms`` are dropped, and only
        those ``may_drop`` allows (anti-entropy: once every replica is known to hold them)."""
        now = self._now_ms()
        changed = 0
        visited = 0
        names = self.datasets()
        if not names:
            return 0
        dataset, resume = self._purge_position or (names[0], b"")
        if dataset not in names:
            dataset, resume = names[0], b""
        while visited < budget:
            family, handle = self._families.get(dataset, (None, None))
            batch = WriteBatch(raw_mode=True)
            finished = True
            with self._write_lock:
                if family is not None:
                    for key, raw in self._range(family, resume, None, False):
                        visited += 1
                        entry = decode_entry(raw)
                        if entry.tombstone:
                            if (physical_ms(entry.version.timestamp) + grace_ms < now
                                    and (may_drop is None or may_drop(dataset, key, entry))):
                                batch.delete(key, handle)
                                changed += 1
                        elif entry.expires_at_ms and entry.expires_at_ms <= now:
                            tombstone = Entry(entry.version, b"", entry.expires_at_ms, True)
                            batch.put(key, encode_entry(tombstone), handle)
                            changed += 1
                        if visited >= budget:
                            resume = key + b"\x00"
                            finished = False
                            break
                    if not batch.is_empty():
                        self._db.write(batch, self._buffered)
            if not finished:
                break
            following = [n for n in names if n > dataset]
            if not following:
                self._purge_position = None
                return changed
            dataset, resume = following[0], b""
        self._purge_position = (dataset, resume)
        return changed

    # -- raw ranges (anti-entropy, streaming, cleanup) -----------------------

    def iter_raw(self, dataset: str, lower: bytes, upper: bytes | None
                 ) -> Iterator[tuple[bytes, bytes]]:
        """(storage key, stored value) with lower <= key < upper, undecoded: what range
        hashing and streaming read, so no record is parsed twice."""
        family, _ = self._family(dataset)
        if upper is not None and upper <= lower:
            return iter(())
        read_opts = ReadOptions()
        if upper is not None:
            read_opts.set_iterate_upper_bound(upper)
        # items() iterates in C: several times faster than stepping an iterator here.
        return family.items(from_key=lower, read_opt=read_opts)

    def get_raw_many(self, dataset: str, keys: Sequence[bytes]) -> list[bytes | None]:
        """Stored values of storage keys (None where absent), undecoded."""
        family, _ = self._family(dataset)
        return family.get(list(keys)) if keys else []

    def apply_raw(self, dataset: str, items: Sequence[tuple[bytes, bytes]], *,
                  sync: bool = False) -> int:
        """LWW-apply (storage key, stored value) pairs as streamed from a replica;
        returns how many became the stored version."""
        family, handle = self._family(dataset)
        if not items:
            return 0
        batch = WriteBatch(raw_mode=True)
        applied = 0
        with self._write_lock:
            stored = family.get([k for k, _ in items])
            newest: dict[bytes, Version] = {}
            for (key, raw), current_raw in zip(items, stored):
                incoming = decode_version(raw)
                current = newest.get(key)
                if current is None and current_raw is not None:
                    current = decode_version(current_raw)
                if current is not None and incoming <= current:
                    continue
                newest[key] = incoming
                batch.put(key, raw, handle)
                applied += 1
            if applied:
                self._db.write(batch, self._synced if sync else self._buffered)
        return applied

    def delete_range(self, dataset: str, ranges: Sequence[tuple[bytes, bytes | None]]) -> None:
        """Drop every record in the [lower, upper) storage-key ranges (upper None: to the
        end) in one batch: how an old owner forgets ranges it gave away."""
        _, handle = self._family(dataset)
        batch = WriteBatch(raw_mode=True)
        for lower, upper in ranges:
            batch.delete_range(lower, upper if upper is not None else b"\xff" * 8, handle)
        with self._write_lock:
            self._db.write(batch, self._synced)

    # -- node metadata (default column family) ------------------------------

    def meta_get(self, key: bytes) -> bytes | None:
        """A node-local metadata value (catalog, node identity)."""
        return self._db.get(key)

    def meta_put(self, key: bytes, value: bytes) -> None:
        """Store a metadata value durably."""
        self._db.put(key, value, self._synced)

    def meta_delete(self, key: bytes) -> None:
        """Delete a metadata value durably."""
        self._db.delete(key, self._synced)

    def meta_items(self, prefix: bytes, limit: int | None = None) -> list[tuple[bytes, bytes]]:
        """Metadata entries whose key starts with ``prefix`` (at most ``limit``)."""
        items = []
        for item in self._range(self._db, prefix, successor(prefix), False):
            items.append(item)
            if limit is not None and len(items) >= limit:
                break
        return items

    def meta_write(self, puts: Sequence[tuple[bytes, bytes]] = (),
                   deletes: Sequence[bytes] = ()) -> None:
        """Several metadata changes in one batch, WAL-buffered (fsync via ``sync()``)."""
        batch = WriteBatch(raw_mode=True)
        for key, value in puts:
            batch.put(key, value)
        for key in deletes:
            batch.delete(key)
        self._db.write(batch, self._buffered)

    # -- durability and lifecycle -------------------------------------------

    def sync(self) -> None:
        self._db.flush_wal(True)

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

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._db.flush_wal(True)
        self._families.clear()
        self._db.close()


__all__ = ["RocksEngine", "UnknownDataset", "split_storage_key"]
