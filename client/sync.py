"""The blocking client: ``Client(endpoints, token=...)``.

Requests, decoding, routing, breakers and topology decisions come from the
shared core; this module only does the blocking I/O: grpc calls, a small
thread pool for the parts of a split get_many/put_many and for background
topology refreshes.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

import grpc
from tenacity import Retrying

from manhattan.client import governance as gov
from manhattan.client import operations as ops
from manhattan.client import snapshots as snap
from manhattan.client.breaker import BreakerPolicy
from manhattan.client.core import (
    CHANNEL_OPTIONS, DEFAULT_TIMEOUT, PARALLEL_REQUESTS, ClientCore, CoreViews,
)
from manhattan.client.errors import from_rpc_error
from manhattan.client.models import (
    AuditEntry, ClusterTopology, DatasetInfo, Delete, Limits, NodeInfo, Put, Record, ScanPage,
    Tenant, TenantDescription, TokenInfo, Version,
)
from manhattan.client.models import SnapshotInfo
from manhattan.client.policies import RetryPolicy, RoutingPolicy, is_retryable
from manhattan.client.topology import Refresh, TopologyCache
from manhattan.security.tls import TlsFiles
from manhattan.security.tls import channel as open_channel
from manhattan.errors import ManhattanError, Unavailable
from manhattan.proto.v1 import admin_pb2_grpc, cluster_pb2, cluster_pb2_grpc, data_pb2_grpc
from manhattan.proto.v1 import ops_pb2_grpc
from manhattan.types import Consistency, Durability

T = TypeVar("T")
_STUBS = {"data": data_pb2_grpc.DataStub, "admin": admin_pb2_grpc.AdminStub,
          "cluster": cluster_pb2_grpc.ClusterStub, "ops": ops_pb2_grpc.OpsStub}


class Client(CoreViews):
    """A blocking Manhattan client; use as a context manager or call ``close()``.

    ``endpoints`` are seeds: the client learns every member from the cluster's
    topology and routes each single-key call to a replica of its pkey
    (``TokenAwarePolicy(RoundRobinPolicy(endpoints))`` unless ``routing`` is given).
    Thread-safe.
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
        self._lock = threading.Lock()
        self._channels: dict[str, grpc.Channel] = {}
        self._stubs: dict[tuple[str, str], Any] = {}
        self._pool: ThreadPoolExecutor | None = None
        self.admin = Admin(self)

    def dataset(self, name: str, *, replication_factor: int | None = None) -> "Dataset":
        """A handle on one dataset (``replication_factor`` overrides what the cluster says,
        for routing only)."""
        self._pin(name, replication_factor)
        return Dataset(self, name)

    def _stub(self, endpoint: str, service: str) -> Any:
        stub = self._stubs.get((endpoint, service))
        if stub is None:
            with self._lock:
                channel = self._channels.get(endpoint)
                if channel is None:
                    channel = open_channel(endpoint, self._core.credentials, CHANNEL_OPTIONS)
                    self._channels[endpoint] = channel
                stub = self._stubs[(endpoint, service)] = _STUBS[service](channel)
        return stub

    def _executor(self) -> ThreadPoolExecutor:
        pool = self._pool
        if pool is None:
            with self._lock:
                pool = self._pool
                if pool is None:
                    pool = self._pool = ThreadPoolExecutor(
                        PARALLEL_REQUESTS, thread_name_prefix="manhattan-client")
        return pool

    def _attempt(self, op: ops.Operation[T], endpoint: str, deadline: float) -> T:
        remaining = self._core.remaining(deadline, op)
        method = getattr(self._stub(endpoint, op.service), op.method)
        self._core.sending(endpoint)
        try:
            response, call = method.with_call(op.request, timeout=remaining,
                                              metadata=self._core.session.metadata)
        except grpc.RpcError as exc:
            error = from_rpc_error(exc)
            self._core.record(endpoint, error)
            raise error from None
        self._core.session.observe(call.trailing_metadata())  # the node's clock (session.py)
        self._core.record(endpoint, None)
        return op.parse(response)

    def _execute(self, op: ops.Operation[T], deadline: float) -> T:
        self._maybe_refresh(deadline)
        plan = self._core.plan(op)
        try:
            return self._attempt(op, plan[0], deadline)
        except ManhattanError as exc:
            if not is_retryable(exc, op) or self._core.retry.max_attempts <= 1:
                raise  # max_attempts=1: this was the only attempt
            pause = self._core.retry_pause(exc, deadline)
            if pause:
                time.sleep(pause)
        for attempt in Retrying(**self._core.retry_args(op, deadline)):
            with attempt:
                number = attempt.retry_state.attempt_number + 1
                return self._attempt(op, self._core.endpoint_for(plan, number), deadline)
        raise AssertionError("unreachable: tenacity reraises")  # pragma: no cover

    def _execute_split(self, op: ops.Operation[list[T]], deadline: float) -> list[T]:
        """A multi-key call as one request per replica set, sent in parallel."""
        self._maybe_refresh(deadline)
        groups = self._core.groups(op)
        if len(groups) <= 1:
            return self._execute(op, deadline)
        parts = ops.split(op, groups)
        pool = self._executor()
        futures = [pool.submit(self._execute, part, deadline) for part in parts[1:]]
        outcomes: list[Any] = []
        try:
            outcomes.append(self._execute(parts[0], deadline))
        except ManhattanError as exc:
            outcomes.append(exc)
        for future in futures:  # every part is bounded by the deadline
            try:
                outcomes.append(future.result())
            except ManhattanError as exc:
                outcomes.append(exc)
        for outcome in outcomes:
            if isinstance(outcome, ManhattanError):
                raise outcome
        return ops.reassemble(groups, outcomes)

    def execute(self, op: ops.Operation[T], timeout: float | None = None) -> T:
        """Send one operation: first try straight away, then retry as the policy allows.

        A multi-key call is split by replica set and its parts sent in parallel."""
        deadline = self._core.deadline(timeout)
        if op.batch is not None:
            return self._execute_split(op, deadline)  # type: ignore[arg-type,return-value]
        return self._execute(op, deadline)

    # -- topology ---------------------------------------------------------------------

    def _maybe_refresh(self, deadline: float) -> None:
        topology = self._core.topology
        due = topology.due()
        if due is Refresh.NONE or not topology.claim():
            return
        if due is Refresh.WAIT:
            self._refresh(self._core.fetch_deadline(deadline))
            return
        try:
            future = self._executor().submit(self._refresh, self._core.fetch_deadline())
        except RuntimeError:  # the pool is shutting down (close() raced us)
            topology.finish(None)
            return
        future.add_done_callback(lambda f: f.cancelled() and topology.finish(None))

    def _refresh(self, deadline: float) -> None:
        """The claimed fetch: always ends it."""
        message: cluster_pb2.TopologyMessage | None = None
        datasets: list[DatasetInfo] | None = None
        try:
            message, datasets = self._fetch(deadline)
        finally:
            self._core.topology.finish(message, datasets)

    def _fetch(self, deadline: float
               ) -> tuple[cluster_pb2.TopologyMessage | None, list[DatasetInfo] | None]:
        """GetTopology (and ListDatasets alongside) from the first endpoint that answers."""
        for endpoint in self._core.fetch_plan():
            if time.monotonic() >= deadline:
                break
            listing = ops.list_datasets(None)
            pending: Future[Any] | None = None
            try:
                pending = getattr(self._stub(endpoint, "admin"), listing.method).future(
                    listing.request, timeout=max(deadline - time.monotonic(), 0.001),
                    metadata=self._core.metadata)
                message = self._attempt(ops.topology_message(), endpoint, deadline)
            except ManhattanError:
                if pending is not None:
                    pending.cancel()
                continue
            try:
                datasets = listing.parse(pending.result())
            except grpc.RpcError:
                datasets = None  # routing falls back to the default replication factor
            return message, datasets
        return None, None

    def refresh_topology(self, timeout: float | None = None) -> int:
        """Fetch the topology now; returns its epoch. Unavailable if no endpoint answers."""
        deadline = self._core.deadline(timeout)
        message, datasets = self._fetch(deadline)
        if message is None:
            raise Unavailable("no endpoint answered GetTopology")
        self._core.topology.update(message, datasets)
        return self._core.topology.epoch

    def close(self) -> None:
        """Close every channel and stop the worker threads."""
        with self._lock:
            pool, self._pool = self._pool, None
            for channel in self._channels.values():
                channel.close()
            self._channels.clear()
            self._stubs.clear()
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class Dataset:
    """Reads and writes on one dataset. Keys and values are bytes or str."""

    def __init__(self, client: Client, name: str) -> None:
        self._client = client
        self.name = name

    def get(self, pkey: ops.Key, lkey: ops.Key = b"", *,
            consistency: Consistency = Consistency.DEFAULT,
            timeout: float | None = None) -> Record | None:
        """The record at (pkey, lkey), or None."""
        return self._client.execute(ops.get(self.name, pkey, lkey, consistency), timeout)

    def put(self, pkey: ops.Key, lkey: ops.Key, value: ops.Key, *, ttl: float | None = None,
            consistency: Consistency = Consistency.DEFAULT,
            durability: Durability = Durability.DEFAULT, timeout: float | None = None) -> Version:
        """Store a value (optionally expiring after ``ttl`` seconds); returns its version."""
        return self._client.execute(
            ops.put(self.name, pkey, lkey, value, ttl, consistency, durability), timeout)

    def delete(self, pkey: ops.Key, lkey: ops.Key = b"", *,
               consistency: Consistency = Consistency.DEFAULT,
               durability: Durability = Durability.DEFAULT,
               timeout: float | None = None) -> Version:
        """Delete (pkey, lkey); returns the tombstone's version."""
        return self._client.execute(
            ops.delete(self.name, pkey, lkey, consistency, durability), timeout)

    def scan_page(self, pkey: ops.Key, *, start: ops.Key | None = None,
                  end: ops.Key | None = None, limit: int = 100, reverse: bool = False,
                  cursor: bytes | None = None, consistency: Consistency = Consistency.DEFAULT,
                  timeout: float | None = None) -> ScanPage:
        """One page of records of ``pkey`` with start <= lkey < end."""
        return self._client.execute(
            ops.scan_page(self.name, pkey, start, end, limit, reverse, cursor, consistency),
            timeout)

    def iter_scan(self, pkey: ops.Key, *, start: ops.Key | None = None,
                  end: ops.Key | None = None, reverse: bool = False, page_size: int = 100,
                  consistency: Consistency = Consistency.DEFAULT,
                  timeout: float | None = None) -> Iterator[Record]:
        """Every matching record, fetched page by page (``timeout`` is per page)."""
        cursor: bytes | None = None
        while True:
            page = self.scan_page(pkey, start=start, end=end, limit=page_size, reverse=reverse,
                                  cursor=cursor, consistency=consistency, timeout=timeout)
            yield from page.records
            if page.cursor is None:
                return
            cursor = page.cursor

    def scan(self, pkey: ops.Key, *, start: ops.Key | None = None, end: ops.Key | None = None,
             limit: int = 100, reverse: bool = False,
             consistency: Consistency = Consistency.DEFAULT,
             timeout: float | None = None) -> list[Record]:
        """Up to ``limit`` records of ``pkey`` in lkey order (descending if ``reverse``)."""
        records: list[Record] = []
        for record in self.iter_scan(pkey, start=start, end=end, reverse=reverse,
                                     page_size=min(max(limit, 1), 1000),
                                     consistency=consistency, timeout=timeout):
            if len(records) >= limit:
                break
            records.append(record)
        return records

    def get_many(self, keys: Sequence[tuple[ops.Key, ops.Key]], *,
                 consistency: Consistency = Consistency.DEFAULT,
                 timeout: float | None = None) -> list[Record | None]:
        """Records for many (pkey, lkey) pairs, in order (None where absent).

        Sent as one request per replica set, in parallel."""
        return self._client.execute(ops.get_many(self.name, keys, consistency), timeout)

    def put_many(self, items: Iterable[Put | Delete | tuple], *,
                 consistency: Consistency = Consistency.DEFAULT,
                 durability: Durability = Durability.DEFAULT,
                 timeout: float | None = None) -> list[Version]:
        """Apply puts and deletes; returns their versions in order.

        Items are grouped by the replica set of their pkey and each group is sent
        as one request, in parallel. Atomicity is per replica set: a group is
        applied all-or-nothing on each of its replicas, but different groups are
        separate requests, so if one fails (the error is raised) others may have
        been applied."""
        return self._client.execute(
            ops.put_many(self.name, items, consistency, durability), timeout)


class Admin:
    """Tenant and dataset management (needs the admin token)."""

    def __init__(self, client: Client) -> None:
        self._client = client

    def create_tenant(self, name: str, *, timeout: float | None = None) -> str:
        """Create a tenant and return its token (shown only now)."""
        return self._client.execute(ops.create_tenant(name), timeout)

    def list_tenants(self, *, timeout: float | None = None) -> list[Tenant]:
        """Every tenant."""
        return self._client.execute(ops.list_tenants(), timeout)

    def create_dataset(self, name: str, *, tenant: str, replication_factor: int = 0,
                       read_consistency: Consistency = Consistency.DEFAULT,
                       write_consistency: Consistency = Consistency.DEFAULT,
                       durability: Durability = Durability.DEFAULT,
                       default_ttl: float | None = None,
                       timeout: float | None = None) -> DatasetInfo:
        """Create a dataset owned by ``tenant`` (replication_factor 0 = cluster default)."""
        info = self._client.execute(ops.create_dataset(
            name, tenant, replication_factor, read_consistency, write_consistency, durability,
            default_ttl), timeout)
        self._client._core.learn(info)
        return info

    def list_datasets(self, tenant: str | None = None, *,
                      timeout: float | None = None) -> list[DatasetInfo]:
        """Datasets (all for the admin, or one tenant's)."""
        return self._client.execute(ops.list_datasets(tenant), timeout)

    def drop_dataset(self, name: str, *, timeout: float | None = None) -> None:
        """Drop a dataset and everything in it."""
        self._client.execute(ops.drop_dataset(name), timeout)
        self._client._core.topology.forget_dataset(name)

    def node_info(self, *, timeout: float | None = None) -> NodeInfo:
        """What the answering node says about itself."""
        return self._client.execute(ops.node_info(), timeout)

    def topology(self, *, timeout: float | None = None) -> ClusterTopology:
        """The cluster's members and their liveness, as the answering node sees them."""
        return self._client.execute(ops.topology(), timeout)

    # -- snapshots (of the answering node; `manhattan snapshot` calls every node) ------

    def create_snapshot(self, name: str, *, timeout: float | None = None) -> SnapshotInfo:
        """Checkpoint the answering node as snapshot ``name``."""
        return self._client.execute(snap.create_snapshot(name), timeout)

    def list_snapshots(self, *, timeout: float | None = None) -> list[SnapshotInfo]:
        """The answering node's snapshots, oldest first."""
        return self._client.execute(snap.list_snapshots(), timeout)

    def delete_snapshot(self, name: str, *, timeout: float | None = None) -> None:
        """Remove snapshot ``name`` from the answering node."""
        self._client.execute(snap.delete_snapshot(name), timeout)

    # -- tokens, limits, audit --------------------------------------------------------

    def create_token(self, tenant: str, *, read_only: bool = False,
                     datasets: Sequence[str] | None = None,
                     timeout: float | None = None) -> tuple[str, TokenInfo]:
        """A new token for ``tenant`` (read-only, and/or limited to some datasets);
        returns (token, info), the token shown only now."""
        return self._client.execute(gov.create_token(tenant, read_only, datasets), timeout)

    def list_tokens(self, tenant: str | None = None, *,
                    timeout: float | None = None) -> list[TokenInfo]:
        """Tenant tokens (one tenant's, or every tenant's)."""
        return self._client.execute(gov.list_tokens(tenant), timeout)

    def revoke_token(self, token_id: str, *, timeout: float | None = None) -> None:
        """Revoke a token; every node refuses it within a gossip round or two."""
        self._client.execute(gov.revoke_token(token_id), timeout)

    def rotate_token(self, token_id: str, *, grace: float = 0.0,
                     timeout: float | None = None) -> tuple[str, TokenInfo]:
        """A new token with the same scope; the old one stops after ``grace`` seconds."""
        return self._client.execute(gov.rotate_token(token_id, grace), timeout)

    def set_limits(self, *, tenant: str | None = None, dataset: str | None = None,
                   ops_per_second: float | None = None, bytes_per_second: float | None = None,
                   storage_quota_bytes: int | None = None, burst_seconds: float | None = None,
                   timeout: float | None = None) -> Limits:
        """Change a tenant's or a dataset's limits (None keeps a field; 0 removes a limit)."""
        return self._client.execute(gov.set_limits(
            tenant=tenant, dataset=dataset, ops_per_second=ops_per_second,
            bytes_per_second=bytes_per_second, storage_quota_bytes=storage_quota_bytes,
            burst_seconds=burst_seconds), timeout)

    def describe_tenant(self, name: str, *, timeout: float | None = None) -> TenantDescription:
        """A tenant with its limits, its datasets' limits and its tokens."""
        return self._client.execute(gov.describe_tenant(name), timeout)

    def audit_log(self, *, limit: int = 100, since_ms: int = 0,
                  timeout: float | None = None) -> list[AuditEntry]:
        """Admin actions of every reachable node, merged, newest first."""
        client = self._client
        op = gov.list_audit(limit, since_ms)
        deadline = client._core.deadline(timeout)
        try:
            client.refresh_topology(timeout=max(deadline - time.monotonic(), 0.001) / 2)
        except ManhattanError:
            pass  # the seeds alone still answer
        logs = []
        for endpoint in client._core.known_endpoints():
            try:
                logs.append(client._attempt(op, endpoint, deadline))
            except Unavailable:
                continue  # a node that is down keeps its log for later
        return gov.merge_audit(logs, limit)
