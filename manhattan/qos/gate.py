"""Admission on the request path: rate limits and storage quotas, checked before any work.

The gate runs right after the token is verified and the dataset authorised, so a
request over its tenant's limit costs a few dict lookups and a subtraction, and
is answered RESOURCE_EXHAUSTED with ``retry-after`` (seconds) in the trailing
metadata. Nothing has been read, written or replicated for it.

Rates are cluster-wide; each node grants its share, rate / owning members, so
a client that spreads its requests over the cluster (as the SDK does) is served
at most the limit plus the burst in all, and never more.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from manhattan.errors import QuotaExceeded
from manhattan.qos.bucket import TokenBucket
from manhattan.tenancy.catalog import dataset_name
from manhattan.tenancy.limits import Limits, LimitStore

MIN_RETRY_AFTER = 0.001
QUOTA_RETRY_AFTER = 5.0
"""What to tell a writer over its storage quota: space frees only when it deletes."""
SHARE_TTL = 0.5


def _shown(name: str) -> str:
    """A tenant, or a dataset by its name: callers know datasets by name, the gate
    (and its buckets and quotas) by storage id, unique per incarnation."""
    return dataset_name(name)


class StorageMeter:
    """Estimated bytes of each dataset (one copy), cached for ``ttl`` seconds."""

    def __init__(self, dataset_bytes: Callable[[str], int], *,
                 nodes: Callable[[], int] = lambda: 1, ttl: float = 0.1,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._dataset_bytes = dataset_bytes
        self._nodes = nodes
        self._ttl = ttl
        self._clock = clock
        self._cache: dict[str, tuple[float, int]] = {}

    def dataset(self, name: str, replication_factor: int) -> int:
        """One copy's bytes, estimated from this node's share (local x nodes / RF)."""
        now = self._clock()
        cached = self._cache.get(name)
        if cached is not None and now - cached[0] < self._ttl:
            return cached[1]
        local = self._dataset_bytes(name)
        nodes = max(self._nodes(), 1)
        estimate = local * max(nodes, replication_factor) // max(replication_factor, 1)
        self._cache[name] = (now, estimate)
        return estimate

    def admitted(self, name: str, nbytes: int) -> None:
        """A write adding ``nbytes`` (one copy) was let through: counted in the cached
        estimate at once, so writes that come faster than it is refreshed cannot pass
        the quota by more than RocksDB's own rounding."""
        cached = self._cache.get(name)
        if cached is not None:
            self._cache[name] = (cached[0], cached[1] + nbytes)


class QosGate:
    """Token buckets per tenant and per dataset (by storage id), and storage quota checks."""

    def __init__(self, limits: LimitStore, *, nodes: Callable[[], int] = lambda: 1,
                 meter: StorageMeter | None = None,
                 datasets_of: Callable[[str], list[tuple[str, int]]] = lambda tenant: [],
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._limits = limits
        self._nodes = nodes
        self._meter = meter
        self._datasets_of = datasets_of
        self._clock = clock
        self._buckets: dict[tuple[str, str, str], TokenBucket] = {}
        self._share = (-1.0, 1.0)  # (when computed, 1 / live nodes)
        self.rejected = 0
        """Requests refused by this gate since start (for introspection)."""

    def _node_share(self) -> float:
        """This node's share of a cluster-wide rate, recomputed at most twice a second."""
        now = self._clock()
        stamp, share = self._share
        if now - stamp > SHARE_TTL or stamp < 0:
            share = 1.0 / max(self._nodes(), 1)
            self._share = (now, share)
        return share

    def _bucket(self, key: tuple[str, str, str], capacity: float) -> TokenBucket:
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = TokenBucket(capacity, self._clock)
        return bucket

    def _plan(self, kind: str, name: str, limits: Limits, ops: float, nbytes: float,
              share: float, plan: list[tuple[TokenBucket, float, str, float]]) -> None:
        for metric, rate, cost in (("ops", limits.ops_per_second, ops),
                                   ("bytes", limits.bytes_per_second, nbytes)):
            if rate and cost:
                node_rate = rate * share
                capacity = max(node_rate * limits.burst_seconds, 1e-9)
                bucket = self._bucket((kind, name, metric), capacity)
                wait = bucket.wait_time(cost, node_rate, capacity)
                plan.append((bucket, cost, f"{kind} {_shown(name)!r} {metric}/s limit {rate:g}",
                             wait))

    def admit(self, tenant: str, dataset: str, replication_factor: int, *, ops: int,
              nbytes: int, grows: bool) -> None:
        """Spend ``ops`` and ``nbytes`` from the tenant's and dataset's buckets, or raise
        QuotaExceeded (spending nothing) with the wait in ``details['retry-after']``.
        ``grows``: the request adds data, so storage quotas apply."""
        tenant_limits = self._limits.tenant(tenant)
        dataset_limits = self._limits.dataset(dataset)
        if tenant_limits.unlimited and dataset_limits.unlimited:
            return
        share = self._node_share()
        plan: list[tuple[TokenBucket, float, str, float]] = []
        self._plan("tenant", tenant, tenant_limits, ops, nbytes, share, plan)
        self._plan("dataset", dataset, dataset_limits, ops, nbytes, share, plan)
        worst = max(plan, key=lambda p: p[3], default=None)
        if worst is not None and worst[3] > 0:
            self.rejected += 1
            wait = max(worst[3], MIN_RETRY_AFTER)
            raise QuotaExceeded(f"over the {worst[2]}; retry after {wait:.3f}s",
                                details={"retry-after": f"{wait:.3f}"})
        if grows:
            self._check_storage(tenant, dataset, replication_factor, tenant_limits,
                                dataset_limits)
            if self._meter is not None:
                self._meter.admitted(dataset, nbytes)
        for bucket, cost, _, _ in plan:
            bucket.spend(cost)

    def _check_storage(self, tenant: str, dataset: str, replication_factor: int,
                       tenant_limits: Limits, dataset_limits: Limits) -> None:
        meter = self._meter
        if meter is None:
            return
        if dataset_limits.storage_quota_bytes:
            used = meter.dataset(dataset, replication_factor)
            if used >= dataset_limits.storage_quota_bytes:
                self._over_quota("dataset", dataset, used, dataset_limits.storage_quota_bytes)
        if tenant_limits.storage_quota_bytes:
            used = sum(meter.dataset(name, rf) for name, rf in self._datasets_of(tenant))
            if used >= tenant_limits.storage_quota_bytes:
                self._over_quota("tenant", tenant, used, tenant_limits.storage_quota_bytes)

    def _over_quota(self, kind: str, name: str, used: int, quota: int) -> None:
        self.rejected += 1
        raise QuotaExceeded(
            f"{kind} {_shown(name)!r} stores about {used} bytes, at its storage quota of {quota}; "
            "delete data or raise the quota",
            details={"retry-after": f"{QUOTA_RETRY_AFTER:.3f}"})

    def charge(self, tenant: str, dataset: str, nbytes: int) -> None:
        """Spend bytes already served (a read's answer): slows what follows, refuses nothing."""
        if not nbytes:
            return
        for kind, name in (("tenant", tenant), ("dataset", dataset)):
            bucket = self._buckets.get((kind, name, "bytes"))
            if bucket is not None:
                bucket.spend(nbytes)
