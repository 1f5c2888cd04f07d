"""Run a YCSB phase against a Store, one operation at a time, timing each call.

One client thread, no think time: the rate is what one sequential client gets,
and each latency is one call as the application sees it. Operations are
generated before the clock starts (``OperationStream.take``), so the generators'
cost is not charged to the store.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from manhattan.bench.stats import Latencies
from manhattan.bench.workloads import INSERT, READ, RMW, SCAN, UPDATE, Key, Operation, Store


@dataclass
class PhaseResult:
    """What one phase did: counts per kind, elapsed wall time, latency histograms."""

    operations: int = 0
    elapsed_s: float = 0.0
    counts: dict[str, int] = field(default_factory=dict)
    by_kind: dict[str, Latencies] = field(default_factory=dict)
    misses: int = 0  # reads and RMWs that found no record (should stay 0)
    scanned: int = 0  # records returned by scans

    @property
    def rate(self) -> float:
        """Operations per second (records per second for a load phase)."""
        return self.operations / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def latencies(self) -> Latencies:
        """Every kind's histogram merged."""
        merged = Latencies()
        for histogram in self.by_kind.values():
            merged.merge(histogram)
        return merged

    def merge(self, other: "PhaseResult") -> None:
        """Add another run of the same phase (histograms merge exactly)."""
        self.operations += other.operations
        self.elapsed_s += other.elapsed_s
        self.misses += other.misses
        self.scanned += other.scanned
        for kind, count in other.counts.items():
            self.counts[kind] = self.counts.get(kind, 0) + count
        for kind, histogram in other.by_kind.items():
            self.by_kind.setdefault(kind, Latencies()).merge(histogram)


def run_phase(store: Store, operations: Sequence[Operation]) -> PhaseResult:
    """Apply ``operations`` in order; every call's latency goes into its kind's histogram."""
    histograms = {kind: Latencies() for kind in {op.kind for op in operations}}
    counts = dict.fromkeys(histograms, 0)
    clock = time.perf_counter_ns
    read, update, insert = store.read, store.update, store.insert
    scan, rmw = store.scan, store.read_modify_write
    misses = scanned = 0
    begin = clock()
    for op in operations:
        kind = op.kind
        t0 = clock()
        if kind == READ:
            if read(op.key) is None:
                misses += 1
        elif kind == UPDATE:
            update(op.key, op.value)  # type: ignore[arg-type]
        elif kind == SCAN:
            scanned += scan(op.key, op.scan_length)
        elif kind == INSERT:
            insert(op.key, op.value)  # type: ignore[arg-type]
        elif kind == RMW:
            if not rmw(op.key, op.value):  # type: ignore[arg-type]
                misses += 1
        else:
            raise ValueError(f"unknown operation {kind!r}")
        histograms[kind].record_ns(clock() - t0)
        counts[kind] += 1
    elapsed = (clock() - begin) / 1e9
    return PhaseResult(len(operations), elapsed, counts, histograms, misses, scanned)


def load_phase(store: Store, items: Iterable[tuple[Key, bytes]], batch: int = 500
               ) -> PhaseResult:
    """Insert every item through the store's bulk path, ``batch`` at a time.

    The rate counts records; the latency histogram holds one sample per batch.
    """
    histogram = Latencies()
    clock = time.perf_counter_ns
    records = 0
    chunk: list[tuple[Key, bytes]] = []
    begin = clock()

    def flush() -> None:
        nonlocal records
        t0 = clock()
        store.load(chunk)
        histogram.record_ns(clock() - t0)
        records += len(chunk)
        chunk.clear()

    for item in items:
        chunk.append(item)
        if len(chunk) >= batch:
            flush()
    if chunk:
        flush()
    elapsed = (clock() - begin) / 1e9
    return PhaseResult(records, elapsed, {INSERT: records}, {"load batch": histogram})
