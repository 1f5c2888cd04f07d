"""Assembles a storage node: engine, catalog, services, gRPC server, background work."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from concurrent.futures import ThreadPoolExecutor

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1._async import HealthServicer

from manhattan.cluster.clock_drift import ClockDrift
from manhattan.hlc import Ceiling, HybridClock, wall_clock_from
from manhattan.node.admin_service import AdminService, NodeIdentity
from manhattan.rpc.auth import Authenticator
from manhattan.node.cluster_file import FILE_NAME, write_cluster_file
from manhattan.node.config import ConfigError, NodeConfig
from manhattan.cluster.failure_detector import PhiAccrualDetector
from manhattan.cluster.membership import Membership
from manhattan.cluster.peers import PeerContext
from manhattan.cluster.topology import Member, Topology
from manhattan.node.cluster_service import ClusterService
from manhattan.node.data_service import DataService
from manhattan.cluster.gossip import ClusterState
from manhattan.node.observability import Observability
from manhattan.node.removal_probe import peer_view
from manhattan.node.metadata_wiring import MetadataCollector, NodeMetadata
from manhattan.node.snapshots import SnapshotStore
from manhattan.rpc.servicers import add_unary_servicer as add_unary_servicer_
from manhattan.rpc.servicers import add_servicer
from manhattan.node.validation import RequestValidator
from manhattan.proto.v1 import admin_pb2, cluster_pb2, data_pb2, peer_pb2
from manhattan.replication.coordinator import Coordinator
from manhattan.replication.hints import HintStore
from manhattan.replication.peer_link import PeerLinks
from manhattan.node.peer_service import PeerService
from manhattan.node.session import reply_trailers
from manhattan.qos import LimitStore, QosGate, StorageMeter
from manhattan.security import AuditLog
from manhattan.security.tls import TlsFiles
from manhattan.errors import NotFound
from manhattan.storage import GroupCommit, RocksEngine, UnknownDataset
from manhattan.node.operations import SERVICE_NAMES as OPS_SERVICE_NAMES, NodeOperations
from manhattan.tenancy import ADMIN, Catalog, TokenStore, VersionedItems, generate_admin_token

log = logging.getLogger("manhattan.node")

_NODE_ID_KEY = b"node/id"
CEILING_FILE = "hlc.ceiling"
SERVICE_NAMES = ("manhattan.v1.Data", "manhattan.v1.Admin", "manhattan.v1.Cluster",
                 "manhattan.v1.Peer", *OPS_SERVICE_NAMES)


def initial_topology(config: NodeConfig) -> Topology:
    """Epoch 1 from the configured members, or this node alone."""
    members = config.cluster.members or []
    if not members:
        return Topology(1, (Member(config.node.id, config.advertise_address, config.node.zone),))
    return Topology(1, tuple(sorted(
        (Member(m.id, m.address, m.zone, m.weight) for m in members), key=lambda m: m.id)))


class NodeIdentityMismatch(RuntimeError):
    """The data directory belongs to another node id."""


class StorageNode:
    """One storage node. ``await start()``, then ``await stop()`` (graceful)."""

    def __init__(self, config: NodeConfig) -> None:
        self.config = config
        cluster = config.cluster
        if cluster.members and not config.node.admin_token:
            raise ConfigError("cluster.members needs node.admin_token: nodes authenticate to "
                             "each other with the shared admin token")
        if cluster.members and config.node.id not in {m.id for m in cluster.members}:
            raise ConfigError(f"node.id {config.node.id} is not among cluster.members")
        clock = config.clock
        config.node.data_dir.mkdir(parents=True, exist_ok=True)
        # Never back in time: restarts begin above the persisted ceiling (hlc.Ceiling).
        self.clock = HybridClock(wall_clock_from(clock.offset_file), max_skew_ms=clock.max_skew_ms,
                                 ceiling=Ceiling(config.node.data_dir / CEILING_FILE),
                                 reserve_ms=clock.reserve_ms)
        self.drift = ClockDrift(max_drift_ms=clock.max_drift_ms,
                                stale_s=max(10 * cluster.ping_interval_s, 5.0))
        self.engine = RocksEngine(config.db_path, now_ms=self.clock.wall_ms)
        self.engine.timestamp_gate = self.clock  # every stored version is skew-checked
        self._check_identity()
        self.legacy_items = VersionedItems(self.engine)  # gossip-era catalog, admin token
        self.admin_tokens = TokenStore(self.legacy_items)
        self.metadata = (NodeMetadata(config, self.engine,
                                      lambda: self.cluster_state.apply_catalog(),
                                      self._adopt_logged_topology)
                         if config.metadata.enabled else None)
        self.items = self.metadata.items if self.metadata else self.legacy_items
        self.tokens = TokenStore(self.items) if self.metadata else self.admin_tokens
        self.catalog = Catalog(self.items)
        self.limits = LimitStore(self.items)
        self.audit = AuditLog(self.engine, config.node.id)
        self._executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="manhattan-io")
        self.group_commit = GroupCommit(
            self.engine.sync, self._executor,
            inline_below_s=config.storage.inline_fsync_below_ms / 1000)
        self.membership = Membership(self.engine, config.node.id, initial_topology(config),
                                     vnodes=cluster.vnodes)
        self.detector = PhiAccrualDetector(threshold=cluster.phi_threshold,
                                           expected_interval_s=cluster.ping_interval_s)
        self.peer_metadata = (("authorization", f"Bearer {config.node.admin_token}"),)
        limits = config.limits
        self.channel_options = [
            ("grpc.max_receive_message_length", limits.max_message_bytes),
            ("grpc.max_send_message_length", limits.max_message_bytes),
            # A restarted peer should be reachable again within a heartbeat or two.
            ("grpc.initial_reconnect_backoff_ms", 100),
            ("grpc.min_reconnect_backoff_ms", 100),
            ("grpc.max_reconnect_backoff_ms", 1000),
        ]
        tls = config.tls
        self.tls_files = (TlsFiles(tls.ca, tls.cert, tls.key)  # type: ignore[arg-type]
                          if tls.enabled else None)
        self.channel_credentials = (self.tls_files.channel_credentials()
                                    if self.tls_files else None)
        self.links = PeerLinks(metadata=self.peer_metadata, detector=self.detector,
                               options=self.channel_options,
                               credentials=self.channel_credentials,
                               max_message_bytes=limits.max_message_bytes)
        self.peers = PeerContext(node_id=config.node.id, links=self.links,
                                 detector=self.detector, metadata=self.peer_metadata,
                                 channel_credentials=self.channel_credentials)
        # Hints expire a clock skew's worth before the grace: a peer whose clock runs
        # ahead may purge a tombstone that much earlier than this node would.
        self.hints = HintStore(self.engine, max_per_peer=cluster.max_hints_per_peer,
                               grace_ms=max(int(config.storage.tombstone_grace_s * 1000)
                                            - config.clock.max_skew_ms, 0),
                               now_ms=self.clock.wall_ms)
        self.coordinator = Coordinator(
            node_id=config.node.id, engine=self.engine, clock=self.clock,
            group_commit=self.group_commit, membership=self.membership, links=self.links,
            detector=self.detector, hints=self.hints, replica_timeout=cluster.replica_timeout_s,
            max_request_timeout=cluster.max_request_timeout_s,
            max_response_bytes=limits.max_response_bytes,
        )
        self.cluster_state = ClusterState(
            peers=self.peers, membership=self.membership, items=self.items,
            catalog=self.catalog, tokens=self.tokens, engine=self.engine,
            interval_s=cluster.ping_interval_s, limits=self.limits,
            catalog_gossip=self.metadata is None, clock=self.clock,
            drift=self.drift,
        )
        self.coordinator.write_refusal = self.drift.refusal
        self.coordinator.send_catalog = self.cluster_state.push_catalog_to
        self.health = HealthServicer()
        self.observability = Observability(
            config, engine=self.engine, hints=self.hints,
            read_repairs=lambda: self.coordinator.stats["read_repairs"],
            topology_epoch=lambda: self.membership.epoch,
            paxos=lambda: self.coordinator.paxos.stats)
        self.metrics = self.observability.metrics  # what measuring code is handed
        if self.metadata is not None:
            self.metrics.registry.register(MetadataCollector(self.metadata))
        self.coordinator.replica_acked = self.metrics.observe_replica_write
        self.metrics.clock_ahead.set_function(self.drift.ahead_ms)
        self.metrics.clock_refusing_writes.set_function(lambda: float(self.drift.refusing))
        self.metrics.timestamps_refused.set_function(lambda: self.engine.refused_timestamps)
        self.operations = NodeOperations(self)  # anti-entropy, range streaming
        self.snapshots = SnapshotStore(config.node.data_dir, config.node.id, self.engine,
                                       topology_epoch=lambda: self.membership.epoch,
                                       tombstone_grace_s=config.storage.tombstone_grace_s)
        self.server: grpc.aio.Server | None = None
        self.port: int | None = None
        self._tasks: list[asyncio.Task[None]] = []

    def _check_identity(self) -> None:
        stored = self.engine.meta_get(_NODE_ID_KEY)
        wanted = str(self.config.node.id).encode()
        if stored is None:
            self.engine.meta_put(_NODE_ID_KEY, wanted)
        elif stored != wanted:
            self.engine.close()
            raise NodeIdentityMismatch(
                f"data directory {self.config.node.data_dir} belongs to node {stored.decode()}, "
                f"not node {self.config.node.id}"
            )

    def _install_admin_token(self) -> None:
        """Accept the configured admin token, or mint one for a brand-new node."""
        token = self.config.node.admin_token
        cluster_file = self.config.node.data_dir / FILE_NAME
        if not token and self.admin_tokens.has_tenant_tokens(ADMIN):
            return
        if not token:
            token = generate_admin_token()
        self.admin_tokens.install(token, ADMIN, self.clock.now(), self.clock.wall_ms())
        if not cluster_file.exists() or self.config.node.admin_token:
            endpoints = [m.address for m in self.membership.topology.members]
            write_cluster_file(self.config.node.data_dir, endpoints, token)

    def _register_services(self, server: grpc.aio.Server) -> None:
        auth = Authenticator(
            self.tokens, admin_tokens=self.admin_tokens,
            stale=self.metadata.stale_reason if self.metadata else None)
        catch_up = (self.metadata.catch_up if self.metadata
                    else self.cluster_state.catch_up_catalog)
        identity = NodeIdentity(self.config.node.id, self.config.advertise_address,
                                self.clock.wall_ms())
        state = self.cluster_state
        # Every unary service is measured and scoped (request id, tenant) in rpc.py.
        add_unary_servicer = functools.partial(
            add_unary_servicer_, metrics=self.metrics,
            log_access=self.observability.log_access)
        add_unary_servicer(server, DataService(
            self.catalog, auth, RequestValidator(self.config.limits), self.coordinator,
            gate=self._qos_gate(), throttle_delay=self.config.limits.throttle_delay_s,
            catch_up_catalog=catch_up,
            may_freshen=self.metadata.log.may_freshen if self.metadata else lambda: False),
            data_pb2.DESCRIPTOR.services_by_name["Data"],
            reply_trailers=reply_trailers(self.clock))
        add_unary_servicer(server, AdminService(self.catalog, self.tokens, auth, self.engine, self.clock, identity,
                         cluster_size=self.membership.size,
                         on_catalog_change=state.push_catalog,
                         cluster_info=self._cluster_info,
                         limits=self.limits, audit=self.audit,
                         max_tokens_per_tenant=self.config.limits.max_tokens_per_tenant,
                         snapshots=self.snapshots, catch_up_catalog=catch_up,
                         metadata=self.metadata),
            admin_pb2.DESCRIPTOR.services_by_name["Admin"])
        add_unary_servicer(server, ClusterService(auth, state.topology_message),
                           cluster_pb2.DESCRIPTOR.services_by_name["Cluster"])
        self.peer_service = PeerService(node_id=self.config.node.id, engine=self.engine,
                        group_commit=self.group_commit, auth=auth,
                        hlc=self.clock.current, clock=self.clock, on_ping=state.ping_reply,
                        on_topology=state.adopt_topology,
                        catalog_snapshot=state.catalog_snapshot,
                        on_catalog=state.merge_catalog,
                        max_message_bytes=self.config.limits.max_message_bytes,
                        topology_epoch=lambda: self.membership.epoch)
        add_servicer(server, self.peer_service, peer_pb2.DESCRIPTOR.services_by_name["Peer"])
        self.operations.register(server, auth)
        health_pb2_grpc.add_HealthServicer_to_server(self.health, server)
        self.observability.enable_reflection(server, SERVICE_NAMES)

    def _qos_gate(self) -> QosGate:
        """Rate limits and storage quotas for the Data service. Each owning member grants
        1/n of a rate: the cluster never serves more than the limit, even while a
        failure detector flaps (a node down leaves the tenant (n-1)/n of it)."""
        meter = StorageMeter(self._dataset_bytes, nodes=self.membership.size)
        return QosGate(self.limits, nodes=self.membership.size, meter=meter,
                       datasets_of=lambda tenant: [(d.storage_id, d.replication_factor)
                                                   for d in self.catalog.datasets(tenant)])

    async def _data_health(self, stale: bool) -> None:
        """A node whose metadata is stale refuses tenant calls: health says so."""
        await self.health.set("manhattan.v1.Data", health_pb2.HealthCheckResponse.NOT_SERVING
                              if stale else health_pb2.HealthCheckResponse.SERVING)

    def _adopt_logged_topology(self, raw: bytes) -> None:
        """The metadata log committed a topology: the only way one is taken here."""
        if self.membership.update(Topology.from_json(raw)):
            log.info("topology epoch %s from the metadata log", self.membership.epoch)

    def metadata_voters(self) -> list[str] | None:
        """The metadata log's voters (a node being added follows them); None: no log."""
        return self.metadata.log.voters() if self.metadata else None

    def _dataset_bytes(self, storage_id: str) -> int:
        """Bytes this node stores of the live dataset stored as ``storage_id``."""
        try:
            return self.engine.dataset_bytes(self.catalog.storage(storage_id).storage_id)
        except (NotFound, UnknownDataset):
            return 0

    def _cluster_info(self) -> dict[str, object]:
        """Replication figures for NodeInfo."""
        return {
            "topology_epoch": self.membership.epoch,
            "hints_pending": {p: n for p, n in self.hints.pending.items() if n > 0},
            "hints_dropped": sum(self.hints.dropped.values()),
            "hints_replayed": sum(self.hints.replayed.values()),
            "read_repairs": self.coordinator.stats["read_repairs"],
            "snapshots": self.snapshots.count(),
            "clock_ahead_ms": self.drift.ahead_ms(),
            "clock_refusing_writes": self.drift.refusing,
            "hlc": self.clock.current(),
            "timestamps_refused": self.engine.refused_timestamps,
            **self.observability.node_info(),
            **(self.metadata.info() if self.metadata else {}),
        }

    async def start(self) -> None:
        """Bind, serve, start background work."""
        self._install_admin_token()
        self.cluster_state.apply_catalog()
        if self.metadata is not None:
            self.metadata.start(self.legacy_items)
        server = grpc.aio.server(
            options=[*self.channel_options, ("grpc.so_reuseport", 0),
                     ("grpc.max_concurrent_streams", self.config.limits.max_concurrent_streams)],
        )
        self._register_services(server)
        if self.tls_files is not None:
            self.port = server.add_secure_port(self.config.node.listen,
                                               self.tls_files.server_credentials(
                                                   self.config.tls.require_client_cert))
        else:
            self.port = server.add_insecure_port(self.config.node.listen)
        if not self.port:
            raise OSError(f"cannot listen on {self.config.node.listen}")
        await server.start()
        self.server = server
        self.observability.start()
        for name in ("", *SERVICE_NAMES):
            await self.health.set(name, health_pb2.HealthCheckResponse.SERVING)
        if self.metadata is not None:
            self.metadata.on_stale = self._data_health
            # a voter removed while it was down learns so from its former peers
            self.metadata.ask_peers = lambda: peer_view(self.peers,
                                                        self.membership.topology.members)
        self._tasks += [
            asyncio.create_task(self._every(self.config.storage.purge_interval_s, self._purge),
                                name="purge"),
            asyncio.create_task(self.cluster_state.run(), name="gossip"),
            asyncio.create_task(self._every(self.config.cluster.hint_replay_interval_s,
                                            self.coordinator.replay_hints), name="hints"),
            *self.operations.tasks(),
        ]
        log.info("node %s serving on %s", self.config.node.id, self.config.node.listen)

    async def _purge(self) -> None:
        """One TTL/tombstone purge step, off the event loop so requests keep flowing."""
        storage = self.config.storage
        await asyncio.get_running_loop().run_in_executor(
            self._executor, self.engine.purge, int(storage.tombstone_grace_s * 1000),
            storage.purge_budget, self.operations.gate.may_drop)

    @staticmethod
    async def _every(interval: float, work) -> None:
        """Run ``work`` every ``interval`` seconds; log failures and keep going."""
        while True:
            await asyncio.sleep(interval)
            try:
                await work()
            except Exception:
                log.exception("background %s failed; will retry", getattr(work, "__name__", work))

    async def stop(self, grace: float = 5.0) -> None:
        """Report NOT_SERVING for ``node.drain_delay_s`` while still serving (so health
        checkers move away first), stop accepting, finish in-flight requests, flush and
        close storage."""
        await self.health.enter_graceful_shutdown()  # every service NOT_SERVING, for good
        if self.server is not None and self.config.node.drain_delay_s > 0:
            log.info("draining: health NOT_SERVING for %.1fs before stopping",
                     self.config.node.drain_delay_s)
            await asyncio.sleep(self.config.node.drain_delay_s)
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self.server is not None:
            self.peer_service.close()
            await self.server.stop(grace)
        await self.links.close()
        if self.metadata is not None:
            await self.metadata.stop()
        self.observability.stop()
        self.operations.close()
        self._executor.shutdown(wait=True)  # no fsync may run against a closing database
        self.engine.close()
        log.info("node %s stopped", self.config.node.id)

    async def wait_for_termination(self) -> None:
        """Block until the server stops."""
        if self.server is not None:
            await self.server.wait_for_termination()
