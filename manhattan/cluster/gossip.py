"""Heartbeats between nodes, and catch-up of topology and catalog.

Every interval this node pings each peer with its topology epoch and catalog
version. A successful ping is a heartbeat for the failure detector; a peer
that answers with a newer epoch or catalog is asked for it, so a node that
missed a push catches up within a few intervals.
"""

from __future__ import annotations

import asyncio
import logging
import time

import grpc

from manhattan.cluster.membership import Membership, topology_from_proto, topology_to_proto
from manhattan.cluster.peers import PeerContext
from manhattan.proto.v1 import cluster_pb2, cluster_pb2_grpc, peer_pb2
from manhattan.storage.engine import Datasets
from manhattan.qos import LimitStore
from manhattan.tenancy.limits import validate_item as check_limits_item
from manhattan.tenancy import Catalog, Item, TokenStore, VersionedItems
from manhattan.tenancy.catalog import check_item as check_catalog_item
from manhattan.tenancy.tokens import check_item as check_token_item

log = logging.getLogger("manhattan.gossip")
CATCH_UP_EVERY_S = 1.0  # at most one on-demand catalog pull a second


def _well_formed(item: peer_pb2.CatalogItem) -> bool:
    """Whether a peer's catalog item may be merged (a malformed one is dropped and logged)."""
    if item.deleted:
        return True
    try:
        for check in (check_catalog_item, check_token_item, check_limits_item):
            check(item.key, item.value)
    except ValueError as exc:
        log.warning("dropped a malformed catalog item from a peer: %s", exc)
        return False
    return True


class ClusterState:
    """Topology and catalog exchange with peers, and the heartbeat loop."""

    def __init__(self, *, peers: PeerContext, membership: Membership, items: VersionedItems,
                 catalog: Catalog, tokens: TokenStore, engine: Datasets,
                 interval_s: float, limits: LimitStore | None = None,
                 catalog_gossip: bool = True) -> None:
        self.node_id = peers.node_id
        # False: the metadata log carries the catalog; gossip only heartbeats and topology.
        self.catalog_gossip = catalog_gossip
        self.membership = membership
        self.items = items
        self.catalog = catalog
        self.tokens = tokens
        self.engine = engine
        self.detector = peers.detector
        self.links = peers.links
        self.metadata = peers.metadata
        self.interval_s = interval_s
        self.limits = limits
        self._background: set[asyncio.Future[None]] = set()
        self._caught_up_at = -CATCH_UP_EVERY_S
        self._catching_up: asyncio.Future[None] | None = None

    # -- catalog ----------------------------------------------------------

    def catalog_snapshot(self) -> peer_pb2.CatalogSnapshot:
        """Every catalog item, for a peer to merge."""
        return peer_pb2.CatalogSnapshot(version=self.items.version, items=[
            peer_pb2.CatalogItem(key=i.key, value=i.value, version=i.version, deleted=i.deleted)
            for i in self.items.snapshot()
        ])

    async def merge_catalog(self, snapshot: peer_pb2.CatalogSnapshot) -> None:
        """Take newer items from a peer and bring column families in line."""
        if not self.catalog_gossip:
            return  # only the metadata log changes the catalog
        items = [Item(i.key, i.value, i.version, i.deleted) for i in snapshot.items
                 if _well_formed(i)]
        if self.items.merge(items):
            self.apply_catalog()

    def apply_catalog(self) -> None:
        """Rebuild views; create and drop column families to match the catalog."""
        self.catalog.reload()
        self.tokens.reload()
        if self.limits is not None:
            self.limits.reload()
        wanted = {d.storage_id for d in self.catalog.datasets()}
        for name in wanted - set(self.engine.datasets()):
            self.engine.create_dataset(name)
        for name in set(self.engine.datasets()) - wanted:
            self.engine.drop_dataset(name)

    async def push_catalog_to(self, member, timeout: float = 2.0) -> None:
        """Send the catalog to one peer (waiting briefly for a connection)."""
        stub = self.links.get(member.id, member.address).stub
        try:
            await stub.PushCatalog(self.catalog_snapshot(), timeout=timeout,
                                   metadata=self.metadata, wait_for_ready=True)
        except grpc.aio.AioRpcError as exc:
            log.info("catalog push to node %s failed (%s); gossip will retry",
                     member.id, exc.code().name)

    async def pull_catalog(self, timeout: float = 2.0) -> None:
        """Merge every reachable peer's catalog now (not at the next gossip round)."""
        async def pull(member) -> None:
            link = self.links.get(member.id, member.address)
            try:
                snapshot = await link.stub.GetCatalog(peer_pb2.GetCatalogRequest(),
                                                      timeout=timeout, metadata=self.metadata)
            except grpc.aio.AioRpcError as exc:
                log.info("catalog pull from node %s failed (%s)", member.id, exc.code().name)
                return
            await self.merge_catalog(snapshot)
        await asyncio.gather(*(pull(m) for m in self.membership.peers()
                               if not self.detector.known_down(m.id)))

    async def catch_up_catalog(self) -> bool:
        """Pull the peers' catalogs because a request named something this node has not
        heard of (a tenant or dataset created a moment ago through another node whose
        push has not arrived). Concurrent callers share one pull, and a new one starts at
        most once a second, so requests naming what does not exist cannot flood the
        peers. False when no pull may start now (the caller answers NotFound)."""
        if self._catching_up is None:
            if time.monotonic() - self._caught_up_at < CATCH_UP_EVERY_S:
                return False
            self._caught_up_at = time.monotonic()
            self._catching_up = asyncio.ensure_future(self.pull_catalog())
            self._catching_up.add_done_callback(self._caught_up)
        try:
            await asyncio.shield(self._catching_up)
        except Exception:  # a failed pull only means NotFound; the gossip catches up later
            pass
        return True

    def _caught_up(self, pull: "asyncio.Future[None]") -> None:
        self._catching_up = None
        if not pull.cancelled():
            pull.exception()  # retrieved here, so a failure is never logged as unhandled

    async def push_catalog(self, timeout: float = 2.0) -> None:
        """Send the catalog to every peer: wait for all but those known to be down
        (gossip brings any that miss it up to date)."""
        if not self.catalog_gossip:
            return
        waits = []
        for member in self.membership.peers():
            push = asyncio.ensure_future(self.push_catalog_to(member, timeout))
            if not self.detector.known_down(member.id):
                waits.append(push)
            else:
                self._background.add(push)
                push.add_done_callback(self._background.discard)
        await asyncio.gather(*waits)

    # -- topology ---------------------------------------------------------

    async def adopt_topology(self, message: cluster_pb2.TopologyMessage) -> None:
        """Take a pushed topology if it is newer (never under the metadata log: only
        what the log committed changes the topology there)."""
        if not self.catalog_gossip:
            return
        if self.membership.update(topology_from_proto(message)):
            log.info("adopted topology epoch %s", message.epoch)

    def topology_message(self) -> cluster_pb2.TopologyMessage:
        """The topology with liveness as seen from here."""
        return topology_to_proto(
            self.membership.topology, vnodes=self.membership.vnodes,
            alive=lambda i: i == self.node_id or self.detector.is_alive(i),
        )

    # -- heartbeats -------------------------------------------------------

    def ping_reply(self, request: peer_pb2.PingRequest) -> peer_pb2.PingResponse:
        """Answer a ping (and count it as a heartbeat from the sender)."""
        if request.from_node:
            self.detector.heartbeat(request.from_node)
        return peer_pb2.PingResponse(node_id=self.node_id, topology_epoch=self.membership.epoch,
                                     catalog_version=self.items.version)

    async def _ping(self, member) -> None:
        link = self.links.get(member.id, member.address)
        request = peer_pb2.PingRequest(from_node=self.node_id,
                                       topology_epoch=self.membership.epoch,
                                       catalog_version=self.items.version)
        try:
            reply = await link.stub.Ping(request, timeout=max(self.interval_s * 2, 0.5),
                                         metadata=self.metadata)
        except grpc.aio.AioRpcError as exc:
            # Refused connections mean dead now; a slow answer is left to phi to judge.
            if exc.code() == grpc.StatusCode.UNAVAILABLE:
                self.detector.failure(member.id)
            return
        self.detector.heartbeat(member.id)
        if reply.topology_epoch > self.membership.epoch:
            stub = cluster_pb2_grpc.ClusterStub(link.channel)
            message = await stub.GetTopology(cluster_pb2.GetTopologyRequest(), timeout=2,
                                             metadata=self.metadata)
            await self.adopt_topology(message)
        if not self.catalog_gossip:
            return
        if reply.catalog_version < self.items.version:
            await self.push_catalog_to(member)
        elif reply.catalog_version > self.items.version:
            snapshot = await link.stub.GetCatalog(peer_pb2.GetCatalogRequest(), timeout=2,
                                                  metadata=self.metadata)
            await self.merge_catalog(snapshot)

    async def run(self) -> None:
        """Ping every peer each interval, forever."""
        while True:
            peers = self.membership.peers()
            if peers:
                results = await asyncio.gather(*(self._ping(m) for m in peers),
                                               return_exceptions=True)
                for result in results:
                    if isinstance(result, Exception):
                        log.debug("gossip round error: %s", result)
            await asyncio.sleep(self.interval_s)
