"""Hash trees over storage ranges (riak_core ``hashtree`` style, built on demand).

Leaves are 65,536 segments: a record's segment is the top 16 bits of its ring
position, i.e. the first two bytes of its storage key, so a segment is a
contiguous storage range too. A leaf's hash is ``blake2b`` of its records'
``storage key | timestamp | writer`` in key order (both sides scan the same
ranges in key order, and one hash call per segment keeps a tree build about as
fast as the scan itself): the
version names the write, so two replicas agree on a key exactly when they
hold the same version, and values need not be read or hashed. Above the
leaves sit four levels of fan-out 16 (4,096, 256, 16 nodes, one root); an
inner node's hash is a hash of its non-empty children. Empty nodes are absent.

A tree is built from a RocksDB scan of the given position ranges only, so the
two sides of an exchange hash exactly the keys both should hold.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from manhattan.cluster.ranges import Range, range_bounds
from manhattan.storage.engine import RawRanges

LEAF_BITS = 16
FANOUT_BITS = 4
FANOUT = 1 << FANOUT_BITS
DEPTH = LEAF_BITS // FANOUT_BITS  # levels below the root; level DEPTH holds the leaves
VERSION_BYTES = slice(1, 13)  # timestamp (8) + writer (4) in the stored-value header
THROTTLE_EVERY = 1024


def _leaf_hash(parts: list[bytes]) -> int:
    """The hash of one segment: its (key, version) pairs in key order, hashed at once."""
    return int.from_bytes(hashlib.blake2b(b"".join(parts), digest_size=8).digest(), "big")


def _combine(children: dict[int, int], base: int) -> int:
    blob = b"".join((i - base).to_bytes(1, "big") + h.to_bytes(8, "big")
                    for i, h in sorted(children.items()))
    return int.from_bytes(hashlib.blake2b(blob, digest_size=8).digest(), "big")


@dataclass
class HashTree:
    """The levels of one tree: ``levels[l][index] = hash`` for non-empty nodes."""

    levels: list[dict[int, int]] = field(default_factory=list)
    keys: int = 0

    @classmethod
    def from_leaves(cls, leaves: dict[int, int], keys: int) -> "HashTree":
        """Hash the inner levels bottom-up."""
        levels = [leaves]
        for _ in range(DEPTH):
            below = levels[0]
            groups: dict[int, dict[int, int]] = {}
            for index, value in below.items():
                groups.setdefault(index >> FANOUT_BITS, {})[index] = value
            levels.insert(0, {parent: _combine(children, parent << FANOUT_BITS)
                              for parent, children in groups.items()})
        return cls(levels, keys)

    @property
    def root(self) -> int:
        """The root hash (0 for an empty tree)."""
        return self.levels[0].get(0, 0) if self.levels else 0

    def children(self, level: int, indices: Iterable[int]) -> dict[int, int]:
        """The non-empty children (at ``level + 1``) of the given nodes of ``level``."""
        below = self.levels[level + 1]
        out: dict[int, int] = {}
        for index in indices:
            for child in range(index << FANOUT_BITS, (index + 1) << FANOUT_BITS):
                value = below.get(child)
                if value is not None:
                    out[child] = value
        return out


def build_tree(engine: RawRanges, dataset: str, ranges: Sequence[Range],
               throttle: Callable[[int], None] | None = None) -> HashTree:
    """Scan the ranges and hash them into a tree. ``throttle(n)`` is called after every
    ``THROTTLE_EVERY`` keys (rate limiting: it may sleep). Runs in a worker thread."""
    leaves: dict[int, int] = {}
    count = 0
    current: bytes | None = None
    parts: list[bytes] = []
    append = parts.append

    def flush() -> None:
        if current is not None and parts:
            leaves[(current[0] << 8) | current[1]] = _leaf_hash(parts)

    for start, end in sorted(ranges):  # key order: a segment's keys arrive together
        lower, upper = range_bounds(start, end)
        for key, raw in engine.iter_raw(dataset, lower, upper):
            segment = key[:2]
            if segment != current:
                flush()
                current = segment
                parts.clear()
            append(key)
            append(raw[VERSION_BYTES])
            count += 1
            if throttle is not None and count % THROTTLE_EVERY == 0:
                throttle(THROTTLE_EVERY)
    flush()
    return HashTree.from_leaves(leaves, count)


def segment_ranges(ranges: Sequence[Range], segments: Iterable[int]) -> list[Range]:
    """The parts of ``ranges`` that fall in the given leaf segments."""
    shift = 32 - LEAF_BITS
    out: list[Range] = []
    for segment in sorted(set(segments)):
        low, high = segment << shift, (segment + 1) << shift
        for start, end in ranges:
            s, e = max(start, low), min(end, high)
            if s < e:
                out.append((s, e))
    return out


def segment_versions(engine: RawRanges, dataset: str, ranges: Sequence[Range],
                     segments: Iterable[int]) -> dict[bytes, bytes]:
    """storage key -> 12-byte version of every record of ``ranges`` in ``segments``."""
    out: dict[bytes, bytes] = {}
    for start, end in segment_ranges(ranges, segments):
        lower, upper = range_bounds(start, end)
        for key, raw in engine.iter_raw(dataset, lower, upper):
            out[key] = raw[VERSION_BYTES]
    return out


def segment_versions_bounded(engine: RawRanges, dataset: str, ranges: Sequence[Range],
                             segments: Sequence[int], max_bytes: int
                             ) -> tuple[dict[bytes, bytes], int]:
    """``segment_versions`` of the leading (sorted) ``segments`` whose key lists fit
    ``max_bytes`` together (at least one segment): (versions, segments covered). An
    exchange reply then never outgrows a message, however many keys a segment holds."""
    out: dict[bytes, bytes] = {}
    size = 0
    ordered = sorted(set(segments))
    for count, segment in enumerate(ordered):
        part = segment_versions(engine, dataset, ranges, [segment])
        part_size = sum(len(k) + len(v) + 16 for k, v in part.items())
        if count and size + part_size > max_bytes:
            return out, count
        out.update(part)
        size += part_size
    return out, len(ordered)
