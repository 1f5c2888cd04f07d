"""Value types of the storage layer and the stored-value codec (the shared ones,
``Version``, ``Record`` and ``ScanPage``, live in ``manhattan.types``).

A stored value is a fixed header (format, HLC timestamp, writer id, flags,
expiry) followed by the payload. Tombstones keep the header and drop the payload.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

# Record and ScanPage are re-exported: storage callers name them from here.
from manhattan.types import Record, ScanPage, Version

FORMAT_V1 = 1
FLAG_TOMBSTONE = 0x01

_HEADER = struct.Struct(">BQIBQ")
HEADER_SIZE = _HEADER.size


@dataclass(frozen=True, slots=True)
class Entry:
    """One stored version of a key: a live value or a tombstone."""

    version: Version
    value: bytes = b""
    expires_at_ms: int = 0
    tombstone: bool = False

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
    flags = FLAG_TOMBSTONE if entry.tombstone else 0
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
    )


def decode_version(raw: bytes) -> Version:
    """Only the version of a stored value (cheaper than a full decode)."""
    _, timestamp, writer, _, _ = _HEADER.unpack_from(raw)
    return Version(timestamp, writer)


__all__ = [
    "FLAG_TOMBSTONE", "FORMAT_V1", "HEADER_SIZE", "Entry", "Record", "ScanPage", "Version",
    "Write", "decode_entry", "decode_version", "encode_entry",
]
