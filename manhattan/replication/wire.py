"""Storage values to and from their node-to-node wire form."""

from __future__ import annotations

from manhattan.proto.v1 import peer_pb2, types_pb2
from manhattan.storage import Entry, Version, Write


def entry_to_proto(entry: Entry | None) -> peer_pb2.Entry:
    """The wire form of a stored version (``found=False`` for none)."""
    if entry is None:
        return peer_pb2.Entry(found=False)
    return peer_pb2.Entry(
        found=True,
        version=types_pb2.Version(timestamp=entry.version.timestamp, writer=entry.version.writer),
        value=entry.value, expires_at_ms=entry.expires_at_ms, tombstone=entry.tombstone,
    )


def entry_from_proto(message: peer_pb2.Entry) -> Entry | None:
    """A stored version from the wire, or None when the replica had none."""
    if not message.found:
        return None
    return Entry(Version(message.version.timestamp, message.version.writer), message.value,
                 message.expires_at_ms, message.tombstone)


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
