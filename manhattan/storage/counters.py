"""Counter state: a PN-counter CRDT with a bounded window of recent op ids.

Why a CRDT rather than last-writer-wins or consensus: an increment must never be
lost (LWW drops concurrent ones) and must stay cheap (one owner's disk write, then
ordinary replication, no Paxos round). Each replica that owns increments keeps its
own *shard* (what it added and what it subtracted, both only ever growing); replicas
merge by taking, per shard, the larger of each; the counter is the sum of shards.
Merging is commutative, associative and idempotent, so hints, read repair,
anti-entropy and range streaming may deliver a state any number of times, in any
order, and replicas still converge with no increment lost and none counted twice.

A retried increment carries the ``op_id`` of its first attempt; the state keeps the
op ids of recent increments (a bounded window: ``DEDUP_WINDOW_MS`` behind the
newest, at most ``DEDUP_MAX_OPS``) and the owner counts an op id it holds once.

Versions: every stored counter version names exactly one state (the anti-entropy
hash tree compares versions, not values). The owner stamps an increment with a new
HLC timestamp; a merge that yields a state neither side had is stamped
``max(timestamps) + 1`` with a digest of the state as writer id, the same on every
node that makes the same merge.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterable
from dataclasses import dataclass

from manhattan.storage.records import Entry, Version

INT64_MIN = -(1 << 63)
INT64_MAX = (1 << 63) - 1
_U64_MAX = (1 << 64) - 1
DEDUP_WINDOW_MS = 10 * 60 * 1000
"""A retry is recognised if its op id is within this much of the counter's newest op."""
DEDUP_MAX_OPS = 64
"""And among the last this many increments of the counter."""
MAX_OP_ID_BYTES = 64

_FORMAT = 1
_HEAD = struct.Struct(">BHH")      # format, shards, op ids
_SHARD = struct.Struct(">IQQ")     # node id, increments, decrements
_OP = struct.Struct(">QB")         # ms, op id length (then the op id)


class CounterOverflow(ValueError):
    """The increment would take the counter outside the signed 64-bit range."""


@dataclass(frozen=True, slots=True)
class CounterState:
    """Per-shard (increments, decrements) and recent op ids (op id -> ms)."""

    shards: dict[int, tuple[int, int]]
    ops: dict[bytes, int]

    @property
    def value(self) -> int:
        """The counter: every shard's increments minus its decrements."""
        return sum(p - n for p, n in self.shards.values())

    def encode(self) -> bytes:
        """The canonical bytes (sorted), so equal states have equal bytes everywhere."""
        parts = [_HEAD.pack(_FORMAT, len(self.shards), len(self.ops))]
        parts += [_SHARD.pack(node, p, n) for node, (p, n) in sorted(self.shards.items())]
        for op_id, ms in sorted(self.ops.items()):
            parts.append(_OP.pack(ms, len(op_id)) + op_id)
        return b"".join(parts)

    @classmethod
    def decode(cls, raw: bytes) -> "CounterState":
        """Parse ``encode``'s bytes; raises ValueError on anything else."""
        try:
            fmt, nshards, nops = _HEAD.unpack_from(raw)
            if fmt != _FORMAT:
                raise ValueError(f"unknown counter format {fmt}")
            at = _HEAD.size
            shards = {}
            for _ in range(nshards):
                node, p, n = _SHARD.unpack_from(raw, at)
                shards[node] = (p, n)
                at += _SHARD.size
            ops = {}
            for _ in range(nops):
                ms, length = _OP.unpack_from(raw, at)
                at += _OP.size
                ops[raw[at:at + length]] = ms
                at += length
        except struct.error as exc:
            raise ValueError(f"malformed counter state: {exc}") from None
        return cls(shards, ops)

    def merge(self, other: "CounterState") -> "CounterState":
        """The least state that holds both (per shard the max of each side)."""
        shards = dict(self.shards)
        for node, (p, n) in other.shards.items():
            mine = shards.get(node, (0, 0))
            shards[node] = (max(mine[0], p), max(mine[1], n))
        ops = dict(self.ops)
        for op_id, ms in other.ops.items():
            ops[op_id] = max(ops.get(op_id, 0), ms)
        return CounterState(shards, _trim(ops))

    def add(self, shard: int, delta: int, op_id: bytes, now_ms: int) -> "CounterState":
        """This state with ``delta`` added to ``shard`` and ``op_id`` remembered;
        CounterOverflow when the counter (or the shard's tallies) would leave range."""
        p, n = self.shards.get(shard, (0, 0))
        p, n = (p + delta, n) if delta >= 0 else (p, n - delta)
        total = self.value + delta
        if not INT64_MIN <= total <= INT64_MAX or p > _U64_MAX or n > _U64_MAX:
            raise CounterOverflow(f"adding {delta} to {self.value} leaves the signed 64-bit "
                                  f"range [{INT64_MIN}, {INT64_MAX}]")
        ops = dict(self.ops)
        if op_id:
            ops[op_id] = max(now_ms, max(ops.values(), default=0))
        return CounterState({**self.shards, shard: (p, n)}, _trim(ops))


EMPTY = CounterState({}, {})


def _trim(ops: dict[bytes, int]) -> dict[bytes, int]:
    """The bounded dedup window: deterministic (a function of the ids and times only),
    so every replica trims a merged state the same way."""
    if not ops:
        return ops
    horizon = max(ops.values()) - DEDUP_WINDOW_MS
    kept = sorted(((ms, op) for op, ms in ops.items() if ms >= horizon), reverse=True)
    return {op: ms for ms, op in kept[:DEDUP_MAX_OPS]}


def state_of(entry: Entry | None) -> CounterState:
    """The counter state an entry holds (the empty state for none)."""
    if entry is None or not entry.counter or entry.tombstone:
        return EMPTY
    return CounterState.decode(entry.value)


def value_of(entry: Entry | None) -> int:
    """The counter value of an entry (0 for none)."""
    return state_of(entry).value


def _merged_version(versions: Iterable[Version], payload: bytes) -> Version:
    return Version(max(v.timestamp for v in versions) + 1, zlib.crc32(payload))


def resolve(current: Entry | None, incoming: Entry) -> Entry | None:
    """What a replica stores when ``incoming`` meets ``current``: the entry to write,
    or None to keep ``current``. Counters merge; anything else is last-writer-wins."""
    if current is None:
        return incoming
    if not (incoming.counter and current.counter):
        return incoming if incoming.version > current.version else None
    merged = state_of(current).merge(state_of(incoming)).encode()
    if merged == current.value and (merged != incoming.value
                                    or current.version >= incoming.version):
        return None
    if merged == incoming.value and incoming.version >= current.version:
        return incoming
    version = _merged_version((current.version, incoming.version), merged)
    return Entry(version, merged, counter=True)


def combine(entries: Iterable[Entry | None]) -> Entry | None:
    """Replicas' answers folded into one: the newest (LWW) or the merged counter."""
    best: Entry | None = None
    for entry in entries:
        if entry is None:
            continue
        if best is None:
            best = entry
        else:
            best = resolve(best, entry) or best
    return best


__all__ = [
    "DEDUP_MAX_OPS", "DEDUP_WINDOW_MS", "EMPTY", "INT64_MAX", "INT64_MIN", "MAX_OP_ID_BYTES",
    "CounterOverflow", "CounterState", "combine", "resolve", "state_of", "value_of",
]
