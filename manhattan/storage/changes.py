"""Which hash-tree segments each dataset changed, and when (incremental anti-entropy).

Every write path of the engine marks the segments (the first two bytes of a
storage key) it touched, after the write is visible and while it still holds the
engine's write lock, with a sequence number from one counter. A reader that took
the sequence under the same lock (``RocksBase.change_seq``) and later asks
``since(seq)`` gets every segment written after its point, so a cached hash tree
rehashes only those. A write that cannot name its segments (a range delete, a
dropped dataset) resets the dataset: every tree over it is rebuilt.

Marking costs one set of two-byte prefixes per batch; the dirty map holds at most
one entry per segment (65,536) per dataset, ordered by last change, so ``since``
walks only what changed.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable


class ChangeLog:
    """Segments changed per dataset, newest last. Thread-safe."""

    def __init__(self) -> None:
        self._seq = 0
        self._dirty: dict[str, dict[int, int]] = {}  # dataset -> segment -> last seq
        self._reset: dict[str, int] = {}  # dataset -> seq of its last whole-dataset change
        self._lock = threading.Lock()

    @property
    def seq(self) -> int:
        """The sequence number of the latest change."""
        return self._seq

    def mark(self, dataset: str, keys: Iterable[bytes]) -> None:
        """Note that ``keys`` (storage keys) of ``dataset`` changed."""
        segments = {(k[0] << 8) | k[1] for k in keys if len(k) >= 2}
        if not segments:
            return
        with self._lock:
            self._seq += 1
            dirty = self._dirty.setdefault(dataset, {})
            for segment in segments:
                dirty.pop(segment, None)  # re-insert: the dict stays ordered by seq
                dirty[segment] = self._seq

    def reset(self, dataset: str) -> None:
        """Note a change of ``dataset`` that names no segments: rebuild its trees."""
        with self._lock:
            self._seq += 1
            self._reset[dataset] = self._seq
            self._dirty.pop(dataset, None)

    def since(self, dataset: str, seq: int) -> set[int] | None:
        """Segments of ``dataset`` changed after ``seq``; None when the dataset was
        reset after it (nothing short of a rebuild is correct then)."""
        with self._lock:
            if self._reset.get(dataset, 0) > seq:
                return None
            out: set[int] = set()
            for segment, changed in reversed(self._dirty.get(dataset, {}).items()):
                if changed <= seq:
                    break
                out.add(segment)
            return out
