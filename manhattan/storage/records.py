"""Value types of the storage layer and the stored-value codec (the shared ones,
``Version``, ``Record`` and ``ScanPage``, live in ``manhattan.types``).

A stored value is a fixed header (format, HLC timestamp, writer id, flags,
expiry) followed by the payload. Tombstones keep the header and drop the payload.
A counter's payload is its CRDT state (``counters.py``), marked by ``FLAG_COUNTER``
so that every path that stores it merges instead of last-writer-wins.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

# Record and ScanPage are re-exported: storage callers name them from here.
from manhattan.types import Record, ScanPage, Version

FORMAT_V1 = 1
FLAG_TOMBSTONE = 0x01
FLAG_COUNTER = 0x02

_HEADER = struct.Struct(">BQIBQ")
HEADER_SIZE = _HEADER.size
HEADER_FLAGS = 13  # offset of the flags byte


@dataclass(frozen=True, slots=True)
class Entry:
    """One stored version of a key: a live value or a tombstone."""

    version: Version
    value: bytes = b""
    expires_at_ms: int = 0
    tombstone: bool = False
    counter: bool = False
    """The value is a counter's shard state, merged (``counters.py``), not replaced."""

    def visible_at(self, now_ms: int) -> bool:
        """Whether a reader at ``now_ms`` sees this entry as a live value."""
        return not self.tombstone and (self.expires_at_ms == 0 or self.expires_at_ms > now_ms)


@dataclass(frozen=True, slots=True)
class Write:
    """A versioned mutation, as the coordinator or a replica peer hands it over."""

    pkey: bytes
    lkey: bytes
    entry: Entry


def encode_entry(entry: Entry) -> bytes:
    """Serialise an entry into the stored-value layout."""
    flags = (FLAG_TOMBSTONE if entry.tombstone else 0) | (FLAG_COUNTER if entry.counter else 0)
    header = _HEADER.pack(
        FORMAT_V1, entry.version.timestamp, entry.version.writer, flags, entry.expires_at_ms
    )
    return header if entry.tombstone else header + entry.value


def decode_entry(raw: bytes) -> Entry:
    """Parse a stored value; raises ValueError on an unknown format."""
    fmt, timestamp, writer, flags, expires_at_ms = _HEADER.unpack_from(raw)
    if fmt != FORMAT_V1:
        raise ValueError(f"unknown stored-value format {fmt}")
    tombstone = bool(flags & FLAG_TOMBSTONE)
    return Entry(
        version=Version(timestamp, writer),
        value=b"" if tombstone else raw[HEADER_SIZE:],
        expires_at_ms=expires_at_ms,
        tombstone=tombstone,
        counter=bool(flags & FLAG_COUNTER),
    )


def is_counter(raw: bytes) -> bool:
    """Whether a stored value holds counter state (header only, no decode)."""
    return bool(raw[HEADER_FLAGS] & FLAG_COUNTER)


def decode_version(raw: bytes) -> Version:
    """Only the version of a stored value (cheaper than a full decode)."""
    _, timestamp, writer, _, _ = _HEADER.unpack_from(raw)
    return Version(timestamp, writer)


__all__ = [
    "FLAG_COUNTER", "FLAG_TOMBSTONE", "FORMAT_V1", "HEADER_SIZE", "Entry", "Record", "ScanPage", "Version",
    "Write", "decode_entry", "decode_version", "encode_entry", "is_counter",
]
