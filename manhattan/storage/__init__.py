"""The storage layer: record codec, key layout, LWW engine over RocksDB."""

from manhattan.storage.engine import DEFAULT_SCAN_LIMIT, MAX_SKIPPED_PER_PAGE, Engine
from manhattan.storage.group_commit import GroupCommit
from manhattan.storage.keys import ring_position, storage_key
from manhattan.storage.records import Entry, Record, ScanPage, Version, Write
from manhattan.storage.rocks import RocksEngine, UnknownDataset

__all__ = [
    "DEFAULT_SCAN_LIMIT", "MAX_SKIPPED_PER_PAGE", "Engine", "Entry", "GroupCommit", "Record",
    "RocksEngine", "ScanPage", "UnknownDataset", "Version", "Write", "ring_position",
    "storage_key",
]
