"""Wires anti-entropy and membership changes (range streaming) into a StorageNode.

The parts (``replication.antientropy``, ``replication.streaming``,
``cluster.changes``) get their collaborators explicitly (the node's ``PeerContext``,
engine, catalog, hints); only this module knows the node.

Kept out of server.py so the node assembles it in a few lines: ``NodeOperations``
owns its own worker threads (tree builds and scans must not queue behind the
group commit's fsyncs), the servicers and the background tasks. Counters go to
the node's Prometheus metrics (``manhattan.node.metrics``), which NodeInfo and
``manhattan status`` read back.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

import grpc

from manhattan.cluster.changes import MembershipChanges
from manhattan.cluster.ranges import in_transition
from manhattan.replication.streaming import Transfers
from manhattan.rpc.auth import Authenticator
from manhattan.rpc.servicers import add_servicer
from manhattan.proto.v1 import ops_pb2
from manhattan.replication.antientropy.exchange import ExchangeSession, Exchanger
from manhattan.replication.antientropy.scheduler import AntiEntropy
from manhattan.replication.antientropy.tree_cache import TreeCache
from manhattan.node.ops_service import OpsService, PeerRangesService
from manhattan.replication.antientropy.watermarks import TombstoneGate, Watermarks

if TYPE_CHECKING:
    from manhattan.node.server import StorageNode

SERVICE_NAMES = ("manhattan.v1.Ops", "manhattan.v1.PeerRanges")


class NodeOperations:
    """Anti-entropy and membership-change machinery of one node."""

    def __init__(self, node: "StorageNode") -> None:
        config = node.config
        self.node = node
        self.executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="manhattan-ops")
        self.watermarks = Watermarks(node.engine)
        self.gate = TombstoneGate(
            node_id=config.node.id, membership=node.membership, catalog=node.catalog,
            watermarks=self.watermarks,
            grace_ms=lambda: int(config.storage.tombstone_grace_s * 1000))
        # One cache for both sides of every exchange: trees kept current as writes apply.
        self.trees = TreeCache(node.engine, max_age_s=config.repair.tree_max_age_s)
        self.exchanger = Exchanger(
            node_id=config.node.id, engine=node.engine, executor=self.executor,
            watermarks=self.watermarks, metadata=node.peer_metadata, now_ms=node.clock.wall_ms,
            timeout_s=max(config.cluster.replica_timeout_s * 6, 30.0), trees=self.trees)
        self.anti_entropy = AntiEntropy(
            node_id=config.node.id, membership=node.membership, catalog=node.catalog,
            detector=node.detector, links=node.links, exchanger=self.exchanger,
            interval_s=config.repair.interval_s, keys_per_s=config.repair.keys_per_s,
            enabled=config.repair.enabled, metrics=getattr(node, "metrics", None))
        self.transfers = Transfers(
            peers=node.peers, engine=node.engine, membership=node.membership,
            catalog=node.catalog, hints=node.hints, config=config.streaming,
            merge_catalog=node.cluster_state.merge_catalog, executor=self.executor,
            exchanger=self.exchanger, metrics=getattr(node, "metrics", None))
        self.changes = MembershipChanges(peers=node.peers, membership=node.membership,
                                         catalog=node.catalog, transfers=self.transfers,
                                         metadata_voters=node.metadata_voters,
                                         commit_topology=(node.metadata.commit_topology
                                                          if node.metadata else None),
                                         voters=node.metadata)

    def new_session(self) -> ExchangeSession:
        """The responder side of one exchange stream."""
        return ExchangeSession(engine=self.node.engine, executor=self.executor,
                               epoch=lambda: self.node.membership.epoch,
                               watermarks=self.watermarks, now_ms=self.node.clock.wall_ms,
                               trees=self.trees)

    def register(self, server: grpc.aio.Server, auth: Authenticator) -> None:
        """Add the Ops and PeerRanges services."""
        transfers = self.transfers
        # add_servicer (not the generated add_*_to_server): undecodable requests get
        # INVALID_ARGUMENT rather than grpc.aio's UNKNOWN (found by tests/security fuzz).
        add_servicer(server, OpsService(
            auth=auth, anti_entropy=self.anti_entropy,
            change_membership=self.changes.change), ops_pb2.DESCRIPTOR.services_by_name["Ops"])
        add_servicer(server, PeerRangesService(
            auth=auth, new_session=self.new_session,
            stream_ranges=transfers.stream_ranges if transfers else None,
            transfer_status=transfers.status if transfers else None,
            cleanup=self.cleanup if transfers else None),
            ops_pb2.DESCRIPTOR.services_by_name["PeerRanges"])

    async def cleanup(self) -> ops_pb2.CleanupReply:
        """Drop what this node no longer owns. Asked right after a switch its applied copy
        of the log may not have yet (a node that was just restarted, say): catch up with
        the log first, or it would refuse as if the change were still under way (and show
        its joining members as joining, after the change reported done)."""
        metadata = self.node.metadata
        if metadata is not None and in_transition(self.node.membership.topology):
            await metadata.log.barrier(metadata.command_timeout)
        return await self.transfers.cleanup()

    def tasks(self) -> list[asyncio.Task[None]]:
        """Background work: the repair loop and the transfer watcher."""
        return [asyncio.create_task(self.anti_entropy.run(), name="anti-entropy"),
                asyncio.create_task(self.transfers.run(), name="transfers")]

    def close(self) -> None:
        """Wait for running scans (before the engine closes)."""
        self.executor.shutdown(wait=True)
