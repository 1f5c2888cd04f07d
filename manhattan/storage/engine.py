"""The storage-engine interface that the node uses and the tests hold a model against."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from manhattan.storage.records import Entry, Record, ScanPage, Write

DEFAULT_SCAN_LIMIT = 100
# A scan page stops after skipping this many invisible entries (tombstones,
# expired records) and returns a cursor, so a pile of tombstones costs bounded
# work per call instead of one unbounded read.
MAX_SKIPPED_PER_PAGE = 10_000


class Engine(Protocol):
    """A local, last-writer-wins store of versioned records, one namespace per dataset."""

    def create_dataset(self, name: str) -> None:
        """Create the dataset's namespace; a no-op when it exists."""

    def drop_dataset(self, name: str) -> None:
        """Drop the dataset and every record in it."""

    def datasets(self) -> list[str]:
        """Names of the datasets stored here."""

    def get(self, dataset: str, pkey: bytes, lkey: bytes) -> Record | None:
        """The live record, or None when absent, deleted or expired."""

    def get_entry(self, dataset: str, pkey: bytes, lkey: bytes) -> Entry | None:
        """The stored version, tombstones and expired values included."""

    def apply(self, dataset: str, writes: Sequence[Write]) -> list[bool]:
        """Apply writes atomically, each only if newer than what is stored.

        Returns, per write, whether it became the stored version.
        """

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
        """Live records of one pkey with start <= lkey < end, in lkey order."""

    def purge(self, grace_ms: int, budget: int = 10_000) -> int:
        """Turn expired values into tombstones and drop tombstones older than
        ``grace_ms``; visits at most ``budget`` entries. Returns entries changed."""

    def sync(self) -> None:
        """Make every applied write durable (fsync the write-ahead log)."""

    def close(self) -> None:
        """Flush and close."""
