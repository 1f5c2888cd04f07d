"""Snapshot calls of the admin API, as operations both clients send.

Each acts on the node that answers; a cluster snapshot is the same name on every
node, which ``manhattan snapshot`` does by calling each node in turn.
"""

from __future__ import annotations

from manhattan.client.models import SnapshotInfo
from manhattan.client.operations import Operation
from manhattan.proto.v1 import admin_pb2


def snapshot_from_proto(message: admin_pb2.Snapshot) -> SnapshotInfo:
    """The SDK's form of a snapshot."""
    return SnapshotInfo(message.name, message.node_id, message.created_at_ms,
                        message.size_bytes, message.path, message.topology_epoch,
                        tuple(message.datasets))


def create_snapshot(name: str) -> Operation[SnapshotInfo]:
    """Checkpoint the answering node as snapshot ``name`` (not retried: not idempotent)."""
    return Operation("admin", "CreateSnapshot", admin_pb2.CreateSnapshotRequest(name=name),
                     lambda r: snapshot_from_proto(r.snapshot), False)


def list_snapshots() -> Operation[list[SnapshotInfo]]:
    """The answering node's snapshots, oldest first."""
    return Operation("admin", "ListSnapshots", admin_pb2.ListSnapshotsRequest(),
                     lambda r: [snapshot_from_proto(s) for s in r.snapshots], True)


def delete_snapshot(name: str) -> Operation[None]:
    """Remove snapshot ``name`` from the answering node."""
    return Operation("admin", "DeleteSnapshot", admin_pb2.DeleteSnapshotRequest(name=name),
                     lambda r: None, False)
