"""Local trim of a capped partition: keep the newest N records, tombstone the rest.

A capped timeline (a home timeline of at most 800 entries) is trimmed on each
replica where it is stored, not by a client reading 801 entries and deleting
them over the network. The replica walks the partition from the highest lkey
down, counts live records and writes a tombstone of the trim's version over each
live record past the first ``keep``, a page at a time (memory stays bounded
whatever the partition's size).

Why tombstones of one version, stamped by the coordinator, and not a raw range
delete: they are ordinary stored versions, so read repair and anti-entropy carry
them to a replica that missed the trim (a trimmed entry never comes back), and
last-writer-wins keeps any record written after the trim was stamped (a newer
entry is never dropped, even when it sorts below the cut).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
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


def _doomed_pages(engine: Scanner, dataset: str, pkey: bytes, *, keep: int, version: Version,
                  now_ms: int, start: bytes | None, end: bytes | None) -> Iterator[list[Write]]:
    """The tombstones a trim writes, one scanned page at a time (highest lkeys first)."""
    tombstone = Entry(version, tombstone=True)
    kept = 0
    cursor: bytes | None = None
    while True:
        entries, cursor = engine.scan_entries(dataset, pkey, start=start, end=end, limit=PAGE,
                                              reverse=True, cursor=cursor)
        writes: list[Write] = []
        for lkey, entry in entries:
            if not entry.visible_at(now_ms):
                continue
            if kept < keep:
                kept += 1
            elif entry.version < version:
                writes.append(Write(pkey, lkey, tombstone))
        yield writes
        if cursor is None:
            return


def doomed(engine: Scanner, dataset: str, pkey: bytes, *, keep: int, version: Version,
           now_ms: int, start: bytes | None = None, end: bytes | None = None) -> list[Write]:
    """The tombstones a trim writes: one over each live record of ``pkey`` in
    [start, end) past the ``keep`` of highest lkey, if older than ``version``."""
    return [w for page in _doomed_pages(engine, dataset, pkey, keep=keep, version=version,
                                        now_ms=now_ms, start=start, end=end) for w in page]


def trim(engine: TrimEngine, dataset: str, pkey: bytes, *, keep: int, version: Version,
         now_ms: Callable[[], int], start: bytes | None = None, end: bytes | None = None,
         sync: bool = False) -> TrimOutcome:
    """Trim ``pkey`` here (see the module docstring). Each page's tombstones are applied
    by LWW in one batch: a record rewritten since the scan with a newer version stays."""
    if keep < 0:
        raise ValueError(f"keep must not be negative, got {keep}")
    removed = 0
    floor: bytes | None = None
    for writes in _doomed_pages(engine, dataset, pkey, keep=keep, version=version,
                                now_ms=now_ms(), start=start, end=end):
        if not writes:
            continue
        applied = engine.apply(dataset, writes, sync=sync)
        done = [w.lkey for w, ok in zip(writes, applied) if ok]
        removed += len(done)
        if done and floor is None:
            floor = max(done)  # pages go from the highest lkeys down
    return TrimOutcome(removed, floor)


__all__ = ["TrimEngine", "TrimOutcome", "doomed", "trim"]
