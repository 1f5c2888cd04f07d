"""Value types and enumerations shared by the node, the SDK and the CLI.

Each is defined here once: the node builds them, the SDK decodes the same
classes from the wire (enumeration values match the proto), so a ``Record`` is
one thing whichever side of the wire holds it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import NamedTuple


class Version(NamedTuple):
    """An HLC timestamp (ms << 16 | logical) and the writing node's id; compares
    last-writer-wins.

    ``superseded`` (a write's answer only) is nonzero when the write lost
    last-writer-wins at every replica that acknowledged it, to a version this client
    never observed: that version's timestamp. The write was stored, but another value
    is current."""

    timestamp: int
    writer: int
    superseded: int = 0


# What a snapshot written before the grace was recorded is checked against: the default.
DEFAULT_TOMBSTONE_GRACE_S = 10 * 24 * 3600.0


@dataclass(frozen=True, slots=True)
class Record:
    """A live record as readers see it."""

    pkey: bytes
    lkey: bytes
    value: bytes
    version: Version
    expires_at_ms: int = 0


@dataclass(frozen=True, slots=True)
class ScanPage:
    """One page of a scan; pass ``cursor`` back to continue, None at the end."""

    records: list[Record]
    cursor: bytes | None


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One admin action recorded by a node: when, where, by which token, what and on what."""

    at_ms: int
    node_id: int
    actor: str
    action: str
    target: str
    detail: str = ""


@dataclass(frozen=True, slots=True)
class SnapshotInfo:
    """One snapshot on one node (a RocksDB checkpoint under <data_dir>/snapshots/<name>)."""

    name: str
    node_id: int
    created_at_ms: int
    size_bytes: int
    path: str
    topology_epoch: int = 0
    datasets: tuple[str, ...] = ()
    # The grace its node ran with: a restore older than that could resurrect deletes.
    tombstone_grace_s: float = DEFAULT_TOMBSTONE_GRACE_S


class Consistency(IntEnum):
    """How many replicas must answer: ONE, a QUORUM (N//2+1) or ALL; SERIAL is
    linearizable per key (Paxos among the key's replicas: single-key gets and
    conditional writes only)."""

    DEFAULT = 0
    ONE = 1
    QUORUM = 2
    ALL = 3
    SERIAL = 4

    @classmethod
    def parse(cls, text: str) -> "Consistency":
        """From a name such as 'quorum' (case-insensitive)."""
        try:
            return cls[text.strip().upper()]
        except KeyError:
            names = ", ".join(c.name.lower() for c in cls if c is not cls.DEFAULT)
            raise ValueError(f"unknown consistency {text!r}; expected one of {names}") from None


class Durability(IntEnum):
    """BUFFERED: in the WAL, survives a process crash; SYNC: fsynced before the ack."""

    DEFAULT = 0
    BUFFERED = 1
    SYNC = 2

    @classmethod
    def parse(cls, text: str) -> "Durability":
        """From a name such as 'sync' (case-insensitive)."""
        try:
            return cls[text.strip().upper()]
        except KeyError:
            raise ValueError(f"unknown durability {text!r}; expected buffered or sync") from None
