"""Latency histograms (HdrHistogram) and CPU time per operation.

Latencies are recorded in microseconds into an HdrHistogram (3 significant
digits, 1 µs to 60 s), so p99.9 over millions of calls costs constant memory
and histograms of repeated runs merge exactly. CPU time is read from the
processes themselves (user + system, children excluded), because on a 2-core
box the CPU an operation burns is its honest cost, whatever the wall clock says.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass

import psutil
from hdrh.histogram import HdrHistogram

LOWEST_US, HIGHEST_US, DIGITS = 1, 60_000_000, 3
PERCENTILES = (50.0, 95.0, 99.0, 99.9)


class Latencies:
    """An HdrHistogram of per-call latencies in µs."""

    def __init__(self) -> None:
        self.histogram = HdrHistogram(LOWEST_US, HIGHEST_US, DIGITS)

    def record_ns(self, nanoseconds: int) -> None:
        self.histogram.record_value(min(max(nanoseconds // 1000, LOWEST_US), HIGHEST_US))

    def merge(self, other: "Latencies") -> None:
        self.histogram.add(other.histogram)

    @property
    def count(self) -> int:
        return self.histogram.get_total_count()

    def percentile_us(self, q: float) -> float:
        """The q-th percentile (0..100) in µs; NaN when nothing was recorded."""
        if not self.count:
            return float("nan")
        return float(self.histogram.get_value_at_percentile(q))

    def summary(self) -> dict[str, float]:
        """p50, p95, p99 and p99.9 in µs, keyed ``p50_us``..``p999_us``."""
        return {_key(q): self.percentile_us(q) for q in PERCENTILES}


def _key(q: float) -> str:
    return "p" + f"{q:g}".replace(".", "") + "_us"


@dataclass(frozen=True)
class CpuSample:
    """Seconds of CPU (user + system) used by a set of processes up to a moment."""

    server_s: float
    client_s: float


class CpuMeter:
    """CPU time of server processes (by PID) and of this client process.

    Take ``sample()`` before and after a measured phase; ``per_op_us`` turns the
    difference into µs of CPU per operation. A process that exited is skipped.
    """

    def __init__(self, server_pids: Iterable[int]) -> None:
        self.servers = [psutil.Process(pid) for pid in server_pids]
        self.client = psutil.Process(os.getpid())

    @staticmethod
    def _seconds(process: psutil.Process) -> float:
        try:
            times = process.cpu_times()
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            return 0.0
        return times.user + times.system

    def sample(self) -> CpuSample:
        return CpuSample(server_s=sum(self._seconds(p) for p in self.servers),
                         client_s=self._seconds(self.client))

    @staticmethod
    def per_op_us(before: CpuSample, after: CpuSample, ops: int) -> tuple[float, float]:
        """(server µs/op, client µs/op) between two samples."""
        if ops <= 0:
            return float("nan"), float("nan")
        return ((after.server_s - before.server_s) * 1e6 / ops,
                (after.client_s - before.client_s) * 1e6 / ops)
