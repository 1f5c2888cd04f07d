"""Per-key Paxos state of a replica (SERIAL reads and conditional writes).

For each key a round touched: the highest ballot promised, the proposal accepted
but not yet known committed, and the most recent commit. It lives in a column
family of its own per dataset (``px.<storage id>``), so scans, hash trees and
streaming never see it and dropping the dataset drops it. The replica answers a
promise or an accept only after the state is written (and, through the node's
group commit, fsynced): a restarted replica must never forget what it promised.
"""

from __future__ import annotations

import struct
import threading
from dataclasses import dataclass

from collections.abc import Callable

from rocksdict import Rdict

from manhattan.storage.keys import pkey_prefix
from manhattan.storage.records import Entry, Version, decode_entry, encode_entry
from manhattan.storage.rocks_base import RocksBase, UnknownDataset, _options

PAXOS_CF_PREFIX = "px."
NO_BALLOT = Version(0, 0)
_BALLOT = struct.Struct(">QI")
_PROPOSAL = struct.Struct(">QIBI")  # ballot, flags (1: present, 2: no-op), entry length
_PRESENT, _NOOP = 1, 2


@dataclass(frozen=True, slots=True)
class Proposal:
    """A value a round wants chosen, under its ballot; ``entry`` None is a no-op (a
    round that only seals the key)."""

    ballot: Version
    entry: Entry | None


@dataclass(frozen=True, slots=True)
class PaxosState:
    """One key's Paxos state on one replica."""

    promised: Version = NO_BALLOT
    accepted: Proposal | None = None
    committed: Proposal | None = None


def _pack_proposal(proposal: Proposal | None) -> bytes:
    if proposal is None:
        return _PROPOSAL.pack(0, 0, 0, 0)
    body = b"" if proposal.entry is None else encode_entry(proposal.entry)
    flags = _PRESENT | (_NOOP if proposal.entry is None else 0)
    return _PROPOSAL.pack(proposal.ballot.timestamp, proposal.ballot.writer, flags,
                          len(body)) + body


def _unpack_proposal(raw: bytes, at: int) -> tuple[Proposal | None, int]:
    timestamp, writer, flags, length = _PROPOSAL.unpack_from(raw, at)
    at += _PROPOSAL.size
    if not flags & _PRESENT:
        return None, at
    entry = None if flags & _NOOP else decode_entry(raw[at:at + length])
    return Proposal(Version(timestamp, writer), entry), at + length


def encode_state(state: PaxosState) -> bytes:
    """The stored layout: promised ballot, accepted proposal, committed proposal."""
    return (_BALLOT.pack(state.promised.timestamp, state.promised.writer)
            + _pack_proposal(state.accepted) + _pack_proposal(state.committed))


def decode_state(raw: bytes) -> PaxosState:
    """Parse ``encode_state``'s layout."""
    timestamp, writer = _BALLOT.unpack_from(raw)
    accepted, at = _unpack_proposal(raw, _BALLOT.size)
    committed, _ = _unpack_proposal(raw, at)
    return PaxosState(Version(timestamp, writer), accepted, committed)


class RocksPaxosState(RocksBase):
    """Paxos state reads and writes over a RocksBase (one family per dataset)."""

    def _paxos_family(self, dataset: str) -> Rdict:
        families: dict[str, Rdict] = self.__dict__.setdefault("_paxos_families", {})
        family = families.get(dataset)
        if family is not None:
            return family
        with self._write_lock:
            if dataset not in self._families:
                raise UnknownDataset(dataset)
            name = PAXOS_CF_PREFIX + dataset
            try:
                family = self._db.get_column_family(name)
            except Exception:  # rocksdict raises a bare Exception for a missing family
                family = self._db.create_column_family(name, _options())
            families[dataset] = family
        return family

    def paxos_state(self, dataset: str, pkey: bytes, lkey: bytes) -> PaxosState:
        """The key's state here (empty when no round touched it)."""
        raw = self._paxos_family(dataset).get(pkey_prefix(pkey) + lkey)
        return PaxosState() if raw is None else decode_state(raw)

    def paxos_update(self, dataset: str, pkey: bytes, lkey: bytes,
                     change: Callable[[PaxosState], tuple[PaxosState, bool]]
                     ) -> tuple[PaxosState, bool]:
        """Read, change and store the key's state atomically; ``change`` maps the stored
        state to (new state, verdict). Written to the WAL before returning: the caller
        makes it durable (group commit) before it answers."""
        family = self._paxos_family(dataset)
        key = pkey_prefix(pkey) + lkey
        lock: threading.Lock = self.__dict__.setdefault("_paxos_lock", threading.Lock())
        with lock:
            raw = family.get(key)
            state = PaxosState() if raw is None else decode_state(raw)
            new, verdict = change(state)
            if new != state:
                family.put(key, encode_state(new), self._buffered)
        return new, verdict

    def drop_dataset(self, name: str) -> None:
        """Drop the dataset and its Paxos state."""
        super().drop_dataset(name)
        with self._write_lock:
            self.__dict__.setdefault("_paxos_families", {}).pop(name, None)
            try:
                self._db.drop_column_family(PAXOS_CF_PREFIX + name)
            except Exception:  # no round ever ran on it: nothing to drop
                pass

    def close(self) -> None:
        """Let go of the Paxos families first: the database closes only once nothing
        holds one."""
        self.__dict__.get("_paxos_families", {}).clear()
        super().close()


__all__ = ["NO_BALLOT", "PaxosState", "Proposal", "RocksPaxosState", "decode_state",
           "encode_state"]
