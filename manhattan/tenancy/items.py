"""Catalog items (tenants, datasets, token hashes) versioned for replication.

Each item carries an HLC version and a deleted flag, so that nodes exchange
snapshots and merge them last-writer-wins: the catalog converges on every node
whatever order the changes arrive in, and a dropped dataset stays dropped.
"""

from __future__ import annotations

import struct
import threading
from dataclasses import dataclass

from manhattan.storage.engine import MetaStore

_PREFIX = b"catalog/"
_HEADER = struct.Struct(">QB")


@dataclass(frozen=True, slots=True)
class Item:
    """One versioned catalog entry."""

    key: str
    value: bytes
    version: int
    deleted: bool = False


class VersionedItems:
    """LWW-merged catalog items, persisted in the metadata store, cached in memory."""

    def __init__(self, meta: MetaStore, prefix: bytes = _PREFIX) -> None:
        self._meta = meta
        self._prefix = prefix
        self._lock = threading.Lock()
        self._items: dict[str, Item] = {}
        for raw_key, raw in meta.meta_items(prefix):
            version, deleted = _HEADER.unpack_from(raw)
            key = raw_key[len(prefix):].decode()
            self._items[key] = Item(key, raw[_HEADER.size:], version, bool(deleted))

    @property
    def version(self) -> int:
        """The newest version of any item: equal versions mean equal catalogs (usually)."""
        return max((i.version for i in self._items.values()), default=0)

    def _store(self, item: Item) -> bool:
        current = self._items.get(item.key)
        if current is not None and (current.version, current.deleted) >= (item.version, item.deleted):
            return False
        self._meta.meta_put(self._prefix + item.key.encode(),
                            _HEADER.pack(item.version, int(item.deleted)) + item.value)
        self._items[item.key] = item
        return True

    def put(self, key: str, value: bytes, version: int) -> None:
        """Set an item."""
        with self._lock:
            self._store(Item(key, value, version))

    def delete(self, key: str, version: int) -> None:
        """Mark an item deleted (kept as a tombstone so the deletion replicates)."""
        with self._lock:
            self._store(Item(key, b"", version, True))

    def live(self, prefix: str) -> list[tuple[str, bytes]]:
        """(key without prefix, value) of live items under ``prefix``."""
        return [(k[len(prefix):], i.value) for k, i in sorted(self._items.items())
                if k.startswith(prefix) and not i.deleted]

    def snapshot(self) -> list[Item]:
        """Every item, tombstones included."""
        return list(self._items.values())

    def merge(self, items: list[Item]) -> bool:
        """Take whatever is newer; return whether anything changed."""
        with self._lock:
            return any([self._store(item) for item in items])
