"""Prometheus metrics of one node, served over HTTP on ``/metrics``.

Every metric object of a node lives on one ``NodeMetrics`` with its own
registry (never prometheus_client's global one), so several nodes can share a
process in tests and a node exposes only its own figures. Code that measures
something is handed the node's ``NodeMetrics`` and sets or increments one of
its attributes; figures that already live elsewhere (hints, read repairs,
RocksDB properties) are read at scrape time by ``StateCollector`` rather than
mirrored on every change.

Per-request figures (``manhattan_requests``, ``manhattan_request_duration_seconds``,
``manhattan_tenant_operations``) are plain Python counters that ``RequestCollector``
publishes at scrape time: a request costs a few increments, not three locked
prometheus_client updates.

Anti-entropy and range streaming report through the ``antientropy_*`` and
``streaming_*`` attributes; ``NodeInfo`` (and so ``manhattan status``) reads
them back with ``repair_state()`` / ``streaming_state()``.
"""

from __future__ import annotations

import time
from bisect import bisect_left
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)

from manhattan.tenancy.catalog import dataset_name

# gRPC calls on loopback take ~0.2-1 ms; fan-out and fsync push the tail to tens of ms.
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
                   2.5, 5.0, 10.0)
RATE_WINDOW_S = 60.0


class RequestRate:
    """Requests per second over about the last minute, from a running total.

    Samples the total at most once a second when a request is counted, so it costs
    nothing on an idle node and needs no background task.
    """

    def __init__(self, window_s: float = RATE_WINDOW_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._window = window_s
        self._clock = clock
        self._samples: deque[tuple[float, int]] = deque(maxlen=int(window_s) + 2)
        self._samples.append((clock(), 0))

    def tick(self, total: int, now: float) -> None:
        """Note the running total; keeps one sample per second."""
        if now - self._samples[-1][0] >= 1.0:
            self._samples.append((now, total))

    def per_second(self, total: int) -> float:
        """The average rate since the oldest sample inside the window (or the newest
        sample before it, on a node that was idle for longer than the window)."""
        now = self._clock()
        samples = list(self._samples)
        base = samples[-1]
        for sample in samples:
            if now - sample[0] <= self._window:
                base = sample
                break
        elapsed = now - base[0]
        return (total - base[1]) / elapsed if elapsed > 0 else 0.0


class _Latencies:
    """One method's latency histogram: per-bucket counts (last: +Inf) and the sum."""

    __slots__ = ("buckets", "total")

    def __init__(self) -> None:
        self.buckets = [0] * (len(LATENCY_BUCKETS) + 1)
        self.total = 0.0


def _counter(name: str, documentation: str, labels: list[str],
             counts: dict[tuple[str, str], int]) -> CounterMetricFamily:
    """One counter family from plain counts keyed by its label values."""
    family = CounterMetricFamily(name, documentation, labels=labels)
    for key, count in sorted(counts.items()):
        family.add_metric(list(key), count)
    return family


class RequestCollector:
    """Request counts, latencies and per-tenant operations, counted with plain
    increments on the event loop and turned into metric families at scrape time
    (from the HTTP thread: it copies each dict before walking it)."""

    def __init__(self) -> None:
        self.counts: dict[tuple[str, str], int] = {}  # (method, code) -> requests
        self.latencies: dict[str, _Latencies] = {}  # method -> histogram
        self.tenant_ops: dict[tuple[str, str], int] = {}  # (tenant, method) -> requests
        # Per tenant: a dashboard shows who is being refused, not only that someone is.
        self.tenant_refusals: dict[tuple[str, str], int] = {}  # RESOURCE_EXHAUSTED answers

    def observe(self, method: str, code: str, seconds: float, tenant: str | None) -> None:
        """Count one answered request."""
        key = (method, code)
        self.counts[key] = self.counts.get(key, 0) + 1
        latencies = self.latencies.get(method)
        if latencies is None:
            latencies = self.latencies[method] = _Latencies()
        latencies.buckets[bisect_left(LATENCY_BUCKETS, seconds)] += 1
        latencies.total += seconds
        if tenant is not None:
            op = (tenant, method)
            self.tenant_ops[op] = self.tenant_ops.get(op, 0) + 1
            if code == "RESOURCE_EXHAUSTED":
                self.tenant_refusals[op] = self.tenant_refusals.get(op, 0) + 1

    def describe(self) -> Iterable[Metric]:
        """The families, so a registry sees the names as taken."""
        return self._families({}, {}, {}, {})

    def collect(self) -> Iterable[Metric]:
        """The families as of now."""
        return self._families(dict(self.counts), dict(self.latencies), dict(self.tenant_ops),
                              dict(self.tenant_refusals))

    @staticmethod
    def _families(counts: dict[tuple[str, str], int], latencies: dict[str, _Latencies],
                  tenant_ops: dict[tuple[str, str], int],
                  tenant_refusals: dict[tuple[str, str], int]) -> list[Metric]:
        requests = _counter("manhattan_requests",
                            "gRPC requests answered, by method and status code.",
                            ["method", "code"], counts)
        duration = HistogramMetricFamily(
            "manhattan_request_duration_seconds", "Time to answer a gRPC request, by method.",
            labels=["method"])
        bounds = [str(float(b)) for b in LATENCY_BUCKETS] + ["+Inf"]
        for method, histogram in sorted(latencies.items()):
            running, cumulative = 0, []
            for bound, count in zip(bounds, list(histogram.buckets)):
                running += count
                cumulative.append((bound, running))
            duration.add_metric([method], cumulative, histogram.total)
        tenants = _counter("manhattan_tenant_operations",
                           "Requests per tenant and operation (the method).",
                           ["tenant", "op"], tenant_ops)
        refusals = _counter(
            "manhattan_tenant_refusals",
            "Requests refused for a tenant's rate limit or storage quota (RESOURCE_EXHAUSTED), "
            "by tenant and operation.", ["tenant", "op"], tenant_refusals)
        return [requests, duration, tenants, refusals]


@dataclass(frozen=True, slots=True)
class RepairState:
    """What NodeInfo reports about anti-entropy on a node."""

    running: bool
    progress: float
    keys_compared: int
    ranges_differing: int
    records_exchanged: int
    last_completed_ms: int


@dataclass(frozen=True, slots=True)
class StreamingState:
    """What NodeInfo reports about range streaming (joins, decommissions) on a node."""

    active_transfers: int
    progress: float
    records: int
    bytes: int


class NodeMetrics:
    """The metric objects of one node, all registered on ``self.registry``.

    Updated from the node's event loop; read by the HTTP server's thread (the
    metric objects lock internally).
    """

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        registry = self.registry
        self.requests = RequestCollector()
        registry.register(self.requests)
        self.replica_write_duration = Histogram(
            "manhattan_replica_write_duration_seconds",
            "Time from sending a write to a peer replica until it acknowledged, including "
            "replicas that finish after the client was answered: the replication lag.",
            ["peer"], buckets=LATENCY_BUCKETS, registry=registry)
        # Anti-entropy: set by the repair code (background passes and `manhattan repair`).
        self.antientropy_running = Gauge(
            "manhattan_antientropy_running", "1 while an anti-entropy pass runs on this node.",
            registry=registry)
        self.antientropy_progress = Gauge(
            "manhattan_antientropy_progress_ratio",
            "Fraction (0..1) of the current anti-entropy pass's ranges compared.",
            registry=registry)
        self.antientropy_keys_compared = Counter(
            "manhattan_antientropy_keys_compared", "Keys compared by anti-entropy.",
            registry=registry)
        self.antientropy_ranges_differing = Counter(
            "manhattan_antientropy_ranges_differing",
            "Ranges whose hash differed between replicas.", registry=registry)
        self.antientropy_records_exchanged = Counter(
            "manhattan_antientropy_records_exchanged",
            "Records sent or received by anti-entropy to converge replicas.", registry=registry)
        self.antientropy_last_completed = Gauge(
            "manhattan_antientropy_last_completed_timestamp_seconds",
            "Unix time the last anti-entropy pass completed (0: never).", registry=registry)
        # Range streaming: set by the membership-change code (joins, decommissions).
        self.streaming_active = Gauge(
            "manhattan_streaming_active_transfers",
            "Range transfers under way, by direction (in: receiving, out: sending).",
            ["direction"], registry=registry)
        self.streaming_progress = Gauge(
            "manhattan_streaming_progress_ratio",
            "Fraction (0..1) of the current transfers done, by direction.",
            ["direction"], registry=registry)
        self.streaming_records = Counter(
            "manhattan_streaming_records", "Records streamed, by direction.",
            ["direction"], registry=registry)
        self.streaming_bytes = Counter(
            "manhattan_streaming_bytes", "Bytes streamed, by direction.",
            ["direction"], registry=registry)
        for direction in ("in", "out"):  # present (at 0) before the first transfer
            for family in (self.streaming_active, self.streaming_progress,
                           self.streaming_records, self.streaming_bytes):
                family.labels(direction)
        # The clock (set_function by the node): drift against peers, refusals.
        self.clock_ahead = Gauge(
            "manhattan_clock_ahead_ms",
            "How far this node's wall clock runs ahead of the median of its peers'.",
            registry=registry)
        self.clock_refusing_writes = Gauge(
            "manhattan_clock_refusing_writes",
            "1 while this node refuses to coordinate writes: its clock runs too far ahead.",
            registry=registry)
        self.timestamps_refused = Gauge(
            "manhattan_timestamps_refused",
            "Versions refused since start for being too far ahead of this node's clock.",
            registry=registry)
        self.total_requests = 0
        self.rate = RequestRate()

    def observe_request(self, method: str, code: str, seconds: float,
                        tenant: str | None) -> None:
        """Count one answered request (called once per request, by the rpc layer)."""
        self.requests.observe(method, code, seconds, tenant)
        self.total_requests += 1
        self.rate.tick(self.total_requests, time.monotonic())

    def observe_replica_write(self, peer: int, seconds: float) -> None:
        """A peer replica acknowledged a write after ``seconds``."""
        self.replica_write_duration.labels(str(peer)).observe(seconds)

    def requests_per_second(self) -> float:
        """Requests answered per second over about the last minute."""
        return self.rate.per_second(self.total_requests)

    def repair_state(self) -> RepairState:
        """Anti-entropy figures, as NodeInfo reports them."""
        last = _value(self.antientropy_last_completed)
        return RepairState(
            running=_value(self.antientropy_running) > 0,
            progress=_value(self.antientropy_progress),
            keys_compared=int(_value(self.antientropy_keys_compared)),
            ranges_differing=int(_value(self.antientropy_ranges_differing)),
            records_exchanged=int(_value(self.antientropy_records_exchanged)),
            last_completed_ms=int(last * 1000))

    def streaming_state(self) -> StreamingState:
        """Streaming figures (both directions together), as NodeInfo reports them."""
        active = _value(self.streaming_active)
        progress = [v for labels, v in _samples(self.streaming_progress)
                    if _value(self.streaming_active, labels) > 0]
        return StreamingState(
            active_transfers=int(active),
            progress=min(progress) if progress else 0.0,
            records=int(_value(self.streaming_records)),
            bytes=int(_value(self.streaming_bytes)))


def _samples(metric: Any) -> Iterator[tuple[dict[str, str], float]]:
    """(labels, value) of a metric's main samples (``_total`` for counters)."""
    for family in metric.collect():
        for sample in family.samples:
            if sample.name.endswith(("_created", "_bucket", "_count", "_sum")):
                continue
            yield sample.labels, sample.value


def _value(metric: Any, labels: Mapping[str, str] | None = None) -> float:
    """The sum of a metric's samples (over every label set, or the given one)."""
    return sum(v for found, v in _samples(metric) if labels is None or found == labels)


class HintSource(Protocol):
    """What StateCollector reads from the hint store."""

    pending: Mapping[int, int]
    dropped: Mapping[int, int]
    expired: Mapping[int, int]
    replayed: Mapping[int, int]

    def oldest_age_s(self, peer: int) -> float | None: ...


class EngineSource(Protocol):
    """What StateCollector reads from the storage engine."""

    def dataset_stats(self) -> Mapping[str, Mapping[str, int]]: ...

    def disk_bytes(self) -> int: ...


class StateCollector:
    """Reads figures kept elsewhere at scrape time: hints, repairs, RocksDB stats."""

    def __init__(self, *, engine: EngineSource, hints: HintSource,
                 read_repairs: Callable[[], int], topology_epoch: Callable[[], int],
                 paxos: Callable[[], Mapping[str, int]] = dict) -> None:
        self._engine = engine
        self._hints = hints
        self._read_repairs = read_repairs
        self._epoch = topology_epoch
        self._paxos = paxos
        self.closed = False  # set before the engine closes: a late scrape reads nothing

    def describe(self) -> Iterable[Metric]:
        """Nothing up front: the families depend on the datasets present."""
        return []

    def collect(self) -> Iterable[Metric]:
        """One family per figure, labelled by peer or dataset."""
        if self.closed:
            return []
        pending = GaugeMetricFamily("manhattan_hints_pending",
                                    "Hints waiting on this node for a peer replica.",
                                    labels=["peer"])
        age = GaugeMetricFamily("manhattan_hints_oldest_age_seconds",
                                "Age of the oldest hint waiting for a peer: how far that "
                                "replica lags behind.", labels=["peer"])
        for peer, count in sorted(dict(self._hints.pending).items()):
            pending.add_metric([str(peer)], count)
            oldest = self._hints.oldest_age_s(peer) if count > 0 else None
            age.add_metric([str(peer)], oldest or 0.0)
        replayed = CounterMetricFamily("manhattan_hints_replayed",
                                       "Hints delivered to their peer.", labels=["peer"])
        for peer, count in sorted(dict(self._hints.replayed).items()):
            replayed.add_metric([str(peer)], count)
        dropped = CounterMetricFamily("manhattan_hints_dropped",
                                      "Hints not stored or given up (left to repair).",
                                      labels=["peer"])
        for peer, count in sorted(dict(self._hints.dropped).items()):
            dropped.add_metric([str(peer)], count)
        expired = CounterMetricFamily(
            "manhattan_hints_expired",
            "Hints dropped because they outlived storage.tombstone_grace_s (delivering them "
            "could bring deleted data back; repair carries newer data). Also in dropped.",
            labels=["peer"])
        for peer, count in sorted(dict(self._hints.expired).items()):
            expired.add_metric([str(peer)], count)
        repairs = CounterMetricFamily("manhattan_read_repairs",
                                      "Stale replica records repaired by reads.",
                                      value=self._read_repairs())
        epoch = GaugeMetricFamily("manhattan_topology_epoch",
                                  "Topology epoch this node holds.", value=self._epoch())
        paxos = CounterMetricFamily(
            "manhattan_paxos",
            "SERIAL operations coordinated here, by event: outcomes (cas_applied, "
            "cas_condition_failed, cas_timeout, serial_read, serial_read_timeout) and "
            "rounds (rounds, contended: refused for a higher ballot, completed_in_progress: "
            "another coordinator's unfinished proposal finished first, granted_round: "
            "proposed under a ballot granted with the last commit, no prepare, "
            "granted_refused: such a proposal refused, committed_on_accept: a value "
            "chosen and stored in one round, no commit phase), and peek: this replica's view "
            "answered to an SDK coordinating a SERIAL read itself.",
            labels=["event"])
        for event, count in sorted(dict(self._paxos()).items()):
            paxos.add_metric([event], count)
        families = [pending, age, replayed, dropped, expired, repairs, epoch, paxos]
        families += self._rocksdb()
        return families

    def _rocksdb(self) -> list[Metric]:
        help_text = {
            "estimated_keys": "RocksDB's estimate of the keys in a dataset (rocksdb.estimate-num-keys).",
            "live_data_bytes": "RocksDB's estimate of a dataset's live data (rocksdb.estimate-live-data-size).",
            "sst_bytes": "Size of a dataset's SST files (rocksdb.total-sst-files-size).",
            "memtable_bytes": "Size of a dataset's memtables (rocksdb.cur-size-all-mem-tables).",
        }
        families = {name: GaugeMetricFamily(f"manhattan_rocksdb_{name}", text,
                                            labels=["dataset", "storage_id"])
                    for name, text in help_text.items()}
        try:
            stats = self._engine.dataset_stats()
            disk = self._engine.disk_bytes()
        except Exception:  # the engine closed under a late scrape: report what we can
            return []
        for dataset, values in sorted(stats.items()):
            # by name, and by storage id (name@incarnation): names are per tenant, so two
            # tenants' "events" are two column families, two series
            for name, family in families.items():
                family.add_metric([dataset_name(dataset), dataset], values.get(name, 0))
        disk_family = GaugeMetricFamily("manhattan_rocksdb_disk_bytes",
                                        "Bytes of the files in the database directory.",
                                        value=disk)
        return [*families.values(), disk_family]


class MetricsServer:
    """``/metrics`` over HTTP (prometheus_client's WSGI server, in a daemon thread)."""

    def __init__(self, registry: CollectorRegistry, listen: str) -> None:
        host, _, port = listen.rpartition(":")
        self._httpd, self._thread = start_http_server(int(port), addr=host.strip("[]"),
                                                      registry=registry)
        self.host = host
        self.port: int = self._httpd.server_address[1]

    @property
    def address(self) -> str:
        """host:port it is bound to (the real port when 0 was asked for)."""
        return f"{self.host}:{self.port}"

    def close(self) -> None:
        """Stop serving and release the port."""
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)
