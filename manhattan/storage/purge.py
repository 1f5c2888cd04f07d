"""The purge: expired values become tombstones, old tombstones go.

A tombstone is dropped only after ``storage.tombstone_grace_s`` *and* when the
caller's ``may_drop`` agrees (``replication.antientropy.watermarks.TombstoneGate``:
once repair has put it on every replica), so nothing deleted comes back. A purge
call visits a bounded number of entries and resumes where the last one stopped.
"""

from __future__ import annotations

from collections.abc import Callable

from rocksdict import WriteBatch

from manhattan.hlc import physical_ms
from manhattan.storage.records import Entry, decode_entry, encode_entry
from manhattan.storage.rocks_base import RocksBase


class RocksPurge(RocksBase):
    """``purge`` over the datasets of a RocksBase, a budget of entries at a time."""

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
            batch = WriteBatch(raw_mode=True)
            written: list[bytes] = []
            finished = True
            with self._write_lock:  # (a drop takes it: the family stays while we write)
                family, handle = self._families.get(dataset, (None, None))
                if family is not None:
                    for key, raw in self._range(family, resume, None, False):
                        visited += 1
                        entry = decode_entry(raw)
                        if entry.tombstone:
                            if (physical_ms(entry.version.timestamp) + grace_ms < now
                                    and (may_drop is None or may_drop(dataset, key, entry))):
                                batch.delete(key, handle)
                                written.append(key)
                                changed += 1
                        elif entry.expires_at_ms and entry.expires_at_ms <= now:
                            tombstone = Entry(entry.version, b"", entry.expires_at_ms, True)
                            batch.put(key, encode_entry(tombstone), handle)
                            written.append(key)
                            changed += 1
                        if visited >= budget:
                            resume = key + b"\x00"
                            finished = False
                            break
                    if not batch.is_empty():
                        self._db.write(batch, self._buffered)
                        self.changes.mark(dataset, written)
            if not finished:
                break
            following = [n for n in names if n > dataset]
            if not following:
                self._purge_position = None
                return changed
            dataset, resume = following[0], b""
        self._purge_position = (dataset, resume)
        return changed
