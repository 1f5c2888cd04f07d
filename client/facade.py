"""``Dataset`` and ``Admin``, written once for the blocking and the asyncio client.

Every method builds its Operation (``operations``, ``governance``, ``snapshots``)
and hands it to the client's transport, which sends it and returns the result
(``Client``) or a coroutine of it (``AsyncClient``); a scan goes as a pager, an
audit as one operation to every node. So a method here is written once and the
two facades cannot drift apart. Result types are in each docstring (``-> T``):
the value itself, or what awaiting the call gives.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any, Protocol, TypeVar

from manhattan.client import governance as gov
from manhattan.client import operations as ops
from manhattan.client import snapshots as snap
from manhattan.client.conditional import ConditionalWrite
from manhattan.client.core import ClientCore
from manhattan.client.models import DatasetInfo, Delete, Put, Record, Version
from manhattan.types import Consistency, Durability

T = TypeVar("T")


class Transport(Protocol):
    """What a client gives its facades: four ways to send (blocking or awaitable)."""

    _core: ClientCore

    def _run(self, op: ops.Operation[T], timeout: float | None,
             then: Callable[[T], Any] | None = None) -> Any:
        """Send ``op`` (retrying as the policy allows); ``then`` maps its result."""

    def _stream(self, pager: ops.ScanPager, timeout: float | None) -> Any:
        """An iterator (or async iterator) over the pager's records."""

    def _gather(self, pager: ops.ScanPager, timeout: float | None) -> Any:
        """Every record of the pager, as a list."""

    def _broadcast(self, op: ops.Operation[T], timeout: float | None,
                   then: Callable[[list[T]], Any]) -> Any:
        """``op`` to every reachable node; ``then`` merges their answers."""

    def _conditional(self, write: ConditionalWrite, timeout: float | None) -> Any:
        """A conditional write, an unknown outcome settled by a sealing re-read."""

    def _serial_get(self, op: ops.Operation[Record | None], timeout: float | None) -> Any:
        """A SERIAL get: coordinated by the client in one hop when the replicas' answers
        settle it (``serial_read.py``), else ``op`` through a coordinator."""


class DatasetOps:
    """Reads and writes on one dataset. Keys and values are bytes or str."""

    def __init__(self, client: Transport, name: str) -> None:
        self._client = client
        self.name = name

    def get(self, pkey: ops.Key, lkey: ops.Key = b"", *,
            consistency: Consistency = Consistency.DEFAULT,
            timeout: float | None = None) -> Any:
        """The record at (pkey, lkey), or None. -> Record | None

        At ``Consistency.SERIAL`` a linearizable read (it completes a conditional write
        in progress on the key first)."""
        op = ops.get(self.name, pkey, lkey, consistency)
        if consistency == Consistency.SERIAL:
            return self._client._serial_get(op, timeout)
        return self._client._run(op, timeout)

    def put(self, pkey: ops.Key, lkey: ops.Key, value: ops.Key, *, ttl: float | None = None,
            consistency: Consistency = Consistency.DEFAULT,
            durability: Durability = Durability.DEFAULT, timeout: float | None = None,
            if_version: Version | Record | None = None, if_absent: bool = False) -> Any:
        """Store a value (optionally expiring after ``ttl`` seconds). -> Version

        ``if_version`` (the version a read returned) or ``if_absent=True`` make it a
        compare-and-set at SERIAL: applied only if the key's current record has that
        version (or there is none), else ``ConditionFailed`` carrying the current record.
        ``consistency=Consistency.SERIAL`` alone is an unconditional linearizable write."""
        if if_version is not None or if_absent or consistency == Consistency.SERIAL:
            return self._client._conditional(ConditionalWrite(
                self.name, pkey, lkey, value, ttl=ttl, if_version=if_version,
                if_absent=if_absent, consistency=consistency, durability=durability), timeout)
        return self._client._run(
            ops.put(self.name, pkey, lkey, value, ttl, consistency, durability), timeout)

    def delete(self, pkey: ops.Key, lkey: ops.Key = b"", *,
               consistency: Consistency = Consistency.DEFAULT,
               durability: Durability = Durability.DEFAULT,
               timeout: float | None = None, if_version: Version | Record | None = None) -> Any:
        """Delete (pkey, lkey). -> Version (of the tombstone)

        With ``if_version`` (or at SERIAL) a conditional delete: see ``put``."""
        if if_version is not None or consistency == Consistency.SERIAL:
            return self._client._conditional(ConditionalWrite(
                self.name, pkey, lkey, None, ttl=None, if_version=if_version, if_absent=False,
                consistency=consistency, durability=durability), timeout)
        return self._client._run(
            ops.delete(self.name, pkey, lkey, consistency, durability), timeout)

    def scan_page(self, pkey: ops.Key, *, start: ops.Key | None = None,
                  end: ops.Key | None = None, limit: int = 100, reverse: bool = False,
                  cursor: bytes | None = None, consistency: Consistency = Consistency.DEFAULT,
                  timeout: float | None = None) -> Any:
        """One page of records of ``pkey`` with start <= lkey < end. -> ScanPage"""
        return self._client._run(
            ops.scan_page(self.name, pkey, start, end, limit, reverse, cursor, consistency),
            timeout)

    def iter_scan(self, pkey: ops.Key, *, start: ops.Key | None = None,
                  end: ops.Key | None = None, reverse: bool = False, page_size: int = 100,
                  consistency: Consistency = Consistency.DEFAULT,
                  timeout: float | None = None) -> Any:
        """Every matching record, fetched page by page (``timeout`` is per page).
        -> Iterator[Record] (AsyncIterator on the asyncio client)"""
        return self._client._stream(ops.ScanPager(
            self.name, pkey, start=start, end=end, reverse=reverse, page_size=page_size,
            consistency=consistency), timeout)

    def scan(self, pkey: ops.Key, *, start: ops.Key | None = None, end: ops.Key | None = None,
             limit: int = 100, reverse: bool = False,
             consistency: Consistency = Consistency.DEFAULT,
             timeout: float | None = None) -> Any:
        """Up to ``limit`` records of ``pkey`` in lkey order (descending if ``reverse``).
        -> list[Record]"""
        return self._client._gather(ops.ScanPager(
            self.name, pkey, start=start, end=end, reverse=reverse,
            page_size=min(max(limit, 1), 1000), consistency=consistency, limit=limit), timeout)

    def get_many(self, keys: Sequence[tuple[ops.Key, ops.Key]], *,
                 consistency: Consistency = Consistency.DEFAULT,
                 timeout: float | None = None) -> Any:
        """Records for many (pkey, lkey) pairs, in order (None where absent).
        -> list[Record | None]

        Sent as one request per replica set, in parallel; when any part fails, one
        ``MultiPartError`` carries every part's outcome."""
        return self._client._run(ops.get_many(self.name, keys, consistency), timeout)

    def put_many(self, items: Iterable[Put | Delete | tuple], *,
                 consistency: Consistency = Consistency.DEFAULT,
                 durability: Durability = Durability.DEFAULT,
                 timeout: float | None = None) -> Any:
        """Apply puts and deletes; returns their versions in order. -> list[Version]

        Items are grouped by the replica set of their pkey and each group is sent
        as one request, in parallel. Atomicity is per replica set: a group is
        applied all-or-nothing on each of its replicas, but groups are separate
        requests. When any fails, one ``MultiPartError`` says what happened to each
        part (a ``Timeout`` if any part's outcome is unknown)."""
        return self._client._run(
            ops.put_many(self.name, items, consistency, durability), timeout)

    def trim(self, pkey: ops.Key, keep: int, *, start: ops.Key | None = None,
             end: ops.Key | None = None, consistency: Consistency = Consistency.DEFAULT,
             durability: Durability = Durability.DEFAULT, timeout: float | None = None) -> Any:
        """Keep the ``keep`` records of highest lkey of ``pkey`` (in [start, end)) and
        delete the rest: a capped list, such as a timeline. Each replica trims what it
        holds, with tombstones of one version: records written after the trim are never
        deleted, and a replica that missed it converges by repair. -> TrimResult"""
        return self._client._run(
            ops.trim(self.name, pkey, keep, start, end, consistency, durability), timeout)


    # -- counter datasets (kind="counter") --------------------------------------

    def add(self, pkey: ops.Key, lkey: ops.Key = b"", delta: int = 1, *,
            op_id: ops.Key | None = None, consistency: Consistency = Consistency.DEFAULT,
            durability: Durability = Durability.DEFAULT, timeout: float | None = None) -> Any:
        """Add ``delta`` (negative: subtract) to a counter, counted once per ``op_id``
        (one is made when None and reused by this call's own retries; pass the same one
        to retry a call whose outcome you do not know). -> CounterAdded"""
        return self._client._run(ops.counter_add(
            self.name, pkey, lkey, delta, op_id, consistency, durability), timeout)

    def counter(self, pkey: ops.Key, lkey: ops.Key = b"", *,
                consistency: Consistency = Consistency.DEFAULT,
                timeout: float | None = None) -> Any:
        """A counter's value: the replicas asked, merged (0 if never added to). -> int"""
        return self._client._run(ops.counter_get(self.name, pkey, lkey, consistency), timeout)


class AdminOps:
    """Tenant and dataset management (needs the admin token)."""

    def __init__(self, client: Transport) -> None:
        self._client = client

    def create_tenant(self, name: str, *, timeout: float | None = None) -> Any:
        """Create a tenant and return its token (shown only now). -> str"""
        return self._client._run(ops.create_tenant(name), timeout)

    def list_tenants(self, *, timeout: float | None = None) -> Any:
        """Every tenant. -> list[Tenant]"""
        return self._client._run(ops.list_tenants(), timeout)

    def create_dataset(self, name: str, *, tenant: str, replication_factor: int = 0,
                       read_consistency: Consistency = Consistency.DEFAULT,
                       write_consistency: Consistency = Consistency.DEFAULT,
                       durability: Durability = Durability.DEFAULT,
                       default_ttl: float | None = None, kind: str = "kv",
                       timeout: float | None = None) -> Any:
        """Create a dataset owned by ``tenant`` (replication_factor 0 = cluster default;
        ``kind``: "kv" for records, "counter" for 64-bit counters). -> DatasetInfo"""
        return self._client._run(ops.create_dataset(
            name, tenant, replication_factor, read_consistency, write_consistency, durability,
            default_ttl, kind), timeout, self._learned)

    def _learned(self, info: DatasetInfo) -> DatasetInfo:
        self._client._core.learn(info)
        return info

    def list_datasets(self, tenant: str | None = None, *,
                      timeout: float | None = None) -> Any:
        """Datasets (all for the admin, or one tenant's). -> list[DatasetInfo]"""
        return self._client._run(ops.list_datasets(tenant), timeout)

    def drop_dataset(self, name: str, *, tenant: str | None = None,
                     timeout: float | None = None) -> Any:
        """Drop a dataset and everything in it (``tenant``: its owner; dataset names are
        per tenant, so it is needed when several tenants own ``name``). -> None"""
        return self._client._run(ops.drop_dataset(name, tenant), timeout,
                                 lambda _: self._client._core.topology.forget_dataset(name))

    def drop_tenant(self, name: str, *, timeout: float | None = None) -> Any:
        """Drop a tenant: its tokens stop working, its datasets and limits are gone; a
        tenant created again under the name is a new one. -> list[DatasetInfo]"""
        return self._client._run(ops.drop_tenant(name), timeout)

    def node_info(self, *, timeout: float | None = None) -> Any:
        """What the answering node says about itself. -> NodeInfo"""
        return self._client._run(ops.node_info(), timeout)

    def topology(self, *, timeout: float | None = None) -> Any:
        """The cluster's members and their liveness, as the answering node sees them.
        -> ClusterTopology"""
        return self._client._run(ops.topology(), timeout)

    # -- snapshots (of the answering node; `manhattan snapshot` calls every node) ------

    def create_snapshot(self, name: str, *, timeout: float | None = None) -> Any:
        """Checkpoint the answering node as snapshot ``name``. -> SnapshotInfo"""
        return self._client._run(snap.create_snapshot(name), timeout)

    def list_snapshots(self, *, timeout: float | None = None) -> Any:
        """The answering node's snapshots, oldest first. -> list[SnapshotInfo]"""
        return self._client._run(snap.list_snapshots(), timeout)

    def delete_snapshot(self, name: str, *, timeout: float | None = None) -> Any:
        """Remove snapshot ``name`` from the answering node. -> None"""
        return self._client._run(snap.delete_snapshot(name), timeout)

    # -- tokens, limits, audit --------------------------------------------------------

    def create_token(self, tenant: str, *, read_only: bool = False,
                     datasets: Sequence[str] | None = None,
                     timeout: float | None = None) -> Any:
        """A new token for ``tenant`` (read-only, and/or limited to some datasets),
        the token shown only now. -> tuple[str, TokenInfo]"""
        return self._client._run(gov.create_token(tenant, read_only, datasets), timeout)

    def list_tokens(self, tenant: str | None = None, *,
                    timeout: float | None = None) -> Any:
        """Tenant tokens (one tenant's, or every tenant's). -> list[TokenInfo]"""
        return self._client._run(gov.list_tokens(tenant), timeout)

    def revoke_token(self, token_id: str, *, timeout: float | None = None) -> Any:
        """Revoke a token; every node that reaches the metadata majority refuses it within
        about a second (see docs/metadata.md). -> None"""
        return self._client._run(gov.revoke_token(token_id), timeout)

    def rotate_token(self, token_id: str, *, grace: float = 0.0,
                     timeout: float | None = None) -> Any:
        """A new token with the same scope; the old one stops after ``grace`` seconds.
        -> tuple[str, TokenInfo]"""
        return self._client._run(gov.rotate_token(token_id, grace), timeout)

    def set_limits(self, *, tenant: str | None = None, dataset: str | None = None,
                   ops_per_second: float | None = None, bytes_per_second: float | None = None,
                   storage_quota_bytes: int | None = None, burst_seconds: float | None = None,
                   timeout: float | None = None) -> Any:
        """Change a tenant's limits (``tenant`` alone) or a dataset's (``dataset``, and
        ``tenant`` its owner when several tenants own the name); None keeps a field, 0
        removes a limit. -> Limits"""
        return self._client._run(gov.set_limits(
            tenant=tenant, dataset=dataset, ops_per_second=ops_per_second,
            bytes_per_second=bytes_per_second, storage_quota_bytes=storage_quota_bytes,
            burst_seconds=burst_seconds), timeout)

    def describe_tenant(self, name: str, *, timeout: float | None = None) -> Any:
        """A tenant with its limits, its datasets' limits and its tokens.
        -> TenantDescription"""
        return self._client._run(gov.describe_tenant(name), timeout)

    def audit_log(self, *, limit: int = 100, since_ms: int = 0,
                  timeout: float | None = None) -> Any:
        """Admin actions of every reachable node, merged, newest first.
        -> list[AuditEntry]"""
        return self._client._broadcast(gov.list_audit(limit, since_ms), timeout,
                                       lambda logs: gov.merge_audit(logs, limit))


__all__ = ["AdminOps", "DatasetOps", "Transport"]
