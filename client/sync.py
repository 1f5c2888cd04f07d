"""The blocking client: ``Client(endpoints, token=...)``."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, TypeVar

import grpc
from tenacity import Retrying

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


class Client:
    """A blocking Manhattan client; use as a context manager or call ``close()``."""

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
        self._lock = threading.Lock()
        self._channels: dict[str, grpc.Channel] = {}
        self._stubs: dict[tuple[str, str], Any] = {}
        self.admin = Admin(self)

    def dataset(self, name: str) -> "Dataset":
        """A handle on one dataset."""
        return Dataset(self, name)

    def _stub(self, endpoint: str, service: str) -> Any:
        stub = self._stubs.get((endpoint, service))
        if stub is None:
            with self._lock:
                channel = self._channels.get(endpoint)
                if channel is None:
                    channel = grpc.insecure_channel(endpoint, options=CHANNEL_OPTIONS)
                    self._channels[endpoint] = channel
                stub = self._stubs[(endpoint, service)] = _STUBS[service](channel)
        return stub

    def _attempt(self, op: ops.Operation[T], endpoint: str, deadline: float) -> T:
        remaining = self._core.remaining(deadline, op)
        method = getattr(self._stub(endpoint, op.service), op.method)
        try:
            response = method(op.request, timeout=remaining, metadata=self._core.metadata)
        except grpc.RpcError as exc:
            raise from_rpc_error(exc) from None
        return op.parse(response)

    def execute(self, op: ops.Operation[T], timeout: float | None = None) -> T:
        """Send one operation: first try straight away, then retry as the policy allows."""
        deadline = self._core.deadline(timeout)
        plan = self._core.routing.query_plan(op)
        try:
            return self._attempt(op, plan[0], deadline)
        except ManhattanError as exc:
            if not is_retryable(exc, op):
                raise
        for attempt in Retrying(**self._core.retry_args(op, deadline)):
            with attempt:
                number = attempt.retry_state.attempt_number + 1
                return self._attempt(op, self._core.endpoint_for(plan, number), deadline)
        raise AssertionError("unreachable: tenacity reraises")  # pragma: no cover

    def close(self) -> None:
        """Close every channel."""
        with self._lock:
            for channel in self._channels.values():
                channel.close()
            self._channels.clear()
            self._stubs.clear()

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
        """Records for many (pkey, lkey) pairs, in order (None where absent)."""
        return self._client.execute(ops.get_many(self.name, keys, consistency), timeout)

    def put_many(self, items: Iterable[Put | Delete | tuple], *,
                 consistency: Consistency = Consistency.DEFAULT,
                 durability: Durability = Durability.DEFAULT,
                 timeout: float | None = None) -> list[Version]:
        """Apply puts and deletes as one batch (atomic on each node)."""
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
        return self._client.execute(ops.create_dataset(
            name, tenant, replication_factor, read_consistency, write_consistency, durability,
            default_ttl), timeout)

    def list_datasets(self, tenant: str | None = None, *,
                      timeout: float | None = None) -> list[DatasetInfo]:
        """Datasets (all for the admin, or one tenant's)."""
        return self._client.execute(ops.list_datasets(tenant), timeout)

    def drop_dataset(self, name: str, *, timeout: float | None = None) -> None:
        """Drop a dataset and everything in it."""
        self._client.execute(ops.drop_dataset(name), timeout)

    def node_info(self, *, timeout: float | None = None) -> NodeInfo:
        """What the answering node says about itself."""
        return self._client.execute(ops.node_info(), timeout)

    def topology(self, *, timeout: float | None = None) -> ClusterTopology:
        """The cluster's members and their liveness, as the answering node sees them."""
        return self._client.execute(ops.topology(), timeout)
