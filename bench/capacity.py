"""Capacity suite: peak throughput with N callers in flight, like for like with Redis Cluster.

The targets suite times one call at a time: mostly wake-up latency. Here each
case runs with 1, 4, 16 and 64 callers in flight (threads over 2 client
processes, bench/concurrency.py) and reports, per case:

* the rate at each level (``get 100 B, 16 callers``), over interleaved runs;
* the peak (``get 100 B, peak``): the best level's rate, its p99 when paced at
  70% of that peak (open loop, latency from when a call was due), and CPU per
  operation of every process (servers and both client processes) at the peak.

Systems, durability paired like for like:

* ``manhattan RF2 W1 R1`` (RF = 2, writes and reads at ONE, BUFFERED) beside
  ``redis-cluster`` (3 masters + 3 asynchronous replicas, ``appendfsync everysec``);
* ``manhattan RF2 QUORUM SYNC`` (both replicas fsynced) beside
  ``redis-cluster always+WAIT 1`` (``appendfsync always``, then ``WAIT 1``);
* ``manhattan RF3 QUORUM`` (BUFFERED): the designed row.

Peers that cannot be installed or started are left out with a note.
"""

from __future__ import annotations

import contextlib
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from manhattan.bench import report
from manhattan.bench.cluster import DATASET, GET_KEYS, KEY_SPACE, LOAD_BATCH, VALUE, \
    _on_every_node, _setup_dataset, fill, start_cluster
from manhattan.bench.common import MIN_RUN_S, Result, Settings, load_note
from manhattan.bench.concurrency import LEVELS, LOAD_FRACTION, ClientPool, PhaseResult, \
    PhaseSpec, server_cpu_s
from manhattan.bench.peers.redis import RedisClusterServers
from manhattan.bench.rows import Ratio, Row, ratio
from manhattan.bench.stats import Latencies

NAME = "capacity"
TITLE = "Capacity (N callers in flight over 2 client processes; peak, p99 at 70%, CPU/op)"
GET, PUT = "get 100 B", "put 100 B"
BATCH = 100  # records per put_many (10 pkeys x 10) and per Redis Cluster pipeline
PUT_MANY = f"put_many x{BATCH}"
QUICK_LEVELS = (1, 4)
QUICK_KEYS = 1_000  # keys the gets read (and puts cycle through) in a quick run
QUICK_PHASE_S = 0.5  # at most, per phase, in a quick run
RF2_DATASET = "kv2"
M_RF2, M_RF2_SYNC, M_RF3 = "manhattan RF2 W1 R1", "manhattan RF2 QUORUM SYNC", \
    "manhattan RF3 QUORUM"
R_ASYNC, R_SYNC = "redis-cluster", "redis-cluster always+WAIT 1"
WAIT_TIMEOUT_MS = 1000
Progress = Callable[[str], None]


# -- the calls, built inside each client process -------------------------------------------


def manhattan_call(config: dict[str, Any]) -> Callable[[int], object]:
    """A get or put of 100 B through one shared SDK client (it is thread-safe)."""
    from manhattan.client import Client, Consistency, Durability, Put

    client = Client(config["endpoints"], token=config["token"])
    ds = client.dataset(config["dataset"])
    consistency = Consistency[config["consistency"]]
    durability = Durability[config["durability"]]
    n = config["keys"]
    if config["op"] == "get":
        def get(i: int) -> object:
            pkey, lkey = GET_KEYS[i % n]
            if ds.get(pkey, lkey, consistency=consistency) is None:
                raise RuntimeError(f"benchmark key {pkey!r}/{lkey!r} is missing")
            return None
        return get

    if config["op"] == "put_many":
        def put_many(i: int) -> object:
            return ds.put_many([Put(b"m%07d" % ((i * 10 + j // 10) % n), b"l%03d" % j, VALUE)
                                for j in range(BATCH)],
                               consistency=consistency, durability=durability)
        return put_many

    def put(i: int) -> object:
        return ds.put(b"c%07d" % (i % n), b"l", VALUE, consistency=consistency,
                      durability=durability)
    return put


def redis_call(config: dict[str, Any]) -> Callable[[int], object]:
    """A get, a set, or a set followed by ``WAIT 1`` on the key's master (one pipeline,
    so WAIT runs on the connection that wrote)."""
    from redis.cluster import ClusterNode, RedisCluster

    cluster = RedisCluster(startup_nodes=[ClusterNode("127.0.0.1", p) for p in config["ports"]])
    n = config["keys"]
    keys = [b"%s/%s" % key for key in GET_KEYS[:n]]
    op = config["op"]
    if op == "get":
        def get(i: int) -> object:
            if cluster.get(keys[i % n]) is None:
                raise RuntimeError(f"benchmark key {keys[i % n]!r} is missing")
            return None
        return get
    if op == "set":
        return lambda i: cluster.set(b"c%07d" % (i % n), VALUE)
    if op == "pipeline":
        def pipeline(i: int) -> object:
            pipe = cluster.pipeline()
            for j in range(BATCH):
                pipe.set(b"m%07d/l%03d" % ((i * 10 + j // 10) % n, j), VALUE)
            return pipe.execute()
        return pipeline

    return lambda i: then_wait(cluster, b"c%07d" % (i % n), "SET", VALUE)


def then_wait(cluster: Any, key: bytes, *command: object) -> None:
    """``command`` on ``key``'s master, then ``WAIT 1`` in the same pipeline (so WAIT runs
    on the connection that wrote); RuntimeError when no replica acknowledged in time."""
    pipe = cluster.get_redis_connection(cluster.get_node_from_key(key)).pipeline(
        transaction=False)
    pipe.execute_command(command[0], key, *command[1:])
    pipe.execute_command("WAIT", 1, WAIT_TIMEOUT_MS)
    _, acked = pipe.execute()
    if acked < 1:
        raise RuntimeError(f"WAIT 1 timed out for {key!r}")


# -- cases ------------------------------------------------------------------------------------


@dataclass
class Case:
    """One (workload, system): how to build its call, its servers, what it gathered."""

    workload: str
    system: str
    factory: Callable[[dict[str, Any]], Callable[[int], object]]
    config: dict[str, Any]
    pids: list[int]
    note: str = ""
    per_call: int = 1  # records per call (put_many, pipelines)
    by_level: dict[int, list[PhaseResult]] = field(default_factory=dict)
    server_cpu_s: dict[int, float] = field(default_factory=dict)  # per level, all runs
    paced: PhaseResult | None = None

    def spec(self, callers: int, seconds: float, rate: float | None = None) -> PhaseSpec:
        return PhaseSpec(self.factory, self.config, callers, seconds, rate)

    def peak_level(self) -> int:
        return max(self.by_level, key=lambda n: statistics.median(
            r.rate for r in self.by_level[n]))


def phase_seconds(settings: Settings) -> float:
    """One run of one case at one level: 10 s or more in a full run, short when quick."""
    seconds = settings.seconds / settings.rounds
    return min(seconds, QUICK_PHASE_S) if settings.quick else max(seconds, MIN_RUN_S)


def run_phase(pool: ClientPool, case: Case, spec: PhaseSpec) -> tuple[PhaseResult, float]:
    """One phase, and the CPU seconds its servers burnt over it."""
    before = server_cpu_s(case.pids)
    result = pool.phase(spec)
    return result, server_cpu_s(case.pids) - before


def measure(pool: ClientPool, cases: list[Case], levels: tuple[int, ...], settings: Settings,
            progress: Progress) -> None:
    """Warm up, then interleaved runs (every level of every case, once per run), then a
    paced run per case at 70% of its peak."""
    seconds = phase_seconds(settings)
    for case in cases:
        progress(f"warm-up {case.workload}: {case.system}")
        pool.phase(case.spec(max(levels), settings.warmup))
    for number in range(settings.rounds):
        for level in levels:
            for case in cases:
                progress(f"run {number + 1}/{settings.rounds}: {case.workload}: "
                         f"{case.system}, {level} callers")
                result, cpu = run_phase(pool, case, case.spec(level, seconds))
                case.by_level.setdefault(level, []).append(result)
                case.server_cpu_s[level] = case.server_cpu_s.get(level, 0.0) + cpu
    for case in cases:
        level = case.peak_level()
        peak = statistics.median(r.rate for r in case.by_level[level])
        progress(f"paced at {LOAD_FRACTION:.0%} of peak: {case.workload}: {case.system}")
        case.paced = pool.phase(case.spec(level, seconds, rate=max(peak * LOAD_FRACTION, 1.0)))


def rows_of(case: Case) -> list[Row]:
    """A row per level, then the peak row (p99 from the paced run, CPU at the peak)."""
    rows = []
    for level, results in case.by_level.items():
        merged = Latencies()
        calls = 0
        for r in results:
            merged.merge(r.latencies)
            calls += r.calls
        client_s = sum(r.client_cpu_s for r in results)
        calls *= case.per_call  # CPU per record for batches
        row = Row(NAME, f"{case.workload}, {level} callers", case.system,
                  "records" if case.per_call > 1 else "ops",
                  runs=[r.rate * case.per_call for r in results],
                  cpu_server_us=case.server_cpu_s[level] * 1e6 / calls if calls else None,
                  cpu_client_us=client_s * 1e6 / calls if calls else None, note=case.note)
        row.set_latencies(merged)
        rows.append(row)
    level = case.peak_level()
    best = next(r for r in rows if r.workload == f"{case.workload}, {level} callers")
    peak = Row(NAME, f"{case.workload}, peak", case.system, best.unit, runs=list(best.runs),
               cpu_server_us=best.cpu_server_us, cpu_client_us=best.cpu_client_us,
               note=f"peak at {level} callers; latencies paced at {LOAD_FRACTION:.0%} of it "
                    f"({case.paced.rate:,.0f} calls/s achieved, {case.paced.errors} errors)"
               if case.paced else f"peak at {level} callers")
    if case.paced is not None:
        peak.set_latencies(case.paced.latencies)
    rows.append(peak)
    return rows


# (Manhattan system, peer system) compared at the peak, for each workload: like for like.
PAIRS = ((M_RF2, R_ASYNC), (M_RF2_SYNC, R_SYNC), (M_RF3, R_ASYNC))


def ratios_of(rows: list[Row]) -> list[Ratio]:
    """Peak over peak for each like-for-like pair that was measured."""
    index = {(r.workload, r.system): r for r in rows if r.workload.endswith(", peak")}
    out = []
    for workload in (GET, PUT, PUT_MANY):
        key = f"{workload}, peak"
        for mine, peer in PAIRS:
            if (key, mine) in index and (key, peer) in index:
                out.append(ratio(f"{key}: {mine} / {peer}", index[key, mine],
                                 index[key, peer]))
    return out


def results_of(rows: list[Row], ratios: list[Ratio]) -> list[Result]:
    """The peak rows for bench/run.py's table: a section per peer (its row first, then the
    Manhattan rows compared with it), then any row without a peer."""
    def result(row: Row) -> Result:
        lat = row.latency_us
        return Result(NAME, f"{row.workload}: {row.system}", row.unit, len(row.runs),
                      len(row.runs), 0.0, row.median, lat.get("p50_us", float("nan")),
                      lat.get("p99_us", float("nan")), note=row.note, runs=list(row.runs),
                      per_call="op" if row.unit == "ops" else f"batch of {BATCH}")

    index = {f"{r.workload} / {r.system}": r for r in rows if r.workload.endswith(", peak")}
    out, shown = [], set()
    for denominator in dict.fromkeys(r.denominator for r in ratios):
        base = result(index[denominator])
        base.is_baseline = True
        out.append(base)
        shown.add(denominator)
        for r in ratios:
            if r.denominator == denominator:
                mine = result(index[r.numerator])
                mine.baseline, mine.ratio = base.name, r.value
                out.append(mine)
                shown.add(r.numerator)
    return out + [result(row) for name, row in index.items() if name not in shown]


# -- setup -------------------------------------------------------------------------------------


def _setup_rf2(lc: Any, progress: Progress) -> None:
    """The RF = 2 dataset (reads and writes at ONE by default), filled like the RF = 3 one."""
    from manhattan.client import Client, Consistency

    progress("creating the RF=2 dataset")
    with Client(lc.endpoints, token=lc.admin_token) as admin:
        admin.admin.create_dataset(RF2_DATASET, tenant="bench", replication_factor=2,
                                   read_consistency=Consistency.ONE,
                                   write_consistency=Consistency.ONE)
    _on_every_node(lc, lambda c: RF2_DATASET in {d.name for d in c.admin.list_datasets()},
                   "the RF=2 dataset known")


def _redis(root: Path, appendfsync: str, notes: list[str], system: str, n: int,
           stack: contextlib.ExitStack) -> RedisClusterServers | None:
    try:
        servers = RedisClusterServers(root / appendfsync, appendfsync=appendfsync)
        stack.callback(servers.stop)
        servers.start()
    except Exception as exc:  # PeerMissing, a start timeout, a port clash...
        notes.append(f"{system} skipped: {type(exc).__name__}: {str(exc).splitlines()[0]}")
        return None
    client = servers.client()
    keys = [b"%s/%s" % key for key in GET_KEYS[:n]]
    for start in range(0, len(keys), LOAD_BATCH):
        pipe = client.pipeline()
        for key in keys[start:start + LOAD_BATCH]:
            pipe.set(key, VALUE)
        pipe.execute()
    client.close()
    return servers


def build_cases(lc: Any, token: str, root: Path, notes: list[str], n: int,
                stack: contextlib.ExitStack) -> list[Case]:
    """Every (workload, system) pair whose system started."""
    pids = [n.proc.pid for n in lc.nodes if n.proc is not None]

    def m(dataset: str, op: str, consistency: str, durability: str = "BUFFERED") -> dict:
        return {"endpoints": list(lc.endpoints), "token": token, "dataset": dataset,
                "op": op, "consistency": consistency, "durability": durability, "keys": n}

    cases = [
        Case(GET, M_RF2, manhattan_call, m(RF2_DATASET, "get", "ONE"), pids,
             "RF=2, read at ONE: one replica answers"),
        Case(GET, M_RF3, manhattan_call, m(DATASET, "get", "QUORUM"), pids,
             "RF=3, read at QUORUM: the designed row"),
        Case(PUT, M_RF2, manhattan_call, m(RF2_DATASET, "put", "ONE"), pids,
             "RF=2, W=1, BUFFERED (in the WAL, fsynced in the background)"),
        Case(PUT, M_RF2_SYNC, manhattan_call, m(RF2_DATASET, "put", "QUORUM", "SYNC"), pids,
             "RF=2, both replicas fsynced before the ack"),
        Case(PUT, M_RF3, manhattan_call, m(DATASET, "put", "QUORUM"), pids,
             "RF=3, QUORUM, BUFFERED: the designed row"),
        Case(PUT_MANY, M_RF2, manhattan_call, m(RF2_DATASET, "put_many", "ONE"), pids,
             "RF=2, W=1, BUFFERED; 10 pkeys x 10 records, split by replica set", BATCH),
        Case(PUT_MANY, M_RF3, manhattan_call, m(DATASET, "put_many", "QUORUM"), pids,
             "RF=3, QUORUM, BUFFERED; 10 pkeys x 10 records", BATCH),
    ]
    fast = _redis(root, "everysec", notes, R_ASYNC, n, stack)
    if fast is not None:
        config = {"ports": fast.ports, "keys": n}
        cases += [
            Case(GET, R_ASYNC, redis_call, {**config, "op": "get"}, fast.pids,
                 "3 masters + 3 async replicas; the master answers"),
            Case(PUT, R_ASYNC, redis_call, {**config, "op": "set"}, fast.pids,
                 "appendfsync everysec; acked by the master alone (async replica)"),
            Case(PUT_MANY, R_ASYNC, redis_call, {**config, "op": "pipeline"}, fast.pids,
                 f"redis-py cluster pipeline of {BATCH} SETs (split per master)", BATCH),
        ]
    safe = _redis(root, "always", notes, R_SYNC, n, stack)
    if safe is not None:
        cases.append(Case(PUT, R_SYNC, redis_call,
                          {"ports": safe.ports, "op": "set_wait", "keys": n},
                          safe.pids, "appendfsync always, then WAIT 1 (the replica has it)"))
    order = {GET: 0, PUT: 1, PUT_MANY: 2}
    return sorted(cases, key=lambda c: order[c.workload])


# -- the suite -----------------------------------------------------------------------------------


def levels_for(settings: Settings) -> tuple[int, ...]:
    """``--callers`` when given, else 1, 4, 16, 64 (quick: 1, 4)."""
    if settings.callers:
        return settings.callers
    return QUICK_LEVELS if settings.quick else LEVELS


def run(settings: Settings, progress: Progress = lambda _msg: None,
        workdir: Path | None = None) -> list[Result]:
    """Start 3 nodes and two Redis Clusters; sweep the callers; stop; write capacity.json."""
    notes: list[str] = []
    levels = levels_for(settings)
    began = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="manhattan-bench-capacity-", dir=workdir) as tmp, \
            contextlib.ExitStack() as stack:
        root = Path(tmp)
        progress("starting 3 Manhattan nodes")
        lc = start_cluster(root, stack)
        keys = QUICK_KEYS if settings.quick else KEY_SPACE
        token = _setup_dataset(lc, progress, keys)
        _setup_rf2(lc, progress)
        progress("filling the RF=2 dataset")
        fill(lc.endpoints, token, RF2_DATASET, keys)
        cases = build_cases(lc, token, root, notes, keys, stack)
        progress("starting the client processes")
        pool = stack.enter_context(ClientPool())
        measure(pool, cases, levels, settings, progress)
    rows = [row for case in cases for row in rows_of(case)]
    notes += [
        f"{settings.rounds} interleaved run(s) of {phase_seconds(settings):.1f} s "
        f"per case and level (levels {', '.join(map(str, levels))} callers over "
        f"{pool.processes} client processes), after {settings.warmup} s warm-up",
        f"peak rows: the best level's runs; p50/p99 from a run paced at "
        f"{LOAD_FRACTION:.0%} of that peak (latency from when each call was due)",
        "CPU µs per op: server = the system's processes (Manhattan: 3 nodes; each Redis "
        "Cluster: 6), client = both client processes",
        f"suite wall time {time.monotonic() - began:.0f} s; {load_note()} at the end",
    ]
    ratios = ratios_of(rows)
    report.write_results(report.results_dir(), NAME, TITLE, rows=rows, ratios=ratios,
                         versions={}, notes=notes,
                         settings={"runs": settings.rounds, "seconds": settings.seconds,
                                   "warmup_s": settings.warmup, "quick": settings.quick,
                                   "levels": list(levels), "client_processes": pool.processes,
                                   "value_bytes": len(VALUE)})
    return results_of(rows, ratios)
