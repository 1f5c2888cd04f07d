"""N callers in flight across client processes: the capacity of a path, not its wake-up.

One caller at a time measures latency; it cannot show what a node does when
many requests overlap. ``ClientPool`` starts a fixed number of client
processes (2 by default, so one client's GIL does not cap the rate) that stay
up for the whole suite; each ``phase`` splits N callers (threads, each calling
a blocking SDK/redis-py function) over them and runs for a time budget:

* closed loop (``rate=None``): every caller calls back to back — the peak;
* paced (``rate`` calls/s in total): each caller sends on a fixed schedule and a
  call's latency counts from when it was *due*, so a stall shows up in p99
  instead of silently lowering the rate (no coordinated omission).

Each process reports its own CPU time (user + system) for the phase, so CPU per
operation covers every client process as well as the servers (by PID).
"""

from __future__ import annotations

import multiprocessing as mp
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

import psutil

from manhattan.bench.stats import Latencies

CLIENT_PROCESSES = 2
LEVELS = (1, 4, 16, 64)  # callers in flight, over all client processes
LOAD_FRACTION = 0.7  # p99 is reported at this share of the peak rate
CALL_TIMEOUT_S = 30.0  # one phase's answer from a worker, past its budget

Factory = Callable[[dict[str, Any]], Callable[[int], object]]


@dataclass(frozen=True)
class PhaseSpec:
    """What one phase runs: a call built by ``factory(config)`` in every worker."""

    factory: Factory  # a module-level function (pickled by reference)
    config: dict[str, Any]
    callers: int
    seconds: float
    rate: float | None = None  # total calls/s over all callers; None: closed loop

    def __post_init__(self) -> None:
        if self.callers < 1:
            raise ValueError(f"callers must be at least 1, got {self.callers}")
        if not self.seconds > 0:
            raise ValueError(f"seconds must be positive, got {self.seconds}")
        if self.rate is not None and not self.rate > 0:
            raise ValueError(f"rate must be positive, got {self.rate}")


@dataclass
class PhaseResult:
    """Calls, wall time, latency histogram and client CPU of one phase (all processes)."""

    calls: int = 0
    errors: int = 0
    elapsed_s: float = 0.0
    client_cpu_s: float = 0.0
    latencies: Latencies = field(default_factory=Latencies)

    @property
    def rate(self) -> float:
        return self.calls / self.elapsed_s if self.elapsed_s > 0 else 0.0


def _split(callers: int, processes: int) -> list[int]:
    """Callers per process, as even as possible; processes with none are left out."""
    base, extra = divmod(callers, processes)
    return [n for n in (base + (1 if i < extra else 0) for i in range(processes)) if n]


def _caller(call: Callable[[int], object], start: int, stride: int, begin: float,
            deadline: float, interval: float | None, out: list[int], errors: list[int]) -> None:
    clock = time.perf_counter
    i = start
    due = begin
    while True:
        if interval is not None:
            now = clock()
            if due > now:
                time.sleep(due - now)
            t0 = due
            due += interval
        else:
            t0 = clock()
        if t0 >= deadline:
            return
        try:
            call(i)
        except Exception:  # counted, not fatal: a saturated peer may time out
            errors[0] += 1
        out.append(int((clock() - t0) * 1e9))
        i += stride


def _run_phase(call: Callable[[int], object], first: int, stride: int, callers: int,
               seconds: float, rate: float | None, start_at: float) -> dict[str, Any]:
    """Run ``callers`` threads in this process; returns plain data for the pipe."""
    interval = None if rate is None else callers / rate  # per caller, seconds (this process)
    delay = start_at - time.time()
    if delay > 0:
        time.sleep(delay)  # both processes begin together
    # process_time: ns resolution (psutil's /proc ticks are 10 ms, which a short phase
    # of slow calls can round to zero)
    cpu0 = time.process_time()
    begin = time.perf_counter()
    deadline = begin + seconds
    outs: list[list[int]] = [[] for _ in range(callers)]
    errs: list[list[int]] = [[0] for _ in range(callers)]
    threads = [threading.Thread(
        target=_caller, daemon=True,
        args=(call, first + k * stride, stride * callers,
              begin + (interval or 0) * k / callers, deadline, interval, outs[k], errs[k]))
        for k in range(callers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - begin
    return {"latencies": [x for out in outs for x in out], "errors": sum(e[0] for e in errs),
            "elapsed": elapsed, "cpu": time.process_time() - cpu0}


def _worker(conn: Connection, index: int, processes: int) -> None:
    """A client process: build each distinct call once, run phases until told to stop."""
    calls: dict[tuple[Any, str], Callable[[int], object]] = {}
    while True:
        message = conn.recv()
        if message is None:
            return
        factory, config, callers, seconds, rate, start_at = message
        key = (factory, repr(sorted(config.items())))
        try:
            if key not in calls:
                calls[key] = factory(config)
            reply: dict[str, Any] = _run_phase(calls[key], index, processes, callers,
                                               seconds, rate, start_at)
        except Exception as exc:  # reported to the parent, which raises it
            reply = {"failed": f"{type(exc).__name__}: {exc}"}
        conn.send(reply)


class ClientPool:
    """``processes`` client processes kept up for a suite; ``phase`` runs on all of them."""

    def __init__(self, processes: int = CLIENT_PROCESSES) -> None:
        if processes < 1:
            raise ValueError(f"processes must be at least 1, got {processes}")
        self.processes = processes
        context = mp.get_context("spawn")  # no forked gRPC state
        self._pipes: list[Connection] = []
        self._procs: list[Any] = []
        for index in range(processes):
            parent, child = context.Pipe()
            proc = context.Process(target=_worker, args=(child, index, processes),
                                   name=f"bench-client-{index}", daemon=True)
            proc.start()
            self._pipes.append(parent)
            self._procs.append(proc)

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self._procs if p.pid is not None]

    def phase(self, spec: PhaseSpec) -> PhaseResult:
        """Run one phase on every process that gets a caller; merge what they saw."""
        shares = _split(spec.callers, self.processes)
        start_at = time.time() + 0.2
        for pipe, callers in zip(self._pipes, shares):
            rate = None if spec.rate is None else spec.rate * callers / spec.callers
            pipe.send((spec.factory, spec.config, callers, spec.seconds, rate, start_at))
        result = PhaseResult()
        for pipe, _ in zip(self._pipes, shares):
            if not pipe.poll(spec.seconds + CALL_TIMEOUT_S + 60):
                raise TimeoutError("a bench client process did not answer")
            reply = pipe.recv()
            if "failed" in reply:
                raise RuntimeError(f"bench client process failed: {reply['failed']}")
            for ns in reply["latencies"]:
                result.latencies.record_ns(ns)
            result.calls += len(reply["latencies"])
            result.errors += reply["errors"]
            result.elapsed_s = max(result.elapsed_s, reply["elapsed"])
            result.client_cpu_s += reply["cpu"]
        return result

    def close(self) -> None:
        """Tell every process to stop, then wait for it (by its own handle)."""
        for pipe in self._pipes:
            try:
                pipe.send(None)
            except (BrokenPipeError, OSError):
                pass
        for proc in self._procs:
            proc.join(10)
            if proc.is_alive():
                proc.terminate()
                proc.join(5)

    def __enter__(self) -> "ClientPool":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def sleep_call(config: dict[str, Any]) -> Callable[[int], object]:
    """A call that only waits ``config["ms"]``: the harness measured on its own (tests)."""
    seconds = float(config["ms"]) / 1000
    return lambda _i: time.sleep(seconds)


def server_cpu_s(pids: Iterable[int]) -> float:
    """User + system CPU seconds of the server processes so far (gone ones count 0)."""
    total = 0.0
    for pid in pids:
        try:
            times = psutil.Process(pid).cpu_times()
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        total += times.user + times.system
    return total
