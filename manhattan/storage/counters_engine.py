"""The owner's side of an increment: read, add to this node's shard, write, under the
engine's write lock, so two increments of one counter through this node never race.

Only the owner of a shard ever changes it, always here, from what its own disk
holds: that is why a shard's tallies only grow and why replicas may merge by max.
"""

from __future__ import annotations

from typing import NamedTuple, Protocol

from rocksdict import WriteBatch

from manhattan.storage.counters import CounterState, state_of
from manhattan.storage.keys import pkey_prefix
from manhattan.storage.records import Entry, Version, decode_entry, encode_entry
from manhattan.storage.rocks_base import RocksBase


class CounterAdd(NamedTuple):
    """What an increment left stored: the entry to replicate, and whether it counted
    (False: its op id was already in the counter's window, nothing was added)."""

    entry: Entry
    counted: bool


class CounterStore(Protocol):
    """Increments by the owner of a shard (a capability apart from LWW ``Writer``)."""

    def counter_add(self, dataset: str, pkey: bytes, lkey: bytes, *, delta: int,
                    op_id: bytes, shard: int, timestamp: int, now_ms: int,
                    absent_ok: bool = True) -> CounterAdd | None:
        """Add ``delta`` to ``shard`` of the counter unless ``op_id`` already counted
        (None, nothing written: no state here and not ``absent_ok``)."""


class RocksCounters(RocksBase):
    """``counter_add`` over a RocksBase."""

    def counter_add(self, dataset: str, pkey: bytes, lkey: bytes, *, delta: int,
                    op_id: bytes, shard: int, timestamp: int, now_ms: int,
                    absent_ok: bool = True) -> CounterAdd | None:
        """Raises CounterOverflow (nothing written) when the counter would leave the
        signed 64-bit range; ValueError when the key holds a value that is not a counter.
        None (nothing written) when no state is stored and not ``absent_ok``: the caller
        reads the other replicas first (this node may have lost its disk, and its shard
        must grow from what they hold, never restart from zero)."""
        key = pkey_prefix(pkey) + lkey
        with self._write_lock:
            family, handle = self._family(dataset)  # (not dropped meanwhile: see _family)
            raw = family.get(key)
            current = decode_entry(raw) if raw is not None else None
            if current is None and not absent_ok:
                return None
            if current is not None and not current.tombstone and not current.counter:
                raise ValueError("the key holds a plain value, not a counter")
            state = state_of(current)
            if op_id and op_id in state.ops:
                assert current is not None  # an op id is only ever found in a stored state
                return CounterAdd(current, False)
            updated: CounterState = state.add(shard, delta, op_id, now_ms)
            after = timestamp if current is None else max(timestamp,
                                                          current.version.timestamp + 1)
            entry = Entry(Version(after, shard), updated.encode(), counter=True)
            batch = WriteBatch(raw_mode=True)
            batch.put(key, encode_entry(entry), handle)
            self._db.write(batch, self._buffered)
            self.changes.mark(dataset, [key])
        return CounterAdd(entry, True)


__all__ = ["CounterAdd", "CounterStore", "RocksCounters"]
