"""The shape of comparative results: one row per (suite, workload, system), ratios
between rows. Suites that compare systems (ycsb, twitter, targets) write these
to bench/results/<suite>.json; bench/report.py turns them into BENCHMARKS.md and
the plots.
"""

from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass, field
from typing import Any

from manhattan.bench.stats import Latencies


@dataclass
class Row:
    """One system on one workload, over its interleaved runs."""

    suite: str  # "ycsb", "twitter", "targets"
    workload: str  # "A".."F", "get", "put QUORUM", "fan-out", "home page"...
    system: str  # "manhattan ONE", "redis", "redis-cluster", "etcd", "grpc echo"...
    unit: str = "ops"  # what the rate counts: ops, records, deliveries, pages
    runs: list[float] = field(default_factory=list)  # rate of each run (unit/s)
    latency_us: dict[str, float] = field(default_factory=dict)  # p50_us..p999_us, merged
    cpu_server_us: float | None = None  # server CPU µs per unit (all server processes)
    cpu_client_us: float | None = None  # client (benchmark process) CPU µs per unit
    note: str = ""

    @property
    def median(self) -> float:
        return statistics.median(self.runs) if self.runs else float("nan")

    @property
    def low(self) -> float:
        return min(self.runs) if self.runs else float("nan")

    @property
    def high(self) -> float:
        return max(self.runs) if self.runs else float("nan")

    def set_latencies(self, latencies: Latencies) -> None:
        self.latency_us = latencies.summary()

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "median": self.median, "min": self.low, "max": self.high}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Row":
        names = cls.__dataclass_fields__
        return cls(**{k: v for k, v in data.items() if k in names})


@dataclass
class Ratio:
    """Manhattan over a peer or a limit, median over median, with an optional target."""

    name: str
    numerator: str  # "workload / system" of the Manhattan row
    denominator: str  # "workload / system" of the peer or limit row
    value: float
    target: float | None = None
    note: str = ""

    @property
    def meets(self) -> bool | None:
        return None if self.target is None else self.value >= self.target

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "meets": self.meets}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Ratio":
        names = cls.__dataclass_fields__
        return cls(**{k: v for k, v in data.items() if k in names})


def ratio(name: str, numerator: Row, denominator: Row, target: float | None = None,
          note: str = "") -> Ratio:
    """``numerator.median / denominator.median`` as a Ratio."""
    value = numerator.median / denominator.median if denominator.median else float("nan")
    return Ratio(name, f"{numerator.workload} / {numerator.system}",
                 f"{denominator.workload} / {denominator.system}", value, target, note)
