"""Counters suite: increments/s of ``Dataset.add`` against Redis Cluster ``INCRBY``.

One caller and 16 callers in flight (threads over 2 client processes, as in the
capacity suite, bench/concurrency.py), over ``COUNTERS`` hot counters:

* ``manhattan RF3 QUORUM``: a counter dataset, RF = 3, adds at QUORUM: the shard
  owner fsyncs its shard before the state leaves it (always: see
  manhattan/replication/counters.py), one more replica holds it before the ack;
* ``manhattan RF2 W1``: RF = 2, adds at ONE (the owner's fsync is still there);
* ``redis-cluster``: ``INCRBY`` on 3 masters + 3 asynchronous replicas,
  ``appendfsync everysec``;
* ``redis-cluster always+WAIT 1``: ``INCRBY`` with ``appendfsync always``, then
  ``WAIT 1``: like for like with an owner that fsyncs and one replica that holds it.

Target (issue 17): Manhattan RF3 QUORUM >= 0.3x Redis Cluster at one caller; 16
callers reported too. Ratios are reported, never asserted.
"""

from __future__ import annotations

import contextlib
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from manhattan.bench import report
from manhattan.bench.capacity import (
    R_ASYNC, R_SYNC, Case, _redis, measure, phase_seconds, rows_of, then_wait,
)
from manhattan.bench.cluster import _on_every_node, start_cluster
from manhattan.bench.common import Result, Settings, load_note
from manhattan.bench.concurrency import ClientPool
from manhattan.bench.rows import Ratio, Row, ratio

NAME = "counters"
TITLE = "Counters (increments/s, 1 and 16 callers in flight; Manhattan add vs Redis INCRBY)"
INCR = "incr"
LEVELS = (1, 16)
COUNTERS = 100  # counters the increments cycle through
TENANT, RF3, RF2 = "bench-counters", "counts3", "counts2"
M_RF3, M_RF2 = "manhattan RF3 QUORUM", "manhattan RF2 W1"
ONE_CALLER_TARGET = 0.3
Progress = Callable[[str], None]


def manhattan_add(config: dict[str, Any]) -> Callable[[int], object]:
    """``add(counter, 1)`` through one shared SDK client (thread-safe)."""
    from manhattan.client import Client, Consistency

    client = Client(config["endpoints"], token=config["token"])
    ds = client.dataset(config["dataset"])
    level = Consistency[config["consistency"]]
    return lambda i: ds.add(b"c%05d" % (i % COUNTERS), b"n", 1, consistency=level)


def redis_incr(config: dict[str, Any]) -> Callable[[int], object]:
    """``INCRBY counter 1`` (then ``WAIT 1`` on the key's master when asked)."""
    from redis.cluster import ClusterNode, RedisCluster

    cluster = RedisCluster(startup_nodes=[ClusterNode("127.0.0.1", p) for p in config["ports"]])
    keys = [b"c%05d/n" % i for i in range(COUNTERS)]
    if not config.get("wait"):
        return lambda i: cluster.incrby(keys[i % COUNTERS], 1)
    return lambda i: then_wait(cluster, keys[i % COUNTERS], "INCRBY", 1)


def _setup(lc: Any, progress: Progress) -> str:
    """The tenant and its two counter datasets, known on every node. Returns the token."""
    from manhattan.client import Client

    progress("creating the counter datasets")
    with Client(lc.endpoints, token=lc.admin_token) as admin:
        token = admin.admin.create_tenant(TENANT)
        admin.admin.create_dataset(RF3, tenant=TENANT, replication_factor=3, kind="counter")
        admin.admin.create_dataset(RF2, tenant=TENANT, replication_factor=2, kind="counter")
    _on_every_node(lc, lambda c: {RF3, RF2} <= {d.name for d in c.admin.list_datasets()},
                   "the counter datasets known")
    return token


def build_cases(lc: Any, token: str, root: Path, notes: list[str],
                stack: contextlib.ExitStack) -> list[Case]:
    """Manhattan's two rows and every Redis Cluster that started."""
    pids = [n.proc.pid for n in lc.nodes if n.proc is not None]

    def m(dataset: str, consistency: str) -> dict[str, Any]:
        return {"endpoints": list(lc.endpoints), "token": token, "dataset": dataset,
                "consistency": consistency}

    cases = [
        Case(INCR, M_RF3, manhattan_add, m(RF3, "QUORUM"), pids,
             "RF=3, QUORUM: the owner's shard fsynced, one more replica holds it"),
        Case(INCR, M_RF2, manhattan_add, m(RF2, "ONE"), pids,
             "RF=2, ONE: the owner's shard fsynced, the replica in the background"),
    ]
    for system, appendfsync, wait, note in (
            (R_ASYNC, "everysec", False, "INCRBY; appendfsync everysec, async replica"),
            (R_SYNC, "always", True, "INCRBY; appendfsync always, then WAIT 1")):
        servers = _redis(root, appendfsync, notes, system, 0, stack)
        if servers is not None:
            cases.append(Case(INCR, system, redis_incr, {"ports": servers.ports, "wait": wait},
                              servers.pids, note))
    return cases


# Manhattan row over the peer row, per level: (mine, peer, target at one caller).
PAIRS = ((M_RF3, R_ASYNC, ONE_CALLER_TARGET), (M_RF3, R_SYNC, None), (M_RF2, R_ASYNC, None))


def ratios_of(rows: list[Row]) -> list[Ratio]:
    """Each pair at each level that was measured (the target only at one caller)."""
    index = {(r.workload, r.system): r for r in rows}
    out = []
    for level in LEVELS:
        workload = f"{INCR}, {level} callers"
        for mine, peer, target in PAIRS:
            if (workload, mine) in index and (workload, peer) in index:
                out.append(ratio(f"{workload}: {mine} / {peer}", index[workload, mine],
                                 index[workload, peer], target if level == 1 else None))
    return out


def results_of(rows: list[Row], ratios: list[Ratio]) -> list[Result]:
    """The per-level rows for bench/run.py's table, each Manhattan row beside its peer."""
    by_name = {f"{r.workload} / {r.system}": r for r in rows if "peak" not in r.workload}

    def result(row: Row) -> Result:
        lat = row.latency_us
        return Result(NAME, f"{row.workload}: {row.system}", row.unit, len(row.runs),
                      len(row.runs), 0.0, row.median, lat.get("p50_us", float("nan")),
                      lat.get("p99_us", float("nan")), note=row.note, runs=list(row.runs))

    out = {name: result(row) for name, row in by_name.items()}
    for r in ratios:
        mine, peer = out[r.numerator], out[r.denominator]
        peer.is_baseline = True
        if mine.baseline is None:
            mine.baseline, mine.ratio = peer.name, r.value
            mine.target = r.target
    return list(out.values())


def run(settings: Settings, progress: Progress = lambda _msg: None,
        workdir: Path | None = None) -> list[Result]:
    """Start 3 nodes and two Redis Clusters; 1 and 16 callers; stop; write counters.json."""
    notes: list[str] = []
    levels = settings.callers or LEVELS
    began = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="manhattan-bench-counters-", dir=workdir) as tmp, \
            contextlib.ExitStack() as stack:
        root = Path(tmp)
        progress("starting 3 Manhattan nodes")
        lc = start_cluster(root, stack)
        token = _setup(lc, progress)
        cases = build_cases(lc, token, root, notes, stack)
        progress("starting the client processes")
        pool = stack.enter_context(ClientPool())
        measure(pool, cases, tuple(levels), settings, progress)
    rows = [row for case in cases for row in rows_of(case)]
    notes += [
        f"{settings.rounds} interleaved run(s) of {phase_seconds(settings):.1f} s per case "
        f"and level ({', '.join(map(str, levels))} callers over {pool.processes} client "
        f"processes), after {settings.warmup} s warm-up; {COUNTERS} counters cycled",
        f"suite wall time {time.monotonic() - began:.0f} s; {load_note()} at the end",
    ]
    ratios = ratios_of(rows)
    report.write_results(report.results_dir(), NAME, TITLE, rows=rows, ratios=ratios,
                         versions={}, notes=notes,
                         settings={"runs": settings.rounds, "seconds": settings.seconds,
                                   "warmup_s": settings.warmup, "quick": settings.quick,
                                   "levels": list(levels), "client_processes": pool.processes})
    return results_of(rows, ratios)
