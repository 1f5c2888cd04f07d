"""The snapshot RPCs of manhattan.v1.Admin, mixed into AdminService.

Each call acts on the answering node only; ``manhattan snapshot`` calls every
node with the same name, which makes a cluster snapshot (consistent per node).
Checkpoints flush memtables and touch the disk, so they run off the event loop.
"""

from __future__ import annotations

import asyncio
from typing import Any

from manhattan.errors import Unavailable
from manhattan.rpc.auth import Authenticator
from manhattan.rpc.servicers import rpc_errors
from manhattan.node.snapshots import SnapshotInfo, SnapshotStore
from manhattan.proto.v1 import admin_pb2


def snapshot_to_proto(info: SnapshotInfo) -> admin_pb2.Snapshot:
    """The wire form of a snapshot."""
    return admin_pb2.Snapshot(
        name=info.name, node_id=info.node_id, created_at_ms=info.created_at_ms,
        size_bytes=info.size_bytes, path=info.path, topology_epoch=info.topology_epoch,
        datasets=list(info.datasets))


class SnapshotRpcs:
    """CreateSnapshot, ListSnapshots, DeleteSnapshot (admin token)."""

    _auth: Authenticator
    _snapshots: SnapshotStore | None

    def _store(self) -> SnapshotStore:
        if self._snapshots is None:
            raise Unavailable("snapshots are not available on this node")
        return self._snapshots

    @rpc_errors
    async def CreateSnapshot(self, request: Any, context: Any) -> admin_pb2.CreateSnapshotResponse:
        principal = self._auth.admin(context.invocation_metadata())
        info = await asyncio.to_thread(self._store().create, request.name)
        record = getattr(self, "_record", None)
        if record is not None:  # the audit log, where the node keeps one
            record(principal, "create_snapshot", info.name)
        return admin_pb2.CreateSnapshotResponse(snapshot=snapshot_to_proto(info))

    @rpc_errors
    async def ListSnapshots(self, request: Any, context: Any) -> admin_pb2.ListSnapshotsResponse:
        self._auth.admin(context.invocation_metadata())
        found = await asyncio.to_thread(self._store().list)
        return admin_pb2.ListSnapshotsResponse(snapshots=[snapshot_to_proto(s) for s in found])

    @rpc_errors
    async def DeleteSnapshot(self, request: Any, context: Any) -> admin_pb2.DeleteSnapshotResponse:
        principal = self._auth.admin(context.invocation_metadata())
        await asyncio.to_thread(self._store().delete, request.name)
        record = getattr(self, "_record", None)
        if record is not None:
            record(principal, "delete_snapshot", request.name)
        return admin_pb2.DeleteSnapshotResponse()
