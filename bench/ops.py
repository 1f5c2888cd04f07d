"""Operations suite: anti-entropy repair throughput and the streaming rate of a node join.

One invocation: three node processes (RF=3, background repair off), a dataset
loaded with ``RECORDS`` records of 100-byte values, then

* ``manhattan repair`` of the whole dataset while the replicas agree: keys
  compared per second (each exchange hashes the shared ranges on both sides;
  a key counts once per exchange it takes part in, as the CLI reports it);
* the same after one replica lost a slice of writes (it was down, hints off):
  keys compared/s and records exchanged;
* ``manhattan node add`` of a 4th node: records (and MB) streamed per second,
  from the topology push to every transfer reporting done (range streaming plus
  the final catch-up exchange with the other replicas), and the whole change
  end to end. Target (issue "Operations"): a join streams >= 50,000 records/s.

Nothing is asserted; figures are reported.
"""

from __future__ import annotations

import math
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import tomli_w

from manhattan.bench.common import Result, Settings
from manhattan.client import Client, ClusterOps, Consistency, Durability, Put
from manhattan.node.local_cluster import LocalCluster
from manhattan.node.process import NodeProcess

NAME = "ops"
TITLE = "Operations (3 node processes + 1 joining, RF=3, loopback)"

RECORDS = 200_000
QUICK_RECORDS = 40_000
DIVERGED_SHARE = 0.1  # of the records written while node 3 is down
VALUE = os.urandom(100)
STREAM_TARGET = 50_000.0
TENANT, DATASET = "bench-ops", "ops"
CONFIG = {"cluster": {"ping_interval_s": 0.2, "max_hints_per_peer": 0},
          "repair": {"enabled": False}}

Progress = Callable[[str], None]


def _row(name: str, unit: str, count: int, seconds: float, note: str,
         target: float | None = None) -> Result:
    return Result(suite=NAME, name=name, unit=unit, calls=1, records=count, seconds=seconds,
                  ops_per_s=count / seconds if seconds else 0.0, p50_us=math.nan,
                  p99_us=math.nan, per_call="run", target_rate=target, note=note)


def _load(client: Client, start: int, count: int) -> None:
    data = client.dataset(DATASET)
    for i in range(start, start + count, 1000):
        data.put_many([Put(f"k{j:08d}", "l", VALUE) for j in range(i, min(i + 1000,
                                                                       start + count))],
                      consistency=Consistency.QUORUM, durability=Durability.BUFFERED)


def _repair(client: Client) -> tuple[float, int, int, int]:
    """(seconds, keys compared, ranges differing, records exchanged) of a whole repair."""
    keys = ranges = records = 0
    started = time.perf_counter()
    last: dict[int, object] = {}
    for event in ClusterOps(client).repair(DATASET):
        last[event.node_id] = event
    elapsed = time.perf_counter() - started
    for event in last.values():
        keys += event.keys_compared
        ranges += event.ranges_differing
        records += event.records_exchanged
    return elapsed, keys, ranges, records


def run(settings: Settings, progress: Progress = lambda _msg: None,
        workdir: Path | None = None) -> list[Result]:
    """Load, repair twice, add a node; report the rates."""
    total = QUICK_RECORDS if settings.quick else RECORDS
    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="manhattan-bench-ops-", dir=workdir) as tmp:
        root = Path(tmp) / "cluster"
        lc = LocalCluster(root, nodes=3, base_port=None, extra_config=CONFIG)
        extra: NodeProcess | None = None
        try:
            progress("starting 3 nodes")
            lc.start().wait_converged()
            with Client(lc.endpoints, token=lc.admin_token, timeout=60) as admin:
                admin.admin.create_tenant(TENANT)
                admin.admin.create_dataset(DATASET, tenant=TENANT, replication_factor=3)
                progress(f"loading {total:,} records")
                _load(admin, 0, total)

                progress("repair, replicas in sync")
                seconds, keys, _, _ = _repair(admin)
                results.append(_row("repair, replicas in sync: keys compared/s", "keys", keys,
                                    seconds, f"{total:,} records x RF 3; {keys:,} keys hashed "
                                    "and compared in 3 exchanges (one per pair of nodes)"))

                progress("repair, one replica missed writes")
                lc.node(3).kill()
                deadline = time.monotonic() + 30
                while time.monotonic() < deadline and next(
                        m.alive for m in admin.admin.topology().members if m.id == 3):
                    time.sleep(0.1)
                missed = int(total * DIVERGED_SHARE)
                _load(admin, total, missed)
                lc.node(3).start()
                lc.wait_converged()
                seconds, keys, ranges, records = _repair(admin)
                results.append(_row("repair, 1 replica missed 10%: keys compared/s", "keys",
                                    keys, seconds,
                                    f"{missed:,} records missing on node 3; {ranges:,} "
                                    f"segments differed, {records:,} records exchanged"))
                total += missed

                progress("starting a 4th node and adding it")
                config = {**CONFIG, "node": {"admin_token": lc.admin_token}}
                path = root / "node4.toml"
                with open(path, "wb") as fh:
                    tomli_w.dump(config, fh)
                extra = NodeProcess(root / "node4", node_id=4, config_path=path,
                                    log_path=root / "node4.log").start()
                started = time.perf_counter()
                streaming_done = None
                last = None
                for event in ClusterOps(admin).add_node(extra.address):
                    last = event
                    if (streaming_done is None and event.phase == "streaming"
                            and event.transfers and all(t.done for t in event.transfers)):
                        streaming_done = time.perf_counter()
                finished = time.perf_counter()
                if last is None or not last.done:
                    raise RuntimeError(f"the join did not finish: {last}")
                streamed = last.records
                mb = last.bytes / 1e6
                pulling_s = max(sum(t.stream_ms for t in last.transfers), 1) / 1000
                transfer_s = (streaming_done or finished) - started
                results.append(_row(
                    "join: records streamed/s", "records", streamed, pulling_s,
                    f"{streamed:,} records, {mb:,.1f} MB ({mb / pulling_s:,.1f} MB/s) pulled "
                    "by the new node from the current replicas (time spent pulling, as the "
                    "node reports it)", STREAM_TARGET))
                results.append(_row(
                    "join: transfer phase incl. catch-up exchanges: records/s", "records",
                    streamed, transfer_s,
                    f"from the topology push until every node reported its transfers done: "
                    f"{transfer_s:.2f} s ({mb / transfer_s:,.1f} MB/s), including planning and "
                    "the hash-tree exchanges with the other replicas"))
                results.append(_row(
                    "join end to end (push, stream, switch, cleanup): records/s", "records",
                    streamed, finished - started,
                    f"{finished - started:.2f} s in all", None))
        finally:
            if extra is not None:
                extra.stop()
            lc.stop()
            for node in lc.nodes:
                code = node.proc.returncode if node.proc is not None else None
                if code not in (0, None):
                    print(f"warning: node {node.node_id} exited with code {code}; log:\n"
                          f"{node.log_tail()}", file=sys.stderr)
    return results
