"""Raw storage ranges: undecoded (storage key, stored value) pairs by key range.

What anti-entropy hashes and exchanges, what range streaming sends and applies
during membership changes, and what cleanup deletes: a storage key starts with
the ring position, so a ring arc is one contiguous range per dataset.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from rocksdict import ReadOptions, WriteBatch

from manhattan.storage.counters import resolve
from manhattan.storage.records import (
    Version, decode_entry, decode_version, encode_entry, is_counter,
)
from manhattan.storage.rocks_base import RocksBase
from manhattan.storage.timestamp_gate import admit_raw


class RocksRawRanges(RocksBase):
    """Range reads, LWW range apply and range deletes over a RocksBase."""

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
        """LWW-apply (storage key, stored value) pairs as streamed from a replica
        (counter states merge instead); returns how many changed what is stored."""
        self._family(dataset)  # UnknownDataset before any work (again under the lock)
        if self.timestamp_gate is not None and items:
            items, refused = admit_raw(self.timestamp_gate, items)
            self.refused_timestamps += refused
        if not items:
            return 0
        batch = WriteBatch(raw_mode=True)
        applied = 0
        with self._write_lock:
            family, handle = self._family(dataset)  # (not dropped meanwhile: see _family)
            stored = family.get([k for k, _ in items])
            newest: dict[bytes, Version] = {}
            merged: dict[bytes, bytes] = {}  # counter states written by this batch
            for (key, raw), current_raw in zip(items, stored):
                if is_counter(raw):  # merged, never lost (storage/counters.py)
                    base = merged.get(key, current_raw)
                    result = resolve(None if base is None else decode_entry(base),
                                     decode_entry(raw))
                    if result is not None:
                        merged[key] = encode_entry(result)
                        newest[key] = result.version
                        batch.put(key, merged[key], handle)
                        applied += 1
                    continue
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
                self.changes.mark(dataset, newest)
        return applied

    def delete_range(self, dataset: str, ranges: Sequence[tuple[bytes, bytes | None]]) -> None:
        """Drop every record in the [lower, upper) storage-key ranges (upper None: to the
        end) in one batch: how an old owner forgets ranges it gave away."""
        batch = WriteBatch(raw_mode=True)
        with self._write_lock:
            _, handle = self._family(dataset)  # (not dropped meanwhile: see _family)
            for lower, upper in ranges:
                batch.delete_range(lower, upper if upper is not None else b"\xff" * 8, handle)
            self._db.write(batch, self._synced)
            self.changes.reset(dataset)
