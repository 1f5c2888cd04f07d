"""What every suite shares: settings, timed loops, latency percentiles, results.

A *case* is one thing measured (``SDK get``, ``echo``...). Cases of a group are
measured in interleaved rounds (echo, get, put, echo, get, put, ...) so that a
slow patch of the machine hits the baseline and the measured path alike; a
case's ops/s is its total operations over its total measured time, and its
latency percentiles come from every call it made (sorted samples, exact).
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from typing import Any


# A full run (``make bench``): at least this many interleaved runs per case, each at
# least this long, so that a slow patch of a shared machine shows up as spread.
MIN_RUNS = 5
MIN_RUN_S = 10.0


def load_note() -> str:
    """The 1/5/15-minute load averages, for a suite's notes: a busy machine skews rates."""
    try:
        load = os.getloadavg()
    except OSError:  # pragma: no cover - not on every platform
        return "load average unknown"
    return (f"load average {load[0]:.2f}, {load[1]:.2f}, {load[2]:.2f} (1/5/15 min) on "
            f"{os.cpu_count()} CPUs")


@dataclass(frozen=True)
class Settings:
    """How long to measure. ``ops`` (when set) replaces the time budget."""

    seconds: float = MIN_RUNS * MIN_RUN_S  # measured time per case, split over the rounds
    warmup: float = 1.0  # seconds of warm-up per case, before the first round
    rounds: int = MIN_RUNS
    ops: int | None = None  # operations (records, for batch cases) per case
    quick: bool = False
    callers: tuple[int, ...] | None = None  # callers in flight (capacity); None: the suite's

    def round_budget(self, per_call: int = 1) -> tuple[float | None, int | None]:
        """(seconds, calls) of one round of one case; exactly one is not None.

        ``per_call`` is how many records one call carries (1,000 for MultiPut),
        so that ``--ops`` counts records for batch cases too.
        """
        if self.ops is not None:
            calls = math.ceil(self.ops / per_call / self.rounds)
            return None, max(calls, 3 if per_call > 1 else 1)
        return self.seconds / self.rounds, None


@dataclass
class Sample:
    """What one case has gathered so far (over all its rounds)."""

    calls: int = 0
    elapsed_s: float = 0.0
    latencies_ns: list[int] = field(default_factory=list)
    runs: list[float] = field(default_factory=list)  # calls/s of each round

    def add(self, elapsed_s: float, latencies_ns: list[int]) -> None:
        if elapsed_s > 0:
            self.runs.append(len(latencies_ns) / elapsed_s)
        self.calls += len(latencies_ns)
        self.elapsed_s += elapsed_s
        self.latencies_ns.extend(latencies_ns)


def percentile_us(sorted_ns: list[int], q: float) -> float:
    """The q-quantile (0..1, nearest rank) of sorted nanosecond samples, in µs."""
    if not sorted_ns:
        return float("nan")
    rank = max(1, math.ceil(q * len(sorted_ns)))
    return sorted_ns[rank - 1] / 1000.0


@dataclass
class Result:
    """One row of the report."""

    suite: str
    name: str
    unit: str  # what ops/s counts: "ops" or "records"
    calls: int
    records: int
    seconds: float
    ops_per_s: float
    p50_us: float
    p99_us: float
    per_call: str = "op"  # what a latency sample covers: "op" or "batch of <n>"
    baseline: str | None = None  # the name of the row this one is compared with
    ratio: float | None = None
    target: float | None = None
    # An absolute target instead (or as well): at least this many ops/s (records/s
    # for batch cases), for targets the issue states as a rate rather than a ratio.
    target_rate: float | None = None
    is_baseline: bool = False
    note: str = ""
    runs: list[float] = field(default_factory=list)  # rate of each interleaved run

    @property
    def meets_target(self) -> bool | None:
        checks: list[bool] = []
        if self.target is not None and self.ratio is not None:
            checks.append(self.ratio >= self.target)
        if self.target_rate is not None:
            checks.append(self.ops_per_s >= self.target_rate)
        return all(checks) if checks else None

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["meets_target"] = self.meets_target
        return data


def make_result(suite: str, name: str, sample: Sample, *, per_call: int = 1,
                note: str = "") -> Result:
    """Turn a case's sample into a report row (ratios are filled in later)."""
    ordered = sorted(sample.latencies_ns)
    records = sample.calls * per_call
    return Result(
        suite=suite, name=name, unit="records" if per_call > 1 else "ops",
        calls=sample.calls, records=records, seconds=sample.elapsed_s,
        ops_per_s=records / sample.elapsed_s if sample.elapsed_s else 0.0,
        p50_us=percentile_us(ordered, 0.50), p99_us=percentile_us(ordered, 0.99),
        per_call=f"batch of {per_call}" if per_call > 1 else "op", note=note,
        runs=[rate * per_call for rate in sample.runs],
    )


def compare(result: Result, baseline: Result, target: float | None = None) -> Result:
    """Fill in the ratio of ``result`` to ``baseline`` (throughput over throughput)."""
    result.baseline = baseline.name
    result.ratio = result.ops_per_s / baseline.ops_per_s if baseline.ops_per_s else None
    result.target = target
    return result


# -- timed loops ---------------------------------------------------------------

SyncCall = Callable[[int], object]
AsyncCall = Callable[[int], Awaitable[object]]


def run_sync(call: SyncCall, seconds: float | None, calls: int | None,
             start_index: int = 0) -> tuple[float, list[int]]:
    """Call ``call(i)`` back to back for ``seconds`` or ``calls`` times.

    Returns (elapsed seconds, per-call latencies in ns). ``i`` counts on from
    ``start_index`` so that successive rounds can walk through a key space.
    """
    clock = time.perf_counter_ns
    latencies: list[int] = []
    append = latencies.append
    i = start_index
    begin = clock()
    if calls is not None:
        for i in range(start_index, start_index + calls):
            t0 = clock()
            call(i)
            append(clock() - t0)
        end = clock()
    else:
        deadline = begin + int(seconds * 1e9)
        end = begin
        while end < deadline:
            t0 = clock()
            call(i)
            end = clock()
            append(end - t0)
            i += 1
    return (end - begin) / 1e9, latencies


async def run_async(call: AsyncCall, seconds: float | None, calls: int | None,
                    start_index: int = 0) -> tuple[float, list[int]]:
    """``run_sync`` for a coroutine function, awaited one call at a time."""
    clock = time.perf_counter_ns
    latencies: list[int] = []
    append = latencies.append
    i = start_index
    begin = clock()
    if calls is not None:
        for i in range(start_index, start_index + calls):
            t0 = clock()
            await call(i)
            append(clock() - t0)
        end = clock()
    else:
        deadline = begin + int(seconds * 1e9)
        end = begin
        while end < deadline:
            t0 = clock()
            await call(i)
            end = clock()
            append(end - t0)
            i += 1
    return (end - begin) / 1e9, latencies


@dataclass
class Case:
    """A named thing to measure; ``per_call`` records per call (1 for unary)."""

    name: str
    call: Callable[[int], Any]
    per_call: int = 1
    note: str = ""
    sample: Sample = field(default_factory=Sample)
    next_index: int = 0


def measure_group(cases: list[Case], settings: Settings,
                  progress: Callable[[str], None] = lambda _msg: None) -> None:
    """Warm every case up, then measure them in interleaved rounds (sync calls)."""
    for case in cases:
        progress(f"warm-up {case.name}")
        _, lat = run_sync(case.call, settings.warmup, None, case.next_index)
        case.next_index += len(lat)
    for number in range(settings.rounds):
        for case in cases:
            progress(f"round {number + 1}/{settings.rounds}: {case.name}")
            seconds, calls = settings.round_budget(case.per_call)
            elapsed, lat = run_sync(case.call, seconds, calls, case.next_index)
            case.next_index += len(lat)
            case.sample.add(elapsed, lat)


async def measure_group_async(cases: list[Case], settings: Settings,
                              progress: Callable[[str], None] = lambda _msg: None) -> None:
    """``measure_group`` for coroutine functions, on the running event loop."""
    for case in cases:
        progress(f"warm-up {case.name}")
        _, lat = await run_async(case.call, settings.warmup, None, case.next_index)
        case.next_index += len(lat)
    for number in range(settings.rounds):
        for case in cases:
            progress(f"round {number + 1}/{settings.rounds}: {case.name}")
            seconds, calls = settings.round_budget(case.per_call)
            elapsed, lat = await run_async(case.call, seconds, calls, case.next_index)
            case.next_index += len(lat)
            case.sample.add(elapsed, lat)
