"""The Admin service: tenants, datasets and node introspection."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from manhattan import __version__
from manhattan.hlc import HybridClock
from manhattan.node.auth import Authenticator
from manhattan.node.rpc import rpc_errors
from manhattan.proto.v1 import admin_pb2, admin_pb2_grpc
from manhattan.storage import RocksEngine
from manhattan.tenancy import Catalog, DatasetSpec, TenantInfo, TokenStore, normalise_spec
from manhattan.types import Consistency, Durability


@dataclass(frozen=True, slots=True)
class NodeIdentity:
    """What NodeInfo reports about this node."""

    node_id: int
    address: str
    started_at_ms: int


def tenant_to_proto(tenant: TenantInfo) -> admin_pb2.Tenant:
    """The wire form of a tenant."""
    return admin_pb2.Tenant(name=tenant.name, created_at_ms=tenant.created_at_ms)


def spec_to_proto(spec: DatasetSpec) -> admin_pb2.DatasetSpec:
    """The wire form of a dataset spec."""
    return admin_pb2.DatasetSpec(
        name=spec.name, tenant=spec.tenant, replication_factor=spec.replication_factor,
        read_consistency=int(spec.read_consistency), write_consistency=int(spec.write_consistency),
        durability=int(spec.durability), default_ttl_ms=spec.default_ttl_ms,
        created_at_ms=spec.created_at_ms,
    )


def spec_from_proto(message: admin_pb2.DatasetSpec) -> DatasetSpec:
    """A dataset spec from the wire; unknown enum values are kept for validation."""
    def enum(cls, value):
        return cls(value) if value in set(cls) else value
    return DatasetSpec(
        name=message.name, tenant=message.tenant,
        replication_factor=message.replication_factor,
        read_consistency=enum(Consistency, message.read_consistency),
        write_consistency=enum(Consistency, message.write_consistency),
        durability=enum(Durability, message.durability),
        default_ttl_ms=message.default_ttl_ms,
    )


class AdminService(admin_pb2_grpc.AdminServicer):
    """Implements manhattan.v1.Admin."""

    def __init__(
        self, catalog: Catalog, tokens: TokenStore, auth: Authenticator, engine: RocksEngine,
        clock: HybridClock, identity: NodeIdentity,
        cluster_size: Callable[[], int] = lambda: 1,
        on_catalog_change: Callable[[], Awaitable[None]] | None = None,
        cluster_info: Callable[[], dict[str, Any]] = dict,
    ) -> None:
        self._catalog = catalog
        self._tokens = tokens
        self._auth = auth
        self._engine = engine
        self._clock = clock
        self._identity = identity
        self._cluster_size = cluster_size
        self._catalog_changed = on_catalog_change
        self._cluster_info = cluster_info

    async def _on_catalog_change(self) -> None:
        """Tell the rest of the cluster (a no-op on a single node)."""
        if self._catalog_changed is not None:
            await self._catalog_changed()

    @rpc_errors
    async def CreateTenant(self, request, context) -> admin_pb2.CreateTenantResponse:
        self._auth.admin(context.invocation_metadata())
        now = self._clock.wall_ms()
        tenant = self._catalog.create_tenant(request.name, self._clock.now(), now)
        token = self._tokens.issue(tenant.name, self._clock.now(), now)
        await self._on_catalog_change()
        return admin_pb2.CreateTenantResponse(tenant=tenant_to_proto(tenant), token=token)

    @rpc_errors
    async def ListTenants(self, request, context) -> admin_pb2.ListTenantsResponse:
        self._auth.admin(context.invocation_metadata())
        return admin_pb2.ListTenantsResponse(
            tenants=[tenant_to_proto(t) for t in self._catalog.tenants()]
        )

    @rpc_errors
    async def CreateDataset(self, request, context) -> admin_pb2.CreateDatasetResponse:
        self._auth.admin(context.invocation_metadata())
        spec = normalise_spec(
            spec_from_proto(request.spec), node_count=self._cluster_size(),
            now_ms=self._clock.wall_ms(),
        )
        self._catalog.check_new_dataset(spec)  # before storage is touched
        self._engine.create_dataset(spec.name)
        spec = self._catalog.add_dataset(spec, self._clock.now())
        await self._on_catalog_change()
        return admin_pb2.CreateDatasetResponse(dataset=spec_to_proto(spec))

    @rpc_errors
    async def ListDatasets(self, request, context) -> admin_pb2.ListDatasetsResponse:
        principal = self._auth.principal(context.invocation_metadata())
        if principal.is_admin:
            if request.tenant:
                self._catalog.tenant(request.tenant)
            specs = self._catalog.datasets(request.tenant or None)
        else:
            specs = self._catalog.datasets(principal.tenant)
        return admin_pb2.ListDatasetsResponse(datasets=[spec_to_proto(s) for s in specs])

    @rpc_errors
    async def DropDataset(self, request, context) -> admin_pb2.DropDatasetResponse:
        self._auth.admin(context.invocation_metadata())
        spec = self._catalog.remove_dataset(request.name, self._clock.now())
        self._engine.drop_dataset(spec.name)
        await self._on_catalog_change()
        return admin_pb2.DropDatasetResponse()

    @rpc_errors
    async def NodeInfo(self, request, context) -> admin_pb2.NodeInfoResponse:
        self._auth.admin(context.invocation_metadata())
        return admin_pb2.NodeInfoResponse(
            node_id=self._identity.node_id, address=self._identity.address,
            version=__version__, started_at_ms=self._identity.started_at_ms,
            clock_ms=int(time.time() * 1000), datasets=self._engine.datasets(),
            approximate_keys=self._engine.approximate_keys(), disk_bytes=self._engine.disk_bytes(),
            **self._cluster_info(),
        )
