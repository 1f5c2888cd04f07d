"""Serial suite: SERIAL compare-and-set and SERIAL reads against etcd, same run.

One client thread, one call at a time, one key, after a warm-up, in interleaved runs
(``targets.measure``):

* compare-and-set of 100 B on one key: Manhattan ``put(if_version=...)`` (per-key
  Paxos among 3 replicas: a prepare round, then one round in which the coordinator's
  own accept and a peer's make the value chosen and the peer stores it; the prepare
  skipped under the ballot the last commit was granted; the value durable once a
  quorum accepted it: promises and accepts are fsynced) vs etcd's Txn comparing
  the key's mod revision and putting on success (Raft commit, fsynced)  target >= 0.5x.
  Each call swaps on the version the previous one returned, as a CAS loop does.
* get of that key at SERIAL (the SDK asks two of the three replicas for their view at
  once and decides itself) vs etcd's linearizable get (ReadIndex)      target >= 0.5x.

Both against one etcd member (it commits alone) and, like for like with Manhattan's
three replicas, against three members (a majority fsyncs each entry), same target.
etcd is left out with a note when it cannot be installed or started.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from manhattan import __version__ as manhattan_version
from manhattan.bench import report
from manhattan.bench.cluster import DATASET, VALUE, _setup_dataset, start_cluster
from manhattan.bench.common import Result, Settings
from manhattan.bench.peers.stores import start_peers, stop_peers
from manhattan.bench.targets import Case, measure, ratios_of, results_of
from manhattan.client import Client, Consistency, Durability

NAME = "serial"
TITLE = "Serial (SERIAL compare-and-set and reads on one key, one client thread: vs etcd)"
CAS, READ = "compare-and-set 100 B", "linearizable get 100 B"
M_CAS, M_READ = "manhattan SERIAL put(if_version)", "manhattan get SERIAL"
M_PLAIN = "manhattan put QUORUM SYNC (no condition)"
ETCD_CAS, ETCD_READ = "etcd Txn (mod_revision compare)", "etcd (linearizable)"
ETCD3_CAS, ETCD3_READ = "etcd 3 members Txn (mod_revision compare)", \
    "etcd 3 members (linearizable)"
KEY, PLAIN_KEY = b"serial-bench", b"serial-bench-plain"
Progress = Callable[[str], None]


def _manhattan_cases(client: Client, pids: list[int]) -> list[Case]:
    ds = client.dataset(DATASET)
    state = {"version": ds.put(KEY, b"", VALUE, if_absent=True, durability=Durability.SYNC)}
    serial, durable = Consistency.SERIAL, Durability.SYNC

    def cas(_i: int) -> None:
        state["version"] = ds.put(KEY, b"", VALUE, if_version=state["version"],
                                  durability=durable)

    def read(_i: int) -> None:
        if ds.get(KEY, b"", consistency=serial) is None:
            raise RuntimeError("the serial benchmark key is missing")

    def plain(_i: int) -> None:
        ds.put(PLAIN_KEY, b"", VALUE, consistency=Consistency.QUORUM, durability=durable)

    return [
        Case(CAS, M_PLAIN, plain, pids, suite=NAME,
             note="for scale: an ordinary last-writer-wins put, one round to the replicas"),
        Case(CAS, M_CAS, cas, pids, suite=NAME,
             note="per-key Paxos over 3 replicas through the key's primary: one round "
                  "(the primary accepts, then a peer's accept commits and stores) under "
                  "the ballot its last commit was granted (a prepare first when none "
                  "is); promises and accepts fsynced"),
        Case(READ, M_READ, read, pids, suite=NAME,
             note="the SDK asks two replicas for their Paxos view at once (one hop) and "
                  "decides; a proposal in progress goes through a coordinator"),
    ]


def _etcd_cases(server: Any, stack: contextlib.ExitStack, members: int = 1) -> list[Case]:
    client = stack.enter_context(server.client())
    client.put(KEY, VALUE)
    state = {"revision": client.get_revision(KEY)}

    def cas(_i: int) -> None:
        swapped, revision = client.compare_and_swap(KEY, state["revision"], VALUE)
        if not swapped:
            raise RuntimeError("etcd compare-and-swap lost to nobody: the benchmark is broken")
        state["revision"] = revision

    def read(_i: int) -> None:
        if client.get(KEY) is None:
            raise RuntimeError("etcd benchmark key missing")

    pids = list(server.pids)
    alone = members == 1
    return [
        Case(CAS, ETCD_CAS if alone else ETCD3_CAS, cas, pids, suite=NAME,
             note="one Txn: compare mod_revision, put on success (range on failure); Raft "
                  "commit fsynced before the ack " + ("(single member)" if alone else
                                                      "(3 members: by a majority)")),
        Case(READ, ETCD_READ if alone else ETCD3_READ, read, pids, suite=NAME,
             note="etcd's default read: the leader confirms it still leads (ReadIndex)"),
    ]


RATIOS = (  # (name, numerator, denominator, target, note)
    ("SERIAL compare-and-set / etcd Txn compare-and-swap", (CAS, M_CAS), (CAS, ETCD_CAS), 0.5,
     "one key, each swap on the version the previous one returned"),
    ("get SERIAL / etcd linearizable get", (READ, M_READ), (READ, ETCD_READ), 0.5, ""),
    ("SERIAL compare-and-set / etcd 3-member Txn compare-and-swap", (CAS, M_CAS),
     (CAS, ETCD3_CAS), 0.5, "like for like: both replicated to 3, durable on a majority"),
    ("get SERIAL / etcd 3-member linearizable get", (READ, M_READ), (READ, ETCD3_READ), 0.5,
     "like for like: both confirm with a majority of 3"),
    ("SERIAL compare-and-set / QUORUM SYNC put", (CAS, M_CAS), (CAS, M_PLAIN), None,
     "the price of consensus over an ordinary replicated write"),
)


def run(settings: Settings, progress: Progress = lambda _msg: None,
        workdir: Path | None = None) -> list[Result]:
    """Start Manhattan and etcd; measure; stop; write serial.json."""
    notes: list[str] = []
    versions: dict[str, str] = {"manhattan": f"manhattan {manhattan_version}"}
    with tempfile.TemporaryDirectory(prefix="manhattan-bench-serial-", dir=workdir) as tmp, \
            contextlib.ExitStack() as stack:
        root = Path(tmp)
        progress("starting 3 Manhattan nodes")
        lc = start_cluster(root, stack)
        token = _setup_dataset(lc, progress, keys=1)
        peers = start_peers(root, notes, ("etcd", "etcd-3"), progress)
        stack.callback(stop_peers, peers)
        client = stack.enter_context(Client(lc.endpoints, token=token))
        client.refresh_topology()
        cases = _manhattan_cases(client, [n.proc.pid for n in lc.nodes if n.proc is not None])
        if "etcd" in peers:
            cases += _etcd_cases(peers["etcd"].server, stack)
            versions["etcd"] = peers["etcd"].version
        if "etcd-3" in peers:
            cases += _etcd_cases(peers["etcd-3"].server, stack, members=3)
        measure(cases, settings, progress)

    rows = [case.row() for case in cases]
    ratios = ratios_of(rows, RATIOS)
    notes += [f"{len(cases[0].runs)} interleaved run(s) per case after {settings.warmup} s "
              "warm-up; one client thread, one call at a time, one key, 100-byte values",
              "CPU µs per op: server = the system's processes (Manhattan: 3 nodes), client = "
              "this process"]
    report.write_results(report.results_dir(), NAME, TITLE, rows=rows, ratios=ratios,
                         versions=versions, notes=notes,
                         settings={"runs": len(cases[0].runs), "seconds": settings.seconds,
                                   "warmup_s": settings.warmup, "quick": settings.quick,
                                   "ops": settings.ops, "value_bytes": len(VALUE)})
    return results_of(rows, ratios, NAME)
