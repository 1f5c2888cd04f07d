"""Local trim of a capped partition: keep the newest N records, tombstone the rest.

A capped timeline (a home timeline of at most 800 entries) is trimmed on each
replica where it is stored, not by a client reading 801 entries and deleting
them over the network. The replica walks the partition from the highest lkey
down, counts live records and writes a tombstone of the trim's version over each
live record past the first ``keep``.

Why tombstones of one version, stamped by the coordinator, and not a raw range
delete: they are ordinary stored versions, so read repair and anti-entropy carry
them to a replica that missed the trim (a trimmed entry never comes back), and
last-writer-wins keeps any record written after the trim was stamped (a newer
entry is never dropped, even when it sorts below the cut).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from manhattan.storage.engine import Scanner, Writer
from manhattan.storage.records import Entry, Version, Write

PAGE = 1000


class TrimEngine(Scanner, Writer, Protocol):
    """What a local trim needs: ordered stored entries and LWW writes."""


@dataclass(frozen=True, slots=True)
class TrimOutcome:
    """What one replica's trim did: how many records it deleted and the highest lkey
    among them (None when none was)."""

    removed: int
    floor: bytes | None


def doomed(engine: Scanner, dataset: str, pkey: bytes, *, keep: int, version: Version,
           now_ms: int, start: bytes | None = None, end: bytes | None = None) -> list[Write]:
    """The tombstones a trim writes: one over each live record of ``pkey`` in
    [start, end) past the ``keep`` of highest lkey, if older than ``version``."""
    tombstone = Entry(version, tombstone=True)
    kept = 0
    writes: list[Write] = []
    cursor: bytes | None = None
    while True:
        entries, cursor = engine.scan_entries(dataset, pkey, start=start, end=end, limit=PAGE,
                                              reverse=True, cursor=cursor)
        for lkey, entry in entries:
            if not entry.visible_at(now_ms):
                continue
            if kept < keep:
                kept += 1
            elif entry.version < version:
                writes.append(Write(pkey, lkey, tombstone))
        if cursor is None:
            return writes


def trim(engine: TrimEngine, dataset: str, pkey: bytes, *, keep: int, version: Version,
         now_ms: Callable[[], int], start: bytes | None = None, end: bytes | None = None,
         sync: bool = False) -> TrimOutcome:
    """Trim ``pkey`` here (see the module docstring). The tombstones are applied by
    LWW in one batch: a record rewritten since the scan with a newer version stays."""
    if keep < 0:
        raise ValueError(f"keep must not be negative, got {keep}")
    writes = doomed(engine, dataset, pkey, keep=keep, version=version, now_ms=now_ms(),
                    start=start, end=end)
    if not writes:
        return TrimOutcome(0, None)
    applied = engine.apply(dataset, writes, sync=sync)
    removed = [w.lkey for w, done in zip(writes, applied) if done]
    return TrimOutcome(len(removed), max(removed) if removed else None)


__all__ = ["TrimEngine", "TrimOutcome", "doomed", "trim"]
