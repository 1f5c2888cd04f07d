"""The storage-engine interface, as small capabilities (TiKV ``engine_traits`` style).

Each consumer annotates the narrowest capability it uses (the hash tree reads raw
ranges, the hint store keeps metadata, the coordinator reads and writes records),
so what a part needs from storage is readable off its signature. ``Engine`` is
their union: what ``RocksEngine`` implements and the test model
(``tests/storage/model.py``) is held against.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from typing import Protocol

from manhattan.storage.records import Entry, Record, ScanPage, Write

DEFAULT_SCAN_LIMIT = 100
# A scan page stops after skipping this many invisible entries (tombstones,
# expired records) and returns a cursor, so a pile of tombstones costs bounded
# work per call instead of one unbounded read.
MAX_SKIPPED_PER_PAGE = 10_000

# (storage key, stored value), undecoded; a storage key range is [lower, upper).
RawItem = tuple[bytes, bytes]
StorageRange = tuple[bytes, bytes | None]


class Datasets(Protocol):
    """One namespace per dataset."""

    def create_dataset(self, name: str) -> None:
        """Create the dataset's namespace; a no-op when it exists."""

    def drop_dataset(self, name: str) -> None:
        """Drop the dataset and every record in it."""

    def datasets(self) -> list[str]:
        """Names of the datasets stored here, sorted."""


class Reader(Protocol):
    """Point reads."""

    def get(self, dataset: str, pkey: bytes, lkey: bytes) -> Record | None:
        """The live record, or None when absent, deleted or expired."""

    def get_entry(self, dataset: str, pkey: bytes, lkey: bytes) -> Entry | None:
        """The stored version, tombstones and expired values included."""


class Writer(Protocol):
    """Last-writer-wins writes."""

    def apply(self, dataset: str, writes: Sequence[Write], *, sync: bool = False) -> list[bool]:
        """Apply writes atomically, each only if newer than what is stored.

        Returns, per write, whether it became the stored version.
        """


class Scanner(Protocol):
    """Ordered reads inside one pkey."""

    def scan(self, dataset: str, pkey: bytes, *, start: bytes | None = None,
             end: bytes | None = None, limit: int = DEFAULT_SCAN_LIMIT, reverse: bool = False,
             cursor: bytes | None = None) -> ScanPage:
        """Live records of one pkey with start <= lkey < end, in lkey order."""

    def scan_entries(self, dataset: str, pkey: bytes, *, start: bytes | None = None,
                     end: bytes | None = None, limit: int = DEFAULT_SCAN_LIMIT,
                     reverse: bool = False, cursor: bytes | None = None
                     ) -> tuple[list[tuple[bytes, Entry]], bytes | None]:
        """Stored (lkey, entry) pairs of one pkey, tombstones and expired values
        included, and a cursor when the page is full: what replicas merge by LWW."""


class RawRanges(Protocol):
    """Undecoded storage-key ranges: anti-entropy, streaming and cleanup."""

    def iter_raw(self, dataset: str, lower: bytes, upper: bytes | None) -> Iterator[RawItem]:
        """(storage key, stored value) with lower <= key < upper, in key order."""

    def get_raw_many(self, dataset: str, keys: Sequence[bytes]) -> list[bytes | None]:
        """Stored values of storage keys (None where absent), undecoded."""

    def apply_raw(self, dataset: str, items: Sequence[RawItem], *, sync: bool = False) -> int:
        """LWW-apply stored values by storage key; how many became the stored version."""

    def delete_range(self, dataset: str, ranges: Sequence[StorageRange]) -> None:
        """Drop every record in the storage-key ranges (upper None: to the end)."""


class MetaStore(Protocol):
    """Node-local metadata: catalog items, tokens, hints, watermarks, progress."""

    def meta_get(self, key: bytes) -> bytes | None:
        """A metadata value, or None."""

    def meta_put(self, key: bytes, value: bytes) -> None:
        """Store a metadata value durably."""

    def meta_delete(self, key: bytes) -> None:
        """Delete a metadata value durably."""

    def meta_items(self, prefix: bytes, limit: int | None = None) -> list[RawItem]:
        """Entries whose key starts with ``prefix``, in key order (at most ``limit``)."""

    def meta_write(self, puts: Sequence[RawItem] = (), deletes: Sequence[bytes] = ()) -> None:
        """Several changes in one batch, buffered (durable after ``sync``)."""


class Purger(Protocol):
    """TTL and tombstone expiry."""

    def purge(self, grace_ms: int, budget: int = 10_000,
              may_drop: Callable[[str, bytes, Entry], bool] | None = None) -> int:
        """Turn expired values into tombstones and drop tombstones older than
        ``grace_ms`` that ``may_drop`` (dataset, storage key, entry) allows; visits at
        most ``budget`` entries. Returns entries changed."""


class Durable(Protocol):
    """Durability of what was applied."""

    def sync(self) -> None:
        """Make every applied write durable (fsync the write-ahead log)."""


class Checkpointer(Protocol):
    """Point-in-time copies."""

    def checkpoint(self, path: str | os.PathLike[str]) -> None:
        """A consistent copy of every dataset and the metadata at ``path`` (new)."""


class Figures(Protocol):
    """Size estimates for quotas, NodeInfo and metrics."""

    def approximate_keys(self) -> int:
        """An estimate of the number of keys over all datasets."""

    def dataset_bytes(self, dataset: str) -> int:
        """An estimate of one dataset's size here; 0 for an unknown dataset."""

    def dataset_stats(self) -> dict[str, dict[str, int]]:
        """Per dataset: estimated keys, live data, SST and memtable bytes."""

    def disk_bytes(self) -> int:
        """Bytes of the engine's files on disk."""


class Records(Reader, Writer, Scanner, Protocol):
    """What serves and coordinates client reads and writes."""


class Engine(Datasets, Records, RawRanges, MetaStore, Purger, Durable, Checkpointer, Figures,
             Protocol):
    """A local, last-writer-wins store of versioned records, one namespace per dataset."""

    def close(self) -> None:
        """Flush and close."""


CAPABILITIES: tuple[type, ...] = (Datasets, Reader, Writer, Scanner, RawRanges, MetaStore,
                                  Purger, Durable, Checkpointer, Figures)
