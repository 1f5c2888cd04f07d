"""Targets suite: the issue's single-operation targets, each against its peer, same run.

One process measures every case in interleaved runs (each run: every case once,
the first case rotating), after a warm-up, one call at a time:

* get of 100 B at ONE   vs the bare grpc echo (bench/echo.py)   target >= 0.8x
                        vs etcd get, linearizable and serializable  target >= 1.0x each
* put of 100 B at QUORUM vs etcd put                               target >= 1.0x
  Like with like on durability: etcd fsyncs every put (Raft log) before the ack,
  so the target is on Manhattan's QUORUM SYNC put (2 of 3 replicas fsynced);
  QUORUM BUFFERED (in the WAL, not fsynced) is reported next to it, no target.
* put_many of 100 at QUORUM (BUFFERED, 10 pkeys x 10) vs Redis Cluster pipelines
  of 100 SETs (AOF everysec: neither fsyncs before the ack)  records/s, >= 1.0x

The Manhattan side reuses bench/cluster.py's setup (tenant, dataset, keys).
Peers that cannot be installed or started are left out with a note.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc

from manhattan.bench import report
from manhattan.bench.cluster import (
    BATCH, BATCH_LKEYS, BATCH_PKEYS, DATASET, GET_KEYS, KEY_SPACE, PER_PKEY, PUT_KEYS,
    VALUE, _setup_dataset, start_cluster,
)
from manhattan.bench.common import MIN_RUN_S, MIN_RUNS, Result, Settings, run_sync
from manhattan.bench.echo import EchoProcess, sync_echo
from manhattan.bench.peers.stores import EtcdStore, start_peers, stop_peers
from manhattan.bench.rows import Ratio, Row, ratio
from manhattan import __version__ as manhattan_version
from manhattan.bench.stats import CpuMeter, Latencies
from manhattan.bench.workloads import Key
from manhattan.client import (
    Client, Consistency, Durability, Put, RoundRobinPolicy, TokenAwarePolicy,
)

NAME = "targets"
TITLE = "Targets (single operations, one client thread, same run: Manhattan vs its peers)"
GET, PUT, PUT_MANY = "get 100 B", "put 100 B", f"put_many x{BATCH}"
ECHO, ETCD_LIN, ETCD_SER = "grpc echo", "etcd (linearizable)", "etcd (serializable)"
M_GET, M_PUT_SYNC, M_PUT_BUF = "manhattan ONE", "manhattan QUORUM SYNC", \
    "manhattan QUORUM BUFFERED"
M_GET_STICKY = "manhattan ONE (sticky routing)"
M_MANY, REDIS_MANY = "manhattan QUORUM BUFFERED", "redis-cluster pipeline"
ETCD_PUT = "etcd"
Progress = Callable[[str], None]


@dataclass
class Case:
    """One (workload, system) measured: its call, PIDs and what its runs gathered."""

    workload: str
    system: str
    call: Callable[[int], Any]
    pids: list[int]
    per_call: int = 1
    note: str = ""
    runs: list[float] = field(default_factory=list)
    latencies: Latencies = field(default_factory=Latencies)
    calls: int = 0
    cpu_s: list[float] = field(default_factory=lambda: [0.0, 0.0])
    next_index: int = 0
    suite: str = NAME  # the suite whose results the row goes to

    def row(self) -> Row:
        units = self.calls * self.per_call
        row = Row(self.suite, self.workload, self.system, "records" if self.per_call > 1 else "ops",
                  runs=list(self.runs),
                  cpu_server_us=self.cpu_s[0] * 1e6 / units if self.pids and units else None,
                  cpu_client_us=self.cpu_s[1] * 1e6 / units if units else None,
                  note=self.note)
        row.set_latencies(self.latencies)
        return row


def measure(cases: list[Case], settings: Settings, progress: Progress) -> None:
    """Warm every case up, then interleaved runs; rate = units / elapsed per run."""
    runs = settings.rounds if settings.quick else max(settings.rounds, MIN_RUNS)
    seconds = settings.seconds / settings.rounds
    seconds = min(seconds, 0.3) if settings.quick else max(seconds, MIN_RUN_S)
    for case in cases:
        progress(f"warm-up {case.workload}: {case.system}")
        _, lat = run_sync(case.call, settings.warmup, None, case.next_index)
        case.next_index += len(lat)
    for number in range(runs):
        shift = number % len(cases)
        for case in cases[shift:] + cases[:shift]:
            progress(f"run {number + 1}/{runs}: {case.workload}: {case.system}")
            meter = CpuMeter(case.pids)
            before = meter.sample()
            if settings.ops is not None:
                budget, calls = None, max(1, settings.ops // runs // case.per_call)
            else:
                budget, calls = seconds, None
            elapsed, lat = run_sync(case.call, budget, calls, case.next_index)
            after = meter.sample()
            case.next_index += len(lat)
            case.calls += len(lat)
            case.runs.append(len(lat) * case.per_call / elapsed if elapsed else 0.0)
            case.cpu_s[0] += after.server_s - before.server_s
            case.cpu_s[1] += after.client_s - before.client_s
            for ns in lat:
                case.latencies.record_ns(ns)


# -- the cases ---------------------------------------------------------------------------


def _get_one(client: Client) -> Callable[[int], None]:
    """A get at ONE of the i-th filled key (every one must be there)."""
    ds = client.dataset(DATASET)
    one, n = Consistency.ONE, KEY_SPACE

    def get_one(i: int) -> None:
        pkey, lkey = GET_KEYS[i % n]
        if ds.get(pkey, lkey, consistency=one) is None:
            raise RuntimeError(f"benchmark key {pkey!r}/{lkey!r} is missing")
    return get_one


def _sticky_get_case(client: Client, pids: list[int]) -> Case:
    """get at ONE from a client whose routing keeps the replica that answered last
    first (``TokenAwarePolicy(sticky=True)``): one hot coordinator instead of a
    different node process woken for every call."""
    client.refresh_topology()
    return Case(GET, M_GET_STICKY, _get_one(client), pids,
                note="the SDK's sticky replica routing: the replica that answered last goes "
                     "first while it is a replica of the key")


def _manhattan_cases(client: Client, pids: list[int]) -> list[Case]:
    ds = client.dataset(DATASET)
    quorum = Consistency.QUORUM
    buffered, durable = Durability.BUFFERED, Durability.SYNC
    n, payload = KEY_SPACE, VALUE

    def put_sync(i: int) -> None:
        pkey, lkey = PUT_KEYS[i % n]
        ds.put(pkey, lkey, payload, consistency=quorum, durability=durable)

    def put_buffered(i: int) -> None:
        pkey, lkey = PUT_KEYS[i % n]
        ds.put(pkey, lkey, payload, consistency=quorum, durability=buffered)

    def put_many(i: int) -> None:
        base = (i * BATCH_PKEYS) % KEY_SPACE
        ds.put_many([Put(b"s%07d" % (base + j // PER_PKEY), lkey, payload)
                     for j, lkey in enumerate(BATCH_LKEYS)],
                    consistency=quorum, durability=buffered)

    client.refresh_topology()
    return [
        Case(GET, M_GET, _get_one(client), pids, note="token-aware routing to a replica, which "
             "answers from its own copy"),
        Case(PUT, M_PUT_SYNC, put_sync, pids, note="acked once 2 of 3 replicas fsynced it "
             "(group commit): like etcd, durable at the ack"),
        Case(PUT, M_PUT_BUF, put_buffered, pids, note="acked once 2 of 3 replicas have it in "
             "their WAL, not fsynced: not like for like with etcd"),
        Case(PUT_MANY, M_MANY, put_many, pids, per_call=BATCH,
             note=f"{BATCH_PKEYS} pkeys x {PER_PKEY} records; the SDK splits by replica set "
                  "and sends the parts in parallel"),
    ]


def _etcd_cases(server: Any, keys: int, progress: Progress,
                stack: contextlib.ExitStack) -> list[Case]:
    client = stack.enter_context(server.client())
    progress(f"filling {keys:,} keys into etcd")
    EtcdStore(client).load([(Key(p, l), VALUE) for p, l in GET_KEYS[:keys]])
    names = [p + b"/" + l for p, l in GET_KEYS[:keys]]
    put_names = [p + b"/" + l for p, l in PUT_KEYS]
    get, put = client.get, client.put

    def get_lin(i: int) -> None:
        if get(names[i % keys]) is None:
            raise RuntimeError("etcd benchmark key missing")

    def get_ser(i: int) -> None:
        if get(names[i % keys], serializable=True) is None:
            raise RuntimeError("etcd benchmark key missing")

    def put_one(i: int) -> None:
        put(put_names[i % KEY_SPACE], VALUE)

    pids = list(server.pids)
    return [
        Case(GET, ETCD_LIN, get_lin, pids, note="etcd's default: the leader confirms it "
             "still leads (ReadIndex) before answering"),
        Case(GET, ETCD_SER, get_ser, pids, note="served from the member's local store"),
        Case(PUT, ETCD_PUT, put_one, pids, note="Raft commit, fsynced before the ack "
             "(single member)"),
    ]


def _redis_cluster_case(server: Any, stack: contextlib.ExitStack) -> Case:
    client = server.client()
    stack.callback(client.close)

    def pipeline(i: int) -> None:
        base = (i * BATCH_PKEYS) % KEY_SPACE
        pipe = client.pipeline(transaction=False)
        for j in range(BATCH):
            pipe.set(b"s%07d:%d" % (base + j // PER_PKEY, j % PER_PKEY), VALUE)
        pipe.execute()

    return Case(PUT_MANY, REDIS_MANY, pipeline, list(server.pids), per_call=BATCH,
                note=f"redis-py RedisCluster pipeline of {BATCH} SETs (split per master, "
                     "hiredis); AOF everysec, async replicas")


# -- ratios and run.py's table -----------------------------------------------------------


RATIOS = (  # (name, numerator, denominator, target, note)
    ("get ONE / grpc echo", (GET, M_GET), (GET, ECHO), 0.8,
     "default routing: token-aware, replicas rotated"),
    ("get ONE sticky / grpc echo", (GET, M_GET_STICKY), (GET, ECHO), 0.8,
     "sticky replica routing (TokenAwarePolicy(sticky=True))"),
    ("get ONE sticky / etcd linearizable get", (GET, M_GET_STICKY), (GET, ETCD_LIN), 1.0, ""),
    ("get ONE / etcd linearizable get", (GET, M_GET), (GET, ETCD_LIN), 1.0, ""),
    ("get ONE / etcd serializable get", (GET, M_GET), (GET, ETCD_SER), 1.0, ""),
    ("put QUORUM SYNC / etcd put", (PUT, M_PUT_SYNC), (PUT, ETCD_PUT), 1.0,
     "like with like: both durable (fsynced) at the ack"),
    ("put QUORUM BUFFERED / etcd put", (PUT, M_PUT_BUF), (PUT, ETCD_PUT), None,
     "not like with like: Manhattan does not fsync before the ack here"),
    (f"put_many x{BATCH} QUORUM / Redis Cluster pipeline x{BATCH}", (PUT_MANY, M_MANY),
     (PUT_MANY, REDIS_MANY), 1.0, "records/s; neither fsyncs before the ack"),
)


def ratios_of(rows: list[Row], table: tuple = RATIOS) -> list[Ratio]:
    """The ``table``'s ratios (name, numerator, denominator, target, note) over ``rows``."""
    index = {(r.workload, r.system): r for r in rows}
    return [ratio(name, index[a], index[b], target, note)
            for name, a, b, target, note in table if a in index and b in index]


def results_of(rows: list[Row], ratios: list[Ratio], suite: str = NAME) -> list[Result]:
    """A section per denominator: it as the baseline, then each numerator with its ratio."""
    index = {f"{r.workload} / {r.system}": r for r in rows}
    out: list[Result] = []

    def result(row: Row) -> Result:
        lat = row.latency_us
        return Result(suite, f"{row.workload}: {row.system}", row.unit, len(row.runs),
                      len(row.runs), 0.0, row.median, lat.get("p50_us", float("nan")),
                      lat.get("p99_us", float("nan")),
                      per_call="op" if row.unit == "ops" else f"batch of {BATCH}",
                      note=row.note, runs=list(row.runs))

    for denominator in dict.fromkeys(r.denominator for r in ratios):
        base = result(index[denominator])
        base.is_baseline = True
        out.append(base)
        for r in ratios:
            if r.denominator == denominator:
                mine = result(index[r.numerator])
                mine.baseline, mine.ratio, mine.target = base.name, r.value, r.target
                out.append(mine)
    return out


# -- the suite ---------------------------------------------------------------------------


def run(settings: Settings, progress: Progress = lambda _msg: None,
        workdir: Path | None = None) -> list[Result]:
    """Start Manhattan, echo, etcd and Redis Cluster; measure; stop; write targets.json."""
    notes: list[str] = []
    versions: dict[str, str] = {}
    etcd_keys = 300 if settings.quick else KEY_SPACE
    with tempfile.TemporaryDirectory(prefix="manhattan-bench-targets-", dir=workdir) as tmp, \
            contextlib.ExitStack() as stack:
        root = Path(tmp)
        progress("starting 3 Manhattan nodes and the echo server")
        lc = start_cluster(root, stack)
        echo = EchoProcess()
        stack.callback(echo.stop)
        echo.start()
        token = _setup_dataset(lc, progress)
        peers = start_peers(root, notes, ("etcd", "redis-cluster"), progress)
        stack.callback(stop_peers, peers)

        channel = stack.enter_context(grpc.insecure_channel(echo.address))
        echo_call = sync_echo(channel)
        echo_pid = echo.proc.pid if echo.proc is not None else None
        cases = [Case(GET, ECHO, lambda i: echo_call(VALUE), [echo_pid] if echo_pid else [],
                      note="bare grpc.aio echo server in its own process, sync grpc client")]
        client = stack.enter_context(Client(lc.endpoints, token=token))
        node_pids = [n.proc.pid for n in lc.nodes if n.proc is not None]
        cases += _manhattan_cases(client, node_pids)
        sticky = stack.enter_context(Client(lc.endpoints, token=token, routing=TokenAwarePolicy(
            RoundRobinPolicy(lc.endpoints, discover=True), sticky=True)))
        cases.append(_sticky_get_case(sticky, node_pids))
        versions["manhattan"] = f"manhattan {manhattan_version}"
        versions["grpc echo"] = f"grpcio {grpc.__version__}"
        if "etcd" in peers:
            cases += _etcd_cases(peers["etcd"].server, etcd_keys, progress, stack)
            versions["etcd"] = peers["etcd"].version
        if "redis-cluster" in peers:
            cases.append(_redis_cluster_case(peers["redis-cluster"].server, stack))
            versions["redis-cluster"] = peers["redis-cluster"].version
        measure(cases, settings, progress)

    rows = [case.row() for case in cases]
    ratios = ratios_of(rows)
    runs = len(cases[0].runs)
    notes += [
        f"{runs} interleaved run(s) per case after {settings.warmup} s warm-up; one client "
        "thread, one call at a time; 100-byte values",
        "durability: etcd fsyncs every put, so its like-for-like Manhattan put is QUORUM SYNC "
        "(the target's row); QUORUM BUFFERED is shown next to it without a target",
        "CPU µs per unit: server = the system's processes (Manhattan: 3 nodes; Redis "
        "Cluster: 6; echo: its server), client = this process",
    ]
    report.write_results(report.results_dir(), NAME, TITLE, rows=rows, ratios=ratios,
                         versions=versions, notes=notes,
                         settings={"runs": runs, "seconds": settings.seconds,
                                   "warmup_s": settings.warmup, "quick": settings.quick,
                                   "ops": settings.ops, "etcd_keys": etcd_keys,
                                   "batch": BATCH, "value_bytes": len(VALUE)})
    return results_of(rows, ratios)
