"""Storage values to and from their node-to-node wire form."""

from __future__ import annotations

from collections.abc import Sequence

from manhattan.proto.v1 import peer_pb2, types_pb2
from manhattan.storage import Entry, Version, Write
from manhattan.storage.engine import Reader


def entry_to_proto(entry: Entry | None) -> peer_pb2.Entry:
    """The wire form of a stored version (``found=False`` for none)."""
    if entry is None:
        return peer_pb2.Entry(found=False)
    return peer_pb2.Entry(
        found=True,
        version=types_pb2.Version(timestamp=entry.version.timestamp, writer=entry.version.writer),
        value=entry.value, expires_at_ms=entry.expires_at_ms, tombstone=entry.tombstone,
        counter=entry.counter,
    )


def entry_from_proto(message: peer_pb2.Entry) -> Entry | None:
    """A stored version from the wire, or None when the replica had none."""
    if not message.found:
        return None
    return Entry(Version(message.version.timestamp, message.version.writer), message.value,
                 message.expires_at_ms, message.tombstone, message.counter)


# Bytes a stored version costs on the wire besides key and value (version, flags, tags).
ENTRY_OVERHEAD = 48


def entry_size(pkey: bytes, lkey: bytes, entry: Entry | None) -> int:
    """About how many bytes ``entry`` of (pkey, lkey) adds to a message (an upper bound)."""
    return len(pkey) + len(lkey) + ENTRY_OVERHEAD + (len(entry.value) if entry else 0)


def read_bounded(engine: Reader, dataset: str, keys: Sequence[tuple[bytes, bytes]],
                 max_bytes: int) -> list[Entry | None]:
    """Stored entries of the longest prefix of ``keys`` that fits ``max_bytes`` (at
    least one): a reader never holds or sends more than one message's worth."""
    entries: list[Entry | None] = []
    total = 0
    for pkey, lkey in keys:
        entry = engine.get_entry(dataset, pkey, lkey)
        total += entry_size(pkey, lkey, entry)
        if total > max_bytes and entries:
            break
        entries.append(entry)
    return entries


def write_to_proto(write: Write) -> peer_pb2.ReplicaWrite:
    """The wire form of a versioned write."""
    return peer_pb2.ReplicaWrite(pkey=write.pkey, lkey=write.lkey,
                                 entry=entry_to_proto(write.entry))


def write_from_proto(message: peer_pb2.ReplicaWrite) -> Write:
    """A versioned write from the wire."""
    entry = entry_from_proto(message.entry)
    if entry is None:
        raise ValueError("a replica write must carry an entry")
    return Write(message.pkey, message.lkey, entry)
