"""The asyncio client: ``async with AsyncClient(endpoints, token=...)``.

Same surface as Client; requests, decoding and retry decisions come from the
shared core, only the I/O (grpc.aio channels, awaits) differs.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Sequence
from typing import Any, TypeVar

import grpc
from tenacity import AsyncRetrying

from manhattan.client import operations as ops
from manhattan.client.core import CHANNEL_OPTIONS, DEFAULT_TIMEOUT, ClientCore
from manhattan.client.errors import from_rpc_error
from manhattan.client.models import (
    ClusterTopology, DatasetInfo, Delete, NodeInfo, Put, Record, ScanPage, Tenant, Version,
)
from manhattan.client.policies import RetryPolicy, RoutingPolicy, is_retryable
from manhattan.errors import ManhattanError
from manhattan.proto.v1 import admin_pb2_grpc, cluster_pb2_grpc, data_pb2_grpc
from manhattan.types import Consistency, Durability

T = TypeVar("T")
_STUBS = {"data": data_pb2_grpc.DataStub, "admin": admin_pb2_grpc.AdminStub,
          "cluster": cluster_pb2_grpc.ClusterStub}


class AsyncClient:
    """An asyncio Manhattan client; ``async with`` it or ``await close()``."""

    def __init__(
        self,
        endpoints: str | Sequence[str],
        *,
        token: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        retry: RetryPolicy | None = None,
        routing: RoutingPolicy | None = None,
    ) -> None:
        self._core = ClientCore(endpoints, token=token, timeout=timeout, retry=retry,
                                routing=routing)
        self._channels: dict[str, grpc.aio.Channel] = {}
        self._stubs: dict[tuple[str, str], Any] = {}
        self.admin = AsyncAdmin(self)

    def dataset(self, name: str) -> "AsyncDataset":
        """A handle on one dataset."""
        return AsyncDataset(self, name)

    def _stub(self, endpoint: str, service: str) -> Any:
        stub = self._stubs.get((endpoint, service))
        if stub is None:
            channel = self._channels.get(endpoint)
            if channel is None:
                channel = grpc.aio.insecure_channel(endpoint, options=CHANNEL_OPTIONS)
                self._channels[endpoint] = channel
            stub = self._stubs[(endpoint, service)] = _STUBS[service](channel)
        return stub

    async def _attempt(self, op: ops.Operation[T], endpoint: str, deadline: float) -> T:
        remaining = self._core.remaining(deadline, op)
        method = getattr(self._stub(endpoint, op.service), op.method)
        try:
            response = await method(op.request, timeout=remaining, metadata=self._core.metadata)
        except grpc.RpcError as exc:
            raise from_rpc_error(exc) from None
        return op.parse(response)

    async def execute(self, op: ops.Operation[T], timeout: float | None = None) -> T:
        """Send one operation: first try straight away, then retry as the policy allows."""
        deadline = self._core.deadline(timeout)
        plan = self._core.routing.query_plan(op)
        try:
            return await self._attempt(op, plan[0], deadline)
        except ManhattanError as exc:
            if not is_retryable(exc, op):
                raise
        async for attempt in AsyncRetrying(**self._core.retry_args(op, deadline)):
            with attempt:
                number = attempt.retry_state.attempt_number + 1
                return await self._attempt(op, self._core.endpoint_for(plan, number), deadline)
        raise AssertionError("unreachable: tenacity reraises")  # pragma: no cover

    async def close(self) -> None:
        """Close every channel."""
        channels, self._channels = self._channels, {}
        self._stubs.clear()
        for channel in channels.values():
            await channel.close()

    async def __aenter__(self) -> "AsyncClient":
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()


class AsyncDataset:
    """Reads and writes on one dataset (asyncio). Keys and values are bytes or str."""

    def __init__(self, client: AsyncClient, name: str) -> None:
        self._client = client
        self.name = name

    async def get(self, pkey: ops.Key, lkey: ops.Key = b"", *,
                  consistency: Consistency = Consistency.DEFAULT,
                  timeout: float | None = None) -> Record | None:
        """The record at (pkey, lkey), or None."""
        return await self._client.execute(ops.get(self.name, pkey, lkey, consistency), timeout)

    async def put(self, pkey: ops.Key, lkey: ops.Key, value: ops.Key, *,
                  ttl: float | None = None, consistency: Consistency = Consistency.DEFAULT,
                  durability: Durability = Durability.DEFAULT,
                  timeout: float | None = None) -> Version:
        """Store a value (optionally expiring after ``ttl`` seconds); returns its version."""
        return await self._client.execute(
            ops.put(self.name, pkey, lkey, value, ttl, consistency, durability), timeout)

    async def delete(self, pkey: ops.Key, lkey: ops.Key = b"", *,
                     consistency: Consistency = Consistency.DEFAULT,
                     durability: Durability = Durability.DEFAULT,
                     timeout: float | None = None) -> Version:
        """Delete (pkey, lkey); returns the tombstone's version."""
        return await self._client.execute(
            ops.delete(self.name, pkey, lkey, consistency, durability), timeout)

    async def scan_page(self, pkey: ops.Key, *, start: ops.Key | None = None,
                        end: ops.Key | None = None, limit: int = 100, reverse: bool = False,
                        cursor: bytes | None = None,
                        consistency: Consistency = Consistency.DEFAULT,
                        timeout: float | None = None) -> ScanPage:
        """One page of records of ``pkey`` with start <= lkey < end."""
        return await self._client.execute(
            ops.scan_page(self.name, pkey, start, end, limit, reverse, cursor, consistency),
            timeout)

    async def iter_scan(self, pkey: ops.Key, *, start: ops.Key | None = None,
                        end: ops.Key | None = None, reverse: bool = False, page_size: int = 100,
                        consistency: Consistency = Consistency.DEFAULT,
                        timeout: float | None = None) -> AsyncIterator[Record]:
        """Every matching record, fetched page by page (``timeout`` is per page)."""
        cursor: bytes | None = None
        while True:
            page = await self.scan_page(pkey, start=start, end=end, limit=page_size,
                                        reverse=reverse, cursor=cursor,
                                        consistency=consistency, timeout=timeout)
            for record in page.records:
                yield record
            if page.cursor is None:
                return
            cursor = page.cursor

    async def scan(self, pkey: ops.Key, *, start: ops.Key | None = None,
                   end: ops.Key | None = None, limit: int = 100, reverse: bool = False,
                   consistency: Consistency = Consistency.DEFAULT,
                   timeout: float | None = None) -> list[Record]:
        """Up to ``limit`` records of ``pkey`` in lkey order (descending if ``reverse``)."""
        records: list[Record] = []
        async for record in self.iter_scan(pkey, start=start, end=end, reverse=reverse,
                                           page_size=min(max(limit, 1), 1000),
                                           consistency=consistency, timeout=timeout):
            if len(records) >= limit:
                break
            records.append(record)
        return records

    async def get_many(self, keys: Sequence[tuple[ops.Key, ops.Key]], *,
                       consistency: Consistency = Consistency.DEFAULT,
                       timeout: float | None = None) -> list[Record | None]:
        """Records for many (pkey, lkey) pairs, in order (None where absent)."""
        return await self._client.execute(ops.get_many(self.name, keys, consistency), timeout)

    async def put_many(self, items: Iterable[Put | Delete | tuple], *,
                       consistency: Consistency = Consistency.DEFAULT,
                       durability: Durability = Durability.DEFAULT,
                       timeout: float | None = None) -> list[Version]:
        """Apply puts and deletes as one batch (atomic on each node)."""
        return await self._client.execute(
            ops.put_many(self.name, items, consistency, durability), timeout)


class AsyncAdmin:
    """Tenant and dataset management (needs the admin token), asyncio."""

    def __init__(self, client: AsyncClient) -> None:
        self._client = client

    async def create_tenant(self, name: str, *, timeout: float | None = None) -> str:
        """Create a tenant and return its token (shown only now)."""
        return await self._client.execute(ops.create_tenant(name), timeout)

    async def list_tenants(self, *, timeout: float | None = None) -> list[Tenant]:
        """Every tenant."""
        return await self._client.execute(ops.list_tenants(), timeout)

    async def create_dataset(self, name: str, *, tenant: str, replication_factor: int = 0,
                             read_consistency: Consistency = Consistency.DEFAULT,
                             write_consistency: Consistency = Consistency.DEFAULT,
                             durability: Durability = Durability.DEFAULT,
                             default_ttl: float | None = None,
                             timeout: float | None = None) -> DatasetInfo:
        """Create a dataset owned by ``tenant`` (replication_factor 0 = cluster default)."""
        return await self._client.execute(ops.create_dataset(
            name, tenant, replication_factor, read_consistency, write_consistency, durability,
            default_ttl), timeout)

    async def list_datasets(self, tenant: str | None = None, *,
                            timeout: float | None = None) -> list[DatasetInfo]:
        """Datasets (all for the admin, or one tenant's)."""
        return await self._client.execute(ops.list_datasets(tenant), timeout)

    async def drop_dataset(self, name: str, *, timeout: float | None = None) -> None:
        """Drop a dataset and everything in it."""
        await self._client.execute(ops.drop_dataset(name), timeout)

    async def node_info(self, *, timeout: float | None = None) -> NodeInfo:
        """What the answering node says about itself."""
        return await self._client.execute(ops.node_info(), timeout)

    async def topology(self, *, timeout: float | None = None) -> ClusterTopology:
        """The cluster's members and their liveness, as the answering node sees them."""
        return await self._client.execute(ops.topology(), timeout)
