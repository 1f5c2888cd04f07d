"""Node-local metadata in the default column family: the catalog items, tokens,
limits, hints, watermarks, transfer progress and the node's identity."""

from __future__ import annotations

from collections.abc import Sequence

from rocksdict import WriteBatch

from manhattan.storage.keys import successor
from manhattan.storage.rocks_base import RocksBase


class RocksMetaStore(RocksBase):
    """Metadata reads and writes over a RocksBase."""

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
