"""A plain-Python model of the storage Engine, for the real engine to be held against.

Dicts instead of RocksDB, so that its semantics can be read off in a minute:
last-writer-wins on ``Version`` (an incoming write replaces the stored one only if
strictly newer), tombstones, TTL visibility through an injectable clock, scans that
page with a cursor. It covers the whole ``manhattan.storage.Engine`` interface
(``tests/storage/test_engine_interface.py`` checks): raw ranges speak the storage
key layout (``storage_key``) and the record codec, the only place the model needs
them; size figures are exact where RocksDB's are estimates.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from manhattan.hlc import physical_ms
from manhattan.storage import DEFAULT_SCAN_LIMIT, UnknownDataset
from manhattan.storage.keys import split_storage_key, storage_key
from manhattan.storage.records import Entry, Record, ScanPage, Write, decode_entry, encode_entry

_CURSOR = b"model:"


class ModelEngine:
    """The Engine protocol over dicts; every operation is obviously correct or it is a bug."""

    def __init__(self, now_ms: Callable[[], int] = lambda: 0) -> None:
        self._now_ms = now_ms
        self._data: dict[str, dict[tuple[bytes, bytes], Entry]] = {}
        self._meta: dict[bytes, bytes] = {}
        self.checkpoints: dict[str, tuple[dict, dict]] = {}

    # -- datasets ---------------------------------------------------------

    def create_dataset(self, name: str) -> None:
        """Create the dataset; a no-op when it exists."""
        self._data.setdefault(name, {})

    def drop_dataset(self, name: str) -> None:
        """Drop the dataset and every record in it."""
        self._data.pop(name, None)

    def datasets(self) -> list[str]:
        """Names of the datasets, sorted."""
        return sorted(self._data)

    def _dataset(self, name: str) -> dict[tuple[bytes, bytes], Entry]:
        try:
            return self._data[name]
        except KeyError:
            raise UnknownDataset(name) from None

    # -- reads ------------------------------------------------------------

    def get_entry(self, dataset: str, pkey: bytes, lkey: bytes) -> Entry | None:
        """The stored version, tombstones and expired values included."""
        return self._dataset(dataset).get((pkey, lkey))

    def get(self, dataset: str, pkey: bytes, lkey: bytes) -> Record | None:
        """The live record, or None when absent, deleted or expired."""
        entry = self.get_entry(dataset, pkey, lkey)
        if entry is None or not _visible(entry, self._now_ms()):
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
        """Live records of ``pkey`` with start <= lkey < end, sorted by lkey.

        A page holding ``limit`` records carries a cursor that resumes strictly
        after (before, when reversed) its last lkey; a shorter page ends the scan.
        """
        if limit < 1:
            raise ValueError("limit must be at least 1")
        now = self._now_ms()
        lkeys = sorted(
            lkey
            for (p, lkey), entry in self._dataset(dataset).items()
            if p == pkey
            and (start is None or lkey >= start)
            and (end is None or lkey < end)
            and _visible(entry, now)
        )
        if reverse:
            lkeys.reverse()
        if cursor is not None:
            if not cursor.startswith(_CURSOR):
                raise ValueError("cursor is malformed")
            after = cursor[len(_CURSOR):]
            lkeys = [k for k in lkeys if (k < after if reverse else k > after)]
        page = lkeys[:limit]
        entries = self._data[dataset]
        records = [
            Record(pkey, k, entries[pkey, k].value, entries[pkey, k].version,
                   entries[pkey, k].expires_at_ms)
            for k in page
        ]
        next_cursor = _CURSOR + page[-1] if len(page) == limit else None
        return ScanPage(records, next_cursor)

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
        """Stored (lkey, entry) pairs of ``pkey``, tombstones and expired ones included;
        a full page carries a cursor past its last lkey."""
        entries = self._dataset(dataset)
        lkeys = sorted((lkey for p, lkey in entries if p == pkey
                        and (start is None or lkey >= start) and (end is None or lkey < end)),
                       reverse=reverse)
        if cursor is not None:
            after = cursor[len(_CURSOR):]
            lkeys = [k for k in lkeys if (k < after if reverse else k > after)]
        page = [(k, entries[pkey, k]) for k in lkeys[:limit]]
        return page, (_CURSOR + page[-1][0] if len(page) == limit else None)

    # -- writes -----------------------------------------------------------

    def apply(self, dataset: str, writes: Sequence[Write], *, sync: bool = False) -> list[bool]:
        """Apply each write only if strictly newer than what is stored (earlier
        writes of the same batch included); per write, whether it was applied."""
        entries = self._dataset(dataset)
        applied = []
        for write in writes:
            key = (write.pkey, write.lkey)
            current = entries.get(key)
            if current is not None and write.entry.version <= current.version:
                applied.append(False)
                continue
            entries[key] = write.entry
            applied.append(True)
        return applied

    def purge(self, grace_ms: int, budget: int = 10_000,
              may_drop: Callable[[str, bytes, Entry], bool] | None = None) -> int:
        """Expired values become tombstones, tombstones older than ``grace_ms`` go
        when ``may_drop`` (dataset, storage key, entry) allows.

        The model always sweeps everything: ``budget`` only bounds how much work
        a real engine does per call, and callers of the model pass a large one.
        """
        now = self._now_ms()
        changed = 0
        for dataset, entries in self._data.items():
            for key, entry in list(entries.items()):
                if entry.tombstone:
                    if (physical_ms(entry.version.timestamp) + grace_ms < now
                            and (may_drop is None or may_drop(dataset, storage_key(*key), entry))):
                        del entries[key]
                        changed += 1
                elif entry.expires_at_ms and entry.expires_at_ms <= now:
                    entries[key] = Entry(entry.version, b"", entry.expires_at_ms, tombstone=True)
                    changed += 1
        return changed

    # -- raw ranges ---------------------------------------------------------

    def iter_raw(self, dataset: str, lower: bytes, upper: bytes | None
                 ) -> Iterator[tuple[bytes, bytes]]:
        """(storage key, encoded entry) with lower <= key < upper, in key order."""
        items = sorted((storage_key(p, l), entry) for (p, l), entry in self._dataset(dataset).items())
        return iter([(k, encode_entry(e)) for k, e in items
                     if lower <= k and (upper is None or k < upper)])

    def get_raw_many(self, dataset: str, keys: Sequence[bytes]) -> list[bytes | None]:
        """Encoded entries of storage keys, None where absent."""
        entries = self._dataset(dataset)
        found = [entries.get(split_storage_key(k)[1:]) for k in keys]
        return [None if e is None else encode_entry(e) for e in found]

    def apply_raw(self, dataset: str, items: Sequence[tuple[bytes, bytes]], *,
                  sync: bool = False) -> int:
        """Each encoded entry replaces the stored one if strictly newer; how many did."""
        writes = [Write(*split_storage_key(k)[1:], decode_entry(raw)) for k, raw in items]
        return sum(self.apply(dataset, writes))

    def delete_range(self, dataset: str, ranges: Sequence[tuple[bytes, bytes | None]]) -> None:
        """Forget every record whose storage key falls in one of the ranges."""
        entries = self._dataset(dataset)
        for key in list(entries):
            at = storage_key(*key)
            if any(lower <= at and (upper is None or at < upper) for lower, upper in ranges):
                del entries[key]

    # -- node metadata ------------------------------------------------------

    def meta_get(self, key: bytes) -> bytes | None:
        """The metadata value, or None."""
        return self._meta.get(key)

    def meta_put(self, key: bytes, value: bytes) -> None:
        """Store a metadata value."""
        self._meta[key] = value

    def meta_delete(self, key: bytes) -> None:
        """Delete a metadata value."""
        self._meta.pop(key, None)

    def meta_items(self, prefix: bytes, limit: int | None = None) -> list[tuple[bytes, bytes]]:
        """Entries whose key starts with ``prefix``, in key order, at most ``limit``."""
        items = sorted((k, v) for k, v in self._meta.items() if k.startswith(prefix))
        return items if limit is None else items[:limit]

    def meta_write(self, puts: Sequence[tuple[bytes, bytes]] = (),
                   deletes: Sequence[bytes] = ()) -> None:
        """Puts, then deletes."""
        self._meta.update(puts)
        for key in deletes:
            self._meta.pop(key, None)

    # -- figures and checkpoints ----------------------------------------------

    def approximate_keys(self) -> int:
        """Stored entries over all datasets, exactly."""
        return sum(len(entries) for entries in self._data.values())

    def dataset_bytes(self, dataset: str) -> int:
        """Bytes of the dataset's storage keys and encoded entries; 0 when unknown."""
        if dataset not in self._data:
            return 0
        return sum(len(k) + len(v) for k, v in self.iter_raw(dataset, b"", None))

    def dataset_stats(self) -> dict[str, dict[str, int]]:
        """The figures RocksDB estimates, exact (all of it counts as memtable)."""
        return {name: {"estimated_keys": len(self._data[name]),
                       "live_data_bytes": self.dataset_bytes(name), "sst_bytes": 0,
                       "memtable_bytes": self.dataset_bytes(name)}
                for name in self.datasets()}

    def disk_bytes(self) -> int:
        """Nothing is on disk."""
        return 0

    def checkpoint(self, path: str | os.PathLike[str]) -> None:
        """Keep a copy of every dataset and the metadata under ``path`` (a new directory,
        as RocksDB requires)."""
        Path(path).mkdir(parents=True, exist_ok=False)
        self.checkpoints[str(path)] = (copy.deepcopy(self._data), dict(self._meta))

    # -- durability and lifecycle -----------------------------------------

    def sync(self) -> None:
        """Nothing to make durable."""

    def close(self) -> None:
        """Nothing to release."""


def _visible(entry: Entry, now_ms: int) -> bool:
    # Spelled out here rather than calling Entry.visible_at, so that a bug in
    # the production rule shows up as a divergence instead of being shared.
    return not entry.tombstone and (entry.expires_at_ms == 0 or entry.expires_at_ms > now_ms)
