"""Cost growth: get latency as a node fills up, and the keys that move when a node joins.

* **Keys per node.** One node, an RF = 1 dataset, loaded through the batch path
  (``put_many`` of ``LOAD_BATCH`` records, several batches in flight) up to each
  size in turn (1M and 10M keys in a full run); at each size, gets of 100 B at
  ONE over the loaded keys, one caller, interleaved runs. Loading is bounded in
  time: a size the loader cannot reach within its budget is reported as not
  reached, with the largest size that was, and the suite says so.
* **Ring movement.** From the ring itself (``manhattan.cluster.ring.Ring``):
  the share of sampled pkeys whose primary, and whose RF = 3 preference list,
  changes when node n + 1 joins n nodes, against the ideal 1/(n+1).
"""

from __future__ import annotations

import contextlib
import os
import random
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from manhattan.bench import report
from manhattan.bench.common import Result, Settings, load_note, run_sync
from manhattan.bench.rows import Ratio, Row
from manhattan.bench.stats import CpuMeter, Latencies

NAME = "growth"
TITLE = "Cost growth (get latency by keys per node; keys moved when a node joins)"
GET = "get 100 B"
SYSTEM = "manhattan ONE"
DATASET, TENANT = "grow", "bench"
VALUE = os.urandom(100)
LOAD_BATCH = 1_000
LOADERS = 4  # batches in flight while loading
SIZES = (1_000_000, 10_000_000)
QUICK_SIZES = (2_000, 8_000)
LOAD_BUDGET_S = 1_800.0  # the whole load, full run
QUICK_LOAD_BUDGET_S = 30.0
RING_SAMPLE = 100_000  # pkeys sampled for the movement share
QUICK_RING_SAMPLE = 10_000
RING_SIZES = (3, 5, 8, 16)
Progress = Callable[[str], None]


def pkey(i: int) -> bytes:
    return b"k%010d" % i


# -- ring movement -------------------------------------------------------------------------


def moved_share(nodes: int, sample: int, replicas: int = 3,
                seed: int = 16) -> tuple[float, float]:
    """(share of pkeys whose primary moves, share whose preference list changes) when
    node ``nodes + 1`` joins ``nodes`` nodes."""
    from manhattan.cluster.ring import Ring
    from manhattan.cluster.topology import Member, Topology

    if nodes < 1 or sample < 1:
        raise ValueError(f"nodes and sample must be positive, got {nodes} and {sample}")
    members = tuple(Member(i, f"127.0.0.1:{7000 + i}") for i in range(1, nodes + 2))
    before, after = Ring(Topology(1, members[:-1])), Ring(Topology(2, members))
    rng = random.Random(seed)
    primary = lists = 0
    n = min(replicas, nodes)
    for _ in range(sample):
        key = rng.randbytes(12)
        old, new = before.preference_list(key, n), after.preference_list(key, n)
        primary += old[0].id != new[0].id
        lists += {m.id for m in old} != {m.id for m in new}
    return primary / sample, lists / sample


def ring_ratios(sample: int) -> tuple[list[Ratio], list[str]]:
    """The primary share over the ideal 1/(n+1) for each ring size, and notes."""
    ratios, notes = [], []
    for n in RING_SIZES:
        primary, lists = moved_share(n, sample)
        ideal = 1 / (n + 1)
        ratios.append(Ratio(f"keys moved when node {n + 1} joins {n} / ideal 1/{n + 1}",
                            f"primary moved {primary:.2%}", f"ideal {ideal:.2%}",
                            primary / ideal,
                            note=f"RF=3 preference list changed for {lists:.2%}"))
        notes.append(f"{n} -> {n + 1} nodes: {primary:.2%} of {sample:,} sampled pkeys change "
                     f"primary (ideal {ideal:.2%}), {lists:.2%} change their RF=3 replica set")
    return ratios, notes


# -- keys per node ---------------------------------------------------------------------------


def _load(ds: Any, start: int, stop: int, deadline: float) -> int:
    """Load pkeys [start, stop) in batches, several in flight; returns where it got to."""
    from manhattan.client import Consistency, Durability, Put

    def batch(first: int) -> None:
        ds.put_many([Put(pkey(i), b"l", VALUE) for i in range(first, min(first + LOAD_BATCH,
                                                                          stop))],
                    consistency=Consistency.ONE, durability=Durability.BUFFERED)

    done = start
    with ThreadPoolExecutor(LOADERS) as pool:
        while done < stop and time.monotonic() < deadline:
            firsts = list(range(done, min(stop, done + LOADERS * LOAD_BATCH), LOAD_BATCH))
            list(pool.map(batch, firsts))
            done = min(stop, firsts[-1] + LOAD_BATCH)
    return done


def _get_row(ds: Any, loaded: int, size: int, settings: Settings, pid: int,
             progress: Progress) -> Row:
    from manhattan.client import Consistency

    rng = random.Random(size)
    order = [rng.randrange(loaded) for _ in range(4096)]
    one = Consistency.ONE

    def get(i: int) -> None:
        key = pkey(order[i % len(order)])
        if ds.get(key, b"l", consistency=one) is None:
            raise RuntimeError(f"loaded key {key!r} is missing")

    run_sync(get, settings.warmup, None)
    meter = CpuMeter([pid])
    latencies = Latencies()
    runs: list[float] = []
    calls = 0
    before = meter.sample()
    seconds, count = settings.round_budget()
    for number in range(settings.rounds):
        progress(f"get at {loaded:,} keys: run {number + 1}/{settings.rounds}")
        elapsed, lat = run_sync(get, seconds, count, number * 100_003)
        runs.append(len(lat) / elapsed)
        calls += len(lat)
        for ns in lat:
            latencies.record_ns(ns)
    server_us, client_us = CpuMeter.per_op_us(before, meter.sample(), calls)
    reached = "" if loaded >= size else f" (target {size:,} not reached in the load budget)"
    row = Row(NAME, f"{GET} at {loaded:,} keys/node", SYSTEM, runs=runs,
              cpu_server_us=server_us, cpu_client_us=client_us,
              note=f"1 node, RF=1, one caller{reached}")
    row.set_latencies(latencies)
    return row


def key_rows(settings: Settings, workdir: Path | None, progress: Progress
             ) -> tuple[list[Row], list[str]]:
    """Load one node size by size; a get row at each size reached."""
    from manhattan.client import Client
    from manhattan.node.local_cluster import LocalCluster

    sizes = QUICK_SIZES if settings.quick else SIZES
    budget = QUICK_LOAD_BUDGET_S if settings.quick else LOAD_BUDGET_S
    rows: list[Row] = []
    notes: list[str] = []
    with tempfile.TemporaryDirectory(prefix="manhattan-bench-growth-", dir=workdir) as tmp, \
            contextlib.ExitStack() as stack:
        lc = LocalCluster(Path(tmp) / "node", nodes=1, base_port=None)
        stack.callback(lc.stop)
        progress("starting one node")
        lc.start().wait_converged()
        with Client(lc.endpoints, token=lc.admin_token) as admin:
            token = admin.admin.create_tenant(TENANT)
            admin.admin.create_dataset(DATASET, tenant=TENANT, replication_factor=1)
        client = stack.enter_context(Client(lc.endpoints, token=token))
        ds = client.dataset(DATASET)
        pid = lc.nodes[0].proc.pid
        began = time.monotonic()
        deadline = began + budget
        loaded = 0
        for size in sizes:
            progress(f"loading to {size:,} keys")
            loaded = _load(ds, loaded, size, deadline)
            rate = loaded / (time.monotonic() - began)
            notes.append(f"loaded {loaded:,} keys in {time.monotonic() - began:.0f} s "
                         f"({rate:,.0f} records/s through put_many x{LOAD_BATCH}, "
                         f"{LOADERS} in flight)")
            rows.append(_get_row(ds, loaded, size, settings, pid, progress))
            if loaded < size:
                notes.append(f"{size:,} keys not reached within the {budget:.0f} s load "
                             f"budget: the largest measured is {loaded:,}")
                break
    return rows, notes


def latency_growth(rows: list[Row]) -> str | None:
    """p50 at the largest size over p50 at the smallest (the target is <= 1.2x)."""
    if len(rows) < 2:
        return None
    small, large = rows[0].latency_us["p50_us"], rows[-1].latency_us["p50_us"]
    return (f"get p50 {large:,.0f} µs at the largest size over {small:,.0f} µs at the "
            f"smallest: {large / small:.2f}× (target <= 1.2×)")


# -- the suite ---------------------------------------------------------------------------------


def run(settings: Settings, progress: Progress = lambda _msg: None,
        workdir: Path | None = None) -> list[Result]:
    """Ring movement (computed), then the loaded node; write growth.json."""
    progress("ring movement")
    ratios, notes = ring_ratios(QUICK_RING_SAMPLE if settings.quick else RING_SAMPLE)
    rows, load_notes = key_rows(settings, workdir, progress)
    notes += load_notes
    growth = latency_growth(rows)
    if growth:
        notes.append(growth)
    notes.append(f"{load_note()} at the end")
    report.write_results(report.results_dir(), NAME, TITLE, rows=rows, ratios=ratios,
                         versions={}, notes=notes,
                         settings={"runs": settings.rounds, "seconds": settings.seconds,
                                   "quick": settings.quick, "load_batch": LOAD_BATCH,
                                   "loaders": LOADERS})
    results = []
    for row in rows:
        lat = row.latency_us
        results.append(Result(NAME, f"{row.workload}: {row.system}", row.unit, len(row.runs),
                              len(row.runs), 0.0, row.median, lat["p50_us"], lat["p99_us"],
                              note=row.note, runs=list(row.runs)))
    for r in ratios:
        results.append(Result(NAME, r.name, "ops", 0, 0, 0.0, float("nan"), float("nan"),
                              float("nan"), ratio=r.value, note=f"{r.numerator}; {r.note}"))
    return results
