"""Telling a writer its write lost last-writer-wins to a version it never saw.

A replica that declines a write (it keeps a version at least as new) says which
version it keeps; the coordinator absorbs that timestamp into its clock and, if
every replica that acknowledged the write declined it, answers the client with
``superseded_by``: the write is stored nowhere as the current value, and it
lost to a version the client did not observe (the coordinator stamped the write
above the client's session clock, so anything newer is unseen by the client).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple, Protocol

from manhattan.storage import Entry, Version, Write

# What one replica's acknowledgement says of the writes it was sent: per write, the
# newer version that beat it (None: applied). The empty tuple: every write applied.
Beaten = Sequence[Version | None]
ALL_APPLIED: Beaten = ()


class WriteResult(NamedTuple):
    """A write's version, and the timestamp of the version it lost to (0: it did not)."""

    version: Version
    superseded_by: int = 0


class EntryReader(Protocol):
    """The engine's point read (``RocksEngine.get_entry``)."""

    def get_entry(self, dataset: str, pkey: bytes, lkey: bytes) -> Entry | None: ...


def kept_versions(engine: EntryReader, dataset: str, writes: Sequence[Write],
                  applied: Sequence[bool]) -> list[Version]:
    """The version this replica keeps for each declined write, in order (what a
    replica's reply carries). Read after the apply: if something newer landed
    meanwhile, that is what the write lost to anyway."""
    kept = []
    for write, ok in zip(writes, applied):
        if not ok:
            entry = engine.get_entry(dataset, write.pkey, write.lkey)
            kept.append(entry.version if entry is not None else write.entry.version)
    return kept


def beaten_by(writes: Sequence[Write], applied: Sequence[bool],
              kept: Sequence[Version]) -> Beaten:
    """Per write, the newer version a replica keeps instead (None: applied, or the
    replica already held this very version, e.g. a retransmission)."""
    if all(applied):
        return ALL_APPLIED
    declined = iter(kept)
    beaten: list[Version | None] = []
    for write, ok in zip(writes, applied):
        winner = None if ok else next(declined, None)
        beaten.append(winner if winner is not None and winner > write.entry.version else None)
    return beaten


class Acks:
    """The acknowledgements of one replica set so far: a write is superseded only if
    every replica that acknowledged it declined it."""

    __slots__ = ("count", "_winners")

    def __init__(self) -> None:
        self.count = 0
        self._winners: list[Version | None] | None = None

    def add(self, beaten: Beaten) -> None:
        """Count one replica's acknowledgement."""
        self.count += 1
        if self._winners is None:
            self._winners = list(beaten)
        elif self._winners:
            if not beaten:
                self._winners = []
            else:
                self._winners = [max(w, b) if w is not None and b is not None else None
                                 for w, b in zip(self._winners, beaten)]

    def superseded(self, index: int) -> int:
        """The timestamp write ``index`` lost to at every acking replica (0: none)."""
        winners = self._winners
        if not winners or winners[index] is None:
            return 0
        return winners[index].timestamp  # type: ignore[union-attr]
