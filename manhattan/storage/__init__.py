"""The storage layer: record codec, key layout, LWW engine over RocksDB."""

from manhattan.storage.engine import (
    DEFAULT_SCAN_LIMIT, MAX_SKIPPED_PER_PAGE, Checkpointer, Datasets, Durable, Engine, Figures,
    MetaStore, Purger, RawRanges, Reader, Records, Scanner, Writer,
)
from manhattan.storage.group_commit import GroupCommit
from manhattan.storage.keys import ring_position, storage_key
from manhattan.storage.records import Entry, Record, ScanPage, Version, Write
from manhattan.storage.rocks import RocksEngine, UnknownDataset

__all__ = [
    "DEFAULT_SCAN_LIMIT", "MAX_SKIPPED_PER_PAGE", "Checkpointer", "Datasets", "Durable",
    "Engine", "Entry", "Figures", "GroupCommit", "MetaStore", "Purger", "RawRanges", "Reader",
    "Record", "Records", "RocksEngine", "ScanPage", "Scanner", "UnknownDataset", "Version",
    "Write", "Writer", "ring_position", "storage_key",
]
