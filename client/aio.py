"""The asyncio client: ``async with AsyncClient(endpoints, token=...)``.

Same surface as Client; requests, decoding, routing, breakers and topology
decisions come from the shared core, only the I/O (grpc.aio channels, awaits,
background tasks) differs.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Iterable, Sequence
from typing import Any, TypeVar

import grpc
from tenacity import AsyncRetrying

from manhattan.client import governance as gov
from manhattan.client import operations as ops
from manhattan.client import snapshots as snap
from manhattan.client.breaker import BreakerPolicy
from manhattan.client.core import CHANNEL_OPTIONS, DEFAULT_TIMEOUT, ClientCore, CoreViews
from manhattan.client.errors import from_rpc_error
from manhattan.client.models import (
    AuditEntry, ClusterTopology, DatasetInfo, Delete, Limits, NodeInfo, Put, Record, ScanPage,
    Tenant, TenantDescription, TokenInfo, Version,
)
from manhattan.client.models import SnapshotInfo
from manhattan.client.policies import RetryPolicy, RoutingPolicy, is_retryable
from manhattan.client.topology import Refresh, TopologyCache
from manhattan.security.tls import TlsFiles, aio_channel
from manhattan.errors import ManhattanError, Unavailable
from manhattan.proto.v1 import admin_pb2_grpc, cluster_pb2, cluster_pb2_grpc, data_pb2_grpc
from manhattan.types import Consistency, Durability

T = TypeVar("T")
_STUBS = {"data": data_pb2_grpc.DataStub, "admin": admin_pb2_grpc.AdminStub,
          "cluster": cluster_pb2_grpc.ClusterStub}


def _discard(task: asyncio.Future[Any]) -> None:
    """Cancel a side task we no longer need, without 'exception never retrieved' noise."""
    if task.done():
        if not task.cancelled():
            task.exception()
    else:
        task.cancel()


class AsyncClient(CoreViews):
    """An asyncio Manhattan client; ``async with`` it or ``await close()``.

    Routes like Client: the endpoints are seeds, the topology names the rest.
    """

    def __init__(
        self,
        endpoints: str | Sequence[str],
        *,
        token: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        retry: RetryPolicy | None = None,
        routing: RoutingPolicy | None = None,
        breaker: BreakerPolicy | None = None,
        topology: TopologyCache | None = None,
        tls: TlsFiles | None = None,
    ) -> None:
        self._core = ClientCore(endpoints, token=token, timeout=timeout, retry=retry,
                                routing=routing, breaker=breaker, topology=topology, tls=tls)
        self._channels: dict[str, grpc.aio.Channel] = {}
        self._stubs: dict[tuple[str, str], Any] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self.admin = AsyncAdmin(self)

    def dataset(self, name: str, *, replication_factor: int | None = None) -> "AsyncDataset":
        """A handle on one dataset (``replication_factor`` overrides what the cluster says,
        for routing only)."""
        self._pin(name, replication_factor)
        return AsyncDataset(self, name)

    def _stub(self, endpoint: str, service: str) -> Any:
        stub = self._stubs.get((endpoint, service))
        if stub is None:
            channel = self._channels.get(endpoint)
            if channel is None:
                channel = aio_channel(endpoint, self._core.credentials, CHANNEL_OPTIONS)
                self._channels[endpoint] = channel
            stub = self._stubs[(endpoint, service)] = _STUBS[service](channel)
        return stub

    async def _attempt(self, op: ops.Operation[T], endpoint: str, deadline: float) -> T:
        remaining = self._core.remaining(deadline, op)
        method = getattr(self._stub(endpoint, op.service), op.method)
        self._core.sending(endpoint)
        try:
            call = method(op.request, timeout=remaining, metadata=self._core.session.metadata)
            response = await call
            trailing = await call.trailing_metadata()
        except grpc.RpcError as exc:
            error = from_rpc_error(exc)
            self._core.record(endpoint, error)
            raise error from None
        self._core.session.observe(trailing)  # the node's clock (session.py)
        self._core.record(endpoint, None)
        return op.parse(response)

    async def _execute(self, op: ops.Operation[T], deadline: float) -> T:
        await self._maybe_refresh(deadline)
        plan = self._core.plan(op)
        try:
            return await self._attempt(op, plan[0], deadline)
        except ManhattanError as exc:
            if not is_retryable(exc, op) or self._core.retry.max_attempts <= 1:
                raise  # max_attempts=1: this was the only attempt
            pause = self._core.retry_pause(exc, deadline)
            if pause:
                await asyncio.sleep(pause)
        async for attempt in AsyncRetrying(**self._core.retry_args(op, deadline)):
            with attempt:
                number = attempt.retry_state.attempt_number + 1
                return await self._attempt(op, self._core.endpoint_for(plan, number), deadline)
        raise AssertionError("unreachable: tenacity reraises")  # pragma: no cover

    async def _execute_split(self, op: ops.Operation[list[T]], deadline: float) -> list[T]:
        """A multi-key call as one request per replica set, sent concurrently."""
        await self._maybe_refresh(deadline)
        groups = self._core.groups(op)
        if len(groups) <= 1:
            return await self._execute(op, deadline)
        outcomes = await asyncio.gather(
            *(self._execute(part, deadline) for part in ops.split(op, groups)),
            return_exceptions=True)
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                raise outcome
        return ops.reassemble(groups, outcomes)

    async def execute(self, op: ops.Operation[T], timeout: float | None = None) -> T:
        """Send one operation: first try straight away, then retry as the policy allows.

        A multi-key call is split by replica set and its parts sent concurrently."""
        deadline = self._core.deadline(timeout)
        if op.batch is not None:
            return await self._execute_split(op, deadline)  # type: ignore[arg-type,return-value]
        return await self._execute(op, deadline)

    # -- topology ---------------------------------------------------------------------

    async def _maybe_refresh(self, deadline: float) -> None:
        topology = self._core.topology
        due = topology.due()
        if due is Refresh.NONE or not topology.claim():
            return
        if due is Refresh.WAIT:
            await self._refresh(self._core.fetch_deadline(deadline))
            return
        task = asyncio.get_running_loop().create_task(
            self._refresh(self._core.fetch_deadline()), name="manhattan-topology")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _refresh(self, deadline: float) -> None:
        """The claimed fetch: always ends it."""
        message: cluster_pb2.TopologyMessage | None = None
        datasets: list[DatasetInfo] | None = None
        try:
            message, datasets = await self._fetch(deadline)
        finally:
            self._core.topology.finish(message, datasets)

    async def _fetch(self, deadline: float
                     ) -> tuple[cluster_pb2.TopologyMessage | None, list[DatasetInfo] | None]:
        """GetTopology (and ListDatasets alongside) from the first endpoint that answers."""
        for endpoint in self._core.fetch_plan():
            if time.monotonic() >= deadline:
                break
            listing = asyncio.ensure_future(
                self._attempt(ops.list_datasets(None), endpoint, deadline))
            try:
                message = await self._attempt(ops.topology_message(), endpoint, deadline)
            except ManhattanError:
                _discard(listing)
                continue
            try:
                datasets: list[DatasetInfo] | None = await listing
            except ManhattanError:
                datasets = None  # routing falls back to the default replication factor
            return message, datasets
        return None, None

    async def refresh_topology(self, timeout: float | None = None) -> int:
        """Fetch the topology now; returns its epoch. Unavailable if no endpoint answers."""
        deadline = self._core.deadline(timeout)
        message, datasets = await self._fetch(deadline)
        if message is None:
            raise Unavailable("no endpoint answered GetTopology")
        self._core.topology.update(message, datasets)
        return self._core.topology.epoch

    async def close(self) -> None:
        """Stop background refreshes and close every channel."""
        tasks, self._tasks = self._tasks, set()
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
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
        """Records for many (pkey, lkey) pairs, in order (None where absent).

        Sent as one request per replica set, concurrently."""
        return await self._client.execute(ops.get_many(self.name, keys, consistency), timeout)

    async def put_many(self, items: Iterable[Put | Delete | tuple], *,
                       consistency: Consistency = Consistency.DEFAULT,
                       durability: Durability = Durability.DEFAULT,
                       timeout: float | None = None) -> list[Version]:
        """Apply puts and deletes; returns their versions in order.

        Grouped by replica set, one request per group, sent concurrently. Atomicity
        is per replica set: each group is all-or-nothing on each of its replicas;
        if one group fails (its error is raised) others may have been applied."""
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
        info = await self._client.execute(ops.create_dataset(
            name, tenant, replication_factor, read_consistency, write_consistency, durability,
            default_ttl), timeout)
        self._client._core.learn(info)
        return info

    async def list_datasets(self, tenant: str | None = None, *,
                            timeout: float | None = None) -> list[DatasetInfo]:
        """Datasets (all for the admin, or one tenant's)."""
        return await self._client.execute(ops.list_datasets(tenant), timeout)

    async def drop_dataset(self, name: str, *, timeout: float | None = None) -> None:
        """Drop a dataset and everything in it."""
        await self._client.execute(ops.drop_dataset(name), timeout)
        self._client._core.topology.forget_dataset(name)

    async def node_info(self, *, timeout: float | None = None) -> NodeInfo:
        """What the answering node says about itself."""
        return await self._client.execute(ops.node_info(), timeout)

    async def topology(self, *, timeout: float | None = None) -> ClusterTopology:
        """The cluster's members and their liveness, as the answering node sees them."""
        return await self._client.execute(ops.topology(), timeout)

    # -- snapshots (of the answering node; `manhattan snapshot` calls every node) ------

    async def create_snapshot(self, name: str, *, timeout: float | None = None) -> SnapshotInfo:
        """Checkpoint the answering node as snapshot ``name``."""
        return await self._client.execute(snap.create_snapshot(name), timeout)

    async def list_snapshots(self, *, timeout: float | None = None) -> list[SnapshotInfo]:
        """The answering node's snapshots, oldest first."""
        return await self._client.execute(snap.list_snapshots(), timeout)

    async def delete_snapshot(self, name: str, *, timeout: float | None = None) -> None:
        """Remove snapshot ``name`` from the answering node."""
        await self._client.execute(snap.delete_snapshot(name), timeout)

    # -- tokens, limits, audit --------------------------------------------------------

    async def create_token(self, tenant: str, *, read_only: bool = False,
                     datasets: Sequence[str] | None = None,
                     timeout: float | None = None) -> tuple[str, TokenInfo]:
        """A new token for ``tenant`` (read-only, and/or limited to some datasets);
        returns (token, info), the token shown only now."""
        return await self._client.execute(gov.create_token(tenant, read_only, datasets), timeout)

    async def list_tokens(self, tenant: str | None = None, *,
                    timeout: float | None = None) -> list[TokenInfo]:
        """Tenant tokens (one tenant's, or every tenant's)."""
        return await self._client.execute(gov.list_tokens(tenant), timeout)

    async def revoke_token(self, token_id: str, *, timeout: float | None = None) -> None:
        """Revoke a token; every node refuses it within a gossip round or two."""
        await self._client.execute(gov.revoke_token(token_id), timeout)

    async def rotate_token(self, token_id: str, *, grace: float = 0.0,
                     timeout: float | None = None) -> tuple[str, TokenInfo]:
        """A new token with the same scope; the old one stops after ``grace`` seconds."""
        return await self._client.execute(gov.rotate_token(token_id, grace), timeout)

    async def set_limits(self, *, tenant: str | None = None, dataset: str | None = None,
                   ops_per_second: float | None = None, bytes_per_second: float | None = None,
                   storage_quota_bytes: int | None = None, burst_seconds: float | None = None,
                   timeout: float | None = None) -> Limits:
        """Change a tenant's or a dataset's limits (None keeps a field; 0 removes a limit)."""
        return await self._client.execute(gov.set_limits(
            tenant=tenant, dataset=dataset, ops_per_second=ops_per_second,
            bytes_per_second=bytes_per_second, storage_quota_bytes=storage_quota_bytes,
            burst_seconds=burst_seconds), timeout)

    async def describe_tenant(self, name: str, *, timeout: float | None = None) -> TenantDescription:
        """A tenant with its limits, its datasets' limits and its tokens."""
        return await self._client.execute(gov.describe_tenant(name), timeout)

    async def audit_log(self, *, limit: int = 100, since_ms: int = 0,
                  timeout: float | None = None) -> list[AuditEntry]:
        """Admin actions of every reachable node, merged, newest first."""
        client = self._client
        op = gov.list_audit(limit, since_ms)
        deadline = client._core.deadline(timeout)
        try:
            await client.refresh_topology(timeout=max(deadline - time.monotonic(), 0.001) / 2)
        except ManhattanError:
            pass  # the seeds alone still answer
        logs = []
        for endpoint in client._core.known_endpoints():
            try:
                logs.append(await client._attempt(op, endpoint, deadline))
            except Unavailable:
                continue  # a node that is down keeps its log for later
        return gov.merge_audit(logs, limit)
