"""Hash trees kept current between exchanges, so repair costs what changed.

A tree is cached per (dataset, ranges) — both sides of an exchange ask for the
same ranges every round. Before a tree is served, the segments the engine marked
since it was built (``ChangeLog``) are rescanned and only their ancestors
rehashed; an idle dataset is served without reading storage at all. A dataset
that was reset (range delete, drop) is rebuilt from scratch, and so is any tree
older than ``max_age_s``: a backstop against a change no write path marked
(riak_core expires its hash trees the same way).

The change sequence is taken under the engine's write lock before anything is
read, so every write visible when the caller took its repair watermark is in
the tree served (see ``ChangeLog``).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from manhattan.cluster.ranges import Range
from manhattan.replication.antientropy.hashtree import (
    LEAF_BITS,
    HashTree,
    hash_segments,
    segment_ranges,
)
from manhattan.storage.changes import ChangeLog
from manhattan.storage.engine import RawRanges

MAX_TREES = 64  # (dataset, ranges) pairs cached; a node has a few per dataset


class TrackedRanges(RawRanges, Protocol):
    """An engine whose write paths mark what they changed (``RocksEngine`` is one)."""

    changes: ChangeLog

    def change_seq(self) -> int:
        """The change sequence, taken under the engine's write lock."""


@dataclass(frozen=True, slots=True)
class _Cached:
    tree: HashTree
    counts: dict[int, int]  # segment -> keys, to keep ``tree.keys`` right on a partial rescan
    seq: int  # the change sequence the tree is current at
    built_at: float  # monotonic time of the last full build


class TreeCache:
    """Serves current hash trees, rehashing only changed segments. Thread-safe."""

    def __init__(self, engine: TrackedRanges, *, max_age_s: float = 3600.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if max_age_s <= 0:
            raise ValueError("max_age_s must be > 0")
        self._engine = engine
        self._max_age_s = max_age_s
        self._clock = clock
        self._trees: OrderedDict[tuple[str, tuple[Range, ...]], _Cached] = OrderedDict()
        self._lock = threading.Lock()  # one refresh at a time: they share the entries
        self.stats = {"full_builds": 0, "segments_rehashed": 0, "served_unchanged": 0}

    def tree(self, dataset: str, ranges: Sequence[Range],
             throttle: Callable[[int], None] | None = None) -> HashTree:
        """The tree of ``ranges`` of ``dataset`` as of now. Runs in a worker thread."""
        key = (dataset, tuple(sorted(ranges)))
        with self._lock:
            seq = self._engine.change_seq()  # before any read: see the module docstring
            cached = self._trees.get(key)
            dirty = None
            if cached is not None and self._clock() - cached.built_at < self._max_age_s:
                dirty = self._engine.changes.since(dataset, cached.seq)
            if dirty is None:
                leaves, counts = hash_segments(self._engine, dataset, key[1], throttle)
                cached = _Cached(HashTree.from_leaves(leaves, sum(counts.values())), counts,
                                 seq, self._clock())
                self.stats["full_builds"] += 1
            elif dirty:
                cached = self._refresh(cached, dataset, key[1], dirty, seq, throttle)
            else:
                self.stats["served_unchanged"] += 1
                cached = _Cached(cached.tree, cached.counts, seq, cached.built_at)
            self._trees[key] = cached
            self._trees.move_to_end(key)
            while len(self._trees) > MAX_TREES:
                self._trees.popitem(last=False)
            return cached.tree

    def _refresh(self, cached: _Cached, dataset: str, ranges: tuple[Range, ...],
                 dirty: set[int], seq: int, throttle: Callable[[int], None] | None) -> _Cached:
        """Rescan the dirty segments that fall in ``ranges``; rehash their ancestors."""
        parts = segment_ranges(ranges, dirty)
        if not parts:  # the changes were outside these ranges
            return _Cached(cached.tree, cached.counts, seq, cached.built_at)
        leaves, counts = hash_segments(self._engine, dataset, parts, throttle)
        touched = {(start >> (32 - LEAF_BITS)) for start, _ in parts}
        new_counts = dict(cached.counts)
        replaced: dict[int, int | None] = {}
        for segment in touched:
            replaced[segment] = leaves.get(segment)
            if segment in counts:
                new_counts[segment] = counts[segment]
            else:
                new_counts.pop(segment, None)
        self.stats["segments_rehashed"] += len(touched)
        tree = cached.tree.updated(replaced, sum(new_counts.values()))
        return _Cached(tree, new_counts, seq, cached.built_at)
