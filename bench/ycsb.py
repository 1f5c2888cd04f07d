"""YCSB suite: workloads A-F on Manhattan (ONE, QUORUM) and its peers, side by side.

Started here, on loopback, stopped after: a 3-node RF=3 Manhattan LocalCluster,
a single Redis, a 3+3 Redis Cluster, one etcd node, and rocksdict in this
process (the limit: no network). Every system gets the same load phase and the
same pre-generated operations (manhattan.bench.workloads: seeded, scrambled zipfian /
latest, values 100 B..1 KB, keys mapped to (bucket, item) so that E's scans are
real scans), from one client thread, one call at a time.

Method: load every system; then per workload a warm-up on every system and
``runs`` interleaved runs (run 1 on every system, then run 2..., the starting
system rotating). A row: the rate of each run, percentiles of the merged
HdrHistogram, server CPU µs/op (every process of that system) and client CPU
µs/op (this process). The two Manhattan rows share one dataset: inserts of the
second level overwrite the first's (same keys, same values).
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import math
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

from manhattan.bench import report
from manhattan.bench.cluster import SETTLE_S, _all_alive, _on_every_node
from manhattan.bench.common import Result, Settings
from manhattan.bench.peers.stores import RocksStore, peer_store, start_peers, stop_peers
from manhattan.bench.rows import Ratio, Row, ratio
from manhattan import __version__ as manhattan_version
from manhattan.bench.driver import PhaseResult, load_phase, run_phase
from manhattan.bench.manhattan_store import ManhattanStore
from manhattan.bench.stats import CpuMeter
from manhattan.bench.workloads import (
    SCAN, WORKLOADS, KeyMap, Operation, OperationStream, Store, load_items,
)
from manhattan.client import Client, Consistency, Durability
from manhattan.node.local_cluster import LocalCluster

NAME = "ycsb"
TITLE = "YCSB A-F (one client thread; Manhattan 3 nodes RF=3 vs Redis, Redis Cluster, etcd)"
ORDER = "ABCFDE"  # YCSB's advice: the inserting workloads (D, E) last
TENANT, DATASET = "ycsb", "usertable"
MANHATTAN = ("manhattan ONE", "manhattan QUORUM")
PEERS = ("redis", "redis-cluster", "etcd")
LIMIT = "rocksdict in-process"
BASELINE = "redis-cluster"  # the section baseline in run.py's table
Progress = Callable[[str], None]


@dataclass(frozen=True)
class Shape:
    """How big: records loaded, operations per run (E: a quarter, scans are long)."""

    records: int
    ops_per_run: int
    warmup_ops: int
    runs: int
    buckets: int
    value_min: int = 100
    value_max: int = 1000
    seed: int = 42
    load_batch: int = 500

    def ops_for(self, workload: str) -> int:
        return max(1, self.ops_per_run // 4) if workload == "E" else self.ops_per_run


def shape_for(settings: Settings) -> Shape:
    """Quick: tiny but every system and workload; full: >= 3 runs of 2,000 ops."""
    runs = settings.rounds if settings.quick else max(settings.rounds, 3)
    if settings.quick:
        records, ops, warmup = 500, 80, 10
    else:
        records, ops, warmup = 20_000, 2_000, 300
    if settings.ops is not None:
        ops = max(1, math.ceil(settings.ops / runs))
    return Shape(records, ops, warmup, runs, buckets=max(4, records // 1000))


@dataclass
class System:
    """A store under test, the PIDs whose CPU it costs, and what it has done."""

    name: str
    store: Store
    pids: list[int]
    version: str
    in_process: bool = False
    failed: str = ""
    results: dict[str, list[PhaseResult]] = field(default_factory=dict)
    cpu: dict[str, list[float]] = field(default_factory=dict)  # workload -> [server, client] s


# -- systems ------------------------------------------------------------------------


def _create_dataset(lc: LocalCluster, progress: Progress) -> str:
    """Tenant + RF=3 dataset, known to every node. Returns the tenant token."""
    progress("waiting for every node to see the others alive")
    time.sleep(SETTLE_S)
    _on_every_node(lc, _all_alive, "all members alive")
    with Client(lc.endpoints, token=lc.admin_token) as admin:
        token = admin.admin.create_tenant(TENANT)
        admin.admin.create_dataset(DATASET, tenant=TENANT, replication_factor=3)
    _on_every_node(lc, lambda c: DATASET in {d.name for d in c.admin.list_datasets()},
                   "the dataset known")
    return token


@contextlib.contextmanager
def systems_up(root: Path, notes: list[str], progress: Progress) -> Iterator[list[System]]:
    """Start everything; yield the systems; stop everything (by PID) whatever happens."""
    with contextlib.ExitStack() as stack:
        progress("starting 3 Manhattan nodes")
        lc = LocalCluster(root / "manhattan", nodes=3, base_port=None)
        stack.callback(lc.stop)
        lc.start().wait_converged()
        token = _create_dataset(lc, progress)
        client = stack.enter_context(Client(lc.endpoints, token=token))
        dataset = client.dataset(DATASET)
        node_pids = [n.proc.pid for n in lc.nodes if n.proc is not None]
        systems = [System(name, ManhattanStore(dataset, consistency=level,
                                               durability=Durability.BUFFERED, name=name),
                          node_pids, f"manhattan {manhattan_version}")
                   for name, level in zip(MANHATTAN, (Consistency.ONE, Consistency.QUORUM))]
        peers = start_peers(root, notes, PEERS, progress)
        stack.callback(stop_peers, peers)
        for peer in peers.values():
            store = peer_store(peer)
            stack.callback(store.close)
            systems.append(System(peer.system, store, peer.pids, peer.version))
        rocks = RocksStore(root / "rocksdict")
        stack.callback(rocks.close)
        systems.append(System(LIMIT, rocks, [], f"rocksdict {_version('rocksdict')}",
                              in_process=True))
        yield systems


def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


# -- measuring ------------------------------------------------------------------------


def _load(systems: list[System], shape: Shape, keys: KeyMap, notes: list[str],
          progress: Progress) -> None:
    loaded: set[int] = set()  # the Manhattan levels share one dataset: load it once
    for system in systems:
        dataset = getattr(system.store, "dataset", None)
        if dataset is not None and id(dataset) in loaded:
            continue
        progress(f"loading {shape.records:,} records into {system.name}")
        try:
            result = load_phase(system.store, load_items(shape.records, shape.seed, keys,
                                                         shape.value_min, shape.value_max),
                                shape.load_batch)
        except Exception as exc:  # a broken peer must not sink the others
            system.failed = f"load failed: {type(exc).__name__}: {exc}"
            continue
        if dataset is not None:
            loaded.add(id(dataset))
        notes.append(f"load {system.name}: {result.operations:,} records in "
                     f"{result.elapsed_s:.1f} s ({result.rate:,.0f}/s, batches of "
                     f"{shape.load_batch}, each system's bulk path)")


def _run(system: System, workload: str, operations: list[Operation], measured: bool) -> None:
    if system.failed:
        return
    meter = CpuMeter(system.pids)
    before = meter.sample()
    try:
        result = run_phase(system.store, operations)
    except Exception as exc:
        system.failed = f"{workload}: {type(exc).__name__}: {exc}"
        return
    after = meter.sample()
    if measured:
        system.results.setdefault(workload, []).append(result)
        cpu = system.cpu.setdefault(workload, [0.0, 0.0])
        cpu[0] += after.server_s - before.server_s
        cpu[1] += after.client_s - before.client_s


def measure(systems: list[System], shape: Shape, notes: list[str], progress: Progress) -> None:
    """Load, then for each workload: warm-up and interleaved runs on every system."""
    keys = KeyMap(shape.buckets)
    _load(systems, shape, keys, notes, progress)
    key_count = shape.records
    for workload in ORDER:
        per_run = shape.ops_for(workload)
        stream = OperationStream(WORKLOADS[workload], key_count, shape.seed, keys=keys,
                                 value_min=shape.value_min, value_max=shape.value_max,
                                 expected_inserts=shape.warmup_ops + per_run * shape.runs)
        warmup = stream.take(shape.warmup_ops)
        runs = [stream.take(per_run) for _ in range(shape.runs)]
        key_count = stream.key_count  # the next workload inserts after these
        for system in systems:
            progress(f"{workload}: warm-up {system.name}")
            _run(system, workload, warmup, measured=False)
        for number, operations in enumerate(runs):
            shift = number % len(systems)  # rotate who goes first, run by run
            for system in systems[shift:] + systems[:shift]:
                progress(f"{workload}: run {number + 1}/{shape.runs} {system.name}")
                _run(system, workload, operations, measured=True)


# -- rows, ratios, results ------------------------------------------------------------


def rows_of(systems: list[System]) -> list[Row]:
    rows = []
    for workload in ORDER:
        for system in systems:
            results = system.results.get(workload)
            if not results or system.failed:
                continue
            merged = PhaseResult()
            for result in results:
                merged.merge(result)
            server_s, client_s = system.cpu[workload]
            notes = []
            if merged.misses:
                notes.append(f"{merged.misses} reads found nothing")
            scans = merged.counts.get(SCAN, 0)
            if scans:
                notes.append(f"mean scan {merged.scanned / scans:.1f} records")
            if system.in_process:
                notes.append("in process: all its CPU is client CPU")
            row = Row(NAME, workload, system.name, "ops",
                      runs=[r.rate for r in results],
                      cpu_server_us=None if system.in_process
                      else server_s * 1e6 / merged.operations,
                      cpu_client_us=client_s * 1e6 / merged.operations,
                      note="; ".join(notes))
            row.set_latencies(merged.latencies())
            rows.append(row)
    return rows


def ratios_of(rows: list[Row]) -> list[Ratio]:
    """Manhattan (each level) over each peer and over the in-process limit; no targets."""
    index = {(r.workload, r.system): r for r in rows}
    out = []
    for workload in ORDER:
        for ours in MANHATTAN:
            for theirs in (*PEERS, LIMIT):
                a, b = index.get((workload, ours)), index.get((workload, theirs))
                if a and b:
                    out.append(ratio(f"YCSB {workload}: {ours} / {theirs}", a, b))
    return out


def results_of(rows: list[Row]) -> list[Result]:
    """Rows as run.py Results: per workload a section, Redis Cluster as its baseline."""
    out = []
    for workload in ORDER:
        section = [r for r in rows if r.workload == workload]
        if not section:
            continue
        base = next((r for r in section if r.system == BASELINE), section[0])
        for row in [base] + [r for r in section if r is not base]:
            lat = row.latency_us
            result = Result(NAME, f"{workload}: {row.system}", "ops", len(row.runs),
                            len(row.runs), 0.0, row.median, lat.get("p50_us", math.nan),
                            lat.get("p99_us", math.nan), is_baseline=row is base, note=row.note)
            if row is not base:
                result.baseline = f"{workload}: {base.system}"
                result.ratio = row.median / base.median if base.median else None
            out.append(result)
    return out


def run(settings: Settings, progress: Progress = lambda _msg: None,
        workdir: Path | None = None) -> list[Result]:
    """Start every system, measure A-F, stop them all; write <results>/ycsb.json."""
    shape = shape_for(settings)
    notes: list[str] = []
    with tempfile.TemporaryDirectory(prefix="manhattan-bench-ycsb-", dir=workdir) as tmp:
        with systems_up(Path(tmp), notes, progress) as systems:
            measure(systems, shape, notes, progress)
            versions = {s.name: s.version for s in systems}
            failed = [f"{s.name} failed and is left out: {s.failed}" for s in systems if s.failed]
    rows = rows_of(systems)
    ratios = ratios_of(rows)
    notes = failed + notes + [
        f"{shape.runs} interleaved run(s) per workload after {shape.warmup_ops} warm-up ops; "
        f"{shape.ops_per_run} ops per run (E: {shape.ops_for('E')}); one client thread",
        f"{shape.records:,} records in {shape.buckets} buckets; values uniform "
        f"{shape.value_min}..{shape.value_max} B; seed {shape.seed}; scrambled zipfian 0.99 "
        "(D: latest)",
        "Manhattan: BUFFERED writes (WAL, fsynced in the background), loaded at ALL; "
        "reads/scans at the row's level; a scan is one scan_page of one pkey (bucket)",
        "Redis / Redis Cluster: appendfsync everysec; a scan is ZRANGEBYLEX on the bucket's "
        "sorted set + MGET (two round trips); inserts pipeline SET + ZADD; keys hash-tagged "
        "{bucket} so a bucket lives in one Redis Cluster slot",
        "etcd: linearizable reads and scans (its default; serializable=False), every put "
        "fsynced through Raft; a scan is one Range over bucket/",
        "rocksdict: in this process, WAL on, no fsync per write: the machine's limit",
        "CPU µs/op: server = every process of the system (Manhattan: 3 nodes; Redis "
        "Cluster: 6), client = this benchmark process",
    ]
    report.write_results(report.results_dir(), NAME, TITLE, rows=rows, ratios=ratios,
                         versions=versions, notes=notes,
                         settings={**asdict(shape), "quick": settings.quick,
                                   "workloads": ORDER, "client_threads": 1})
    return results_of(rows)
