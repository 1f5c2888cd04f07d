"""Assembles a storage node: engine, catalog, services, gRPC server, background work."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from concurrent.futures import ThreadPoolExecutor

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1._async import HealthServicer

from manhattan.hlc import HybridClock
from manhattan.node.admin_service import AdminService, NodeIdentity
from manhattan.node.auth import Authenticator
from manhattan.node.cluster_file import FILE_NAME, write_cluster_file
from manhattan.node.config import NodeConfig
from manhattan.node.coordinator import LocalCoordinator
from manhattan.node.data_service import DataService
from manhattan.node.rpc import MalformedRequestInterceptor
from manhattan.node.validation import RequestValidator
from manhattan.proto.v1 import admin_pb2_grpc, data_pb2_grpc
from manhattan.storage import GroupCommit, RocksEngine
from manhattan.tenancy import ADMIN, Catalog, TokenStore, VersionedItems, generate_admin_token

log = logging.getLogger("manhattan.node")

_NODE_ID_KEY = b"node/id"
SERVICE_NAMES = ("manhattan.v1.Data", "manhattan.v1.Admin")


class NodeIdentityMismatch(RuntimeError):
    """The data directory belongs to another node id."""


class StorageNode:
    """One storage node. ``await start()``, then ``await stop()`` (graceful)."""

    def __init__(self, config: NodeConfig) -> None:
        self.config = config
        self.clock = HybridClock(max_skew_ms=config.clock.max_skew_ms)
        self.engine = RocksEngine(config.db_path, now_ms=self.clock.wall_ms)
        self._check_identity()
        self.items = VersionedItems(self.engine)
        self.tokens = TokenStore(self.items)
        self.catalog = Catalog(self.items)
        self._executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="manhattan-io")
        self.group_commit = GroupCommit(self.engine.sync, self._executor)
        self.coordinator = LocalCoordinator(
            self.engine, self.clock, config.node.id, self.group_commit
        )
        self.health = HealthServicer()
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
        if not token and self.tokens.has_tenant_tokens(ADMIN):
            return
        if not token:
            token = generate_admin_token()
        self.tokens.install(token, ADMIN, self.clock.now(), self.clock.wall_ms())
        if not cluster_file.exists() or self.config.node.admin_token:
            write_cluster_file(self.config.node.data_dir, [self.config.advertise_address], token)

    async def start(self) -> None:
        """Bind, serve, start background work."""
        self._install_admin_token()
        limits = self.config.limits
        options = [
            ("grpc.max_receive_message_length", limits.max_message_bytes),
            ("grpc.max_send_message_length", limits.max_message_bytes),
            ("grpc.so_reuseport", 0),
        ]
        server = grpc.aio.server(options=options, interceptors=[MalformedRequestInterceptor()])
        auth = Authenticator(self.tokens)
        identity = NodeIdentity(self.config.node.id, self.config.advertise_address,
                                self.clock.wall_ms())
        data_pb2_grpc.add_DataServicer_to_server(
            DataService(self.catalog, auth, RequestValidator(limits), self.coordinator), server
        )
        admin_pb2_grpc.add_AdminServicer_to_server(
            AdminService(self.catalog, self.tokens, auth, self.engine, self.clock, identity), server
        )
        health_pb2_grpc.add_HealthServicer_to_server(self.health, server)
        self.port = server.add_insecure_port(self.config.node.listen)
        if not self.port:
            raise OSError(f"cannot listen on {self.config.node.listen}")
        await server.start()
        self.server = server
        for name in ("", *SERVICE_NAMES):
            await self.health.set(name, health_pb2.HealthCheckResponse.SERVING)
        self._tasks.append(asyncio.create_task(self._purge_loop(), name="purge"))
        log.info("node %s serving on %s", self.config.node.id, self.config.node.listen)

    async def _purge_loop(self) -> None:
        storage = self.config.storage
        grace_ms = int(storage.tombstone_grace_s * 1000)
        while True:
            await asyncio.sleep(storage.purge_interval_s)
            try:
                self.engine.purge(grace_ms, storage.purge_budget)
            except Exception:
                log.exception("purge failed; will retry")

    async def stop(self, grace: float = 5.0) -> None:
        """Stop accepting, finish in-flight requests, flush and close storage."""
        await self.health.enter_graceful_shutdown()
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self.server is not None:
            await self.server.stop(grace)
        self.engine.close()
        self._executor.shutdown(wait=True)
        log.info("node %s stopped", self.config.node.id)

    async def wait_for_termination(self) -> None:
        """Block until the server stops."""
        if self.server is not None:
            await self.server.wait_for_termination()
