"""One run: cluster up, workloads + nemesis, heal, convergence, final reads, checkers, report.

Everything started here is stopped here (finally + atexit): node processes by PID,
namespaces, bridge and iptables rules with the namespaces. A failing run keeps its
history and report in the output directory.
"""

from __future__ import annotations

import atexit
import logging
import random
import subprocess
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from manhattan.client import Client, RoundRobinPolicy, Timeout, Unavailable

from jepsen import canary as canary_mod
from jepsen import report as report_mod
from jepsen.cas_register import CasRegisterWorkload
from jepsen.causal import CausalWorkload
from jepsen.checkers.cas import check_cas
from jepsen.checkers.causal import check_causal
from jepsen.checkers.convergence import check_convergence
from jepsen.checkers.counter import check_counters
from jepsen.checkers.linearizable import check_linearizable
from jepsen.checkers.metadata import (
    AGREE_BOUND_S, check_admin_changes, check_metadata_agreement, check_revocations,
    check_tenant_isolation,
)
from jepsen.checkers.session import check_sessions
from jepsen.checkers.set_checker import check_set
from jepsen.checkers.set_reads import check_set_reads
from jepsen.checkers.size import check_size
from jepsen.checkers.timeline import check_timelines
from jepsen.checkers.versions import check_versions
from jepsen.checkers.zombie import check_zombies
from jepsen.cluster import Cluster
from jepsen.deletes import DeleteWorkload
from jepsen.gates import CHECKS, WORKLOADS_OF
from jepsen.history import OK, History, Op, pairs
from jepsen.large import LargeWorkload, NeighbourWorkload
from jepsen.membership import agree_topology, lost_epochs
from jepsen.metadata import AdminWorkload, RevokeProbe, Shared, TenantWorkload
from jepsen.nemesis import ALL_KINDS, CLOCKS, MEMBERSHIP, Fault, Nemesis, heal_all, make_schedule
from jepsen.net import make_net
from jepsen.replicas import snapshot
from jepsen.social import CELEBRITY_THRESHOLD, SocialService, SocialWorkload
from jepsen.workloads import (
    COUNTER_DATASET, CounterWorkload, Env, LinearizableWorkload, RegisterWorkload, SetReader, SetWorkload,
    Workload, make_client, needed,
)

log = logging.getLogger("jepsen.runner")
SMOKE_KINDS = ["partition-one", "kill-one", "pause", "kill-coordinator", "partition-oneway",
               "clock-bump"]
# ...then, last, the kinds of SMOKE_LAST: the add whose driver is killed midway, resumed
# through another member (issue 14), while every workload (the cas and counter checks
# among them, issue 17) goes on until it ends. Drawn mid-run instead, it pushed the
# faults after it out of the window.
SMOKE_LAST: list[str] = ["member-driver-kill"]
LAST_S = 4.0  # the window kept free for each of ``RunConfig.last`` at the end of the load
# workloads of the "jepsen" dataset whose acks carry versions (deletes' keys are left out:
# a purged tombstone and one not yet purged differ by design)
CONVERGENCE_WORKLOADS = ("set", "register", "linearizable", "causal", "counter")
CLOCK_SETTLE_S = 6.0  # a skewed timestamp can outlive its fault by its offset (max 5 s)


@dataclass
class RunConfig:
    """What a run does; the same seed replays the same fault schedule and op mix."""

    seed: int
    duration: float
    out: Path
    nodes: int = 5
    rf: int = 3
    kinds: list[str] = field(default_factory=lambda: list(ALL_KINDS))
    net: str = "auto"
    converge_timeout_s: float = 30.0
    lin_budget_s: float = 5.0
    fault_s: tuple[float, float] = (3.0, 6.0)
    gap_s: tuple[float, float] = (2.0, 4.0)
    pause_s: float = 4.0  # > the client timeout (2 s) and the replica timeout (1 s)
    drain_timeout_s: float = 60.0  # fan-out backlog to drain after healing, before the walks
    # every node's metadata must agree this long after the heal (the agreement canary
    # holds its partition past it: a shorter bound makes that run shorter)
    agree_bound_s: float = AGREE_BOUND_S
    social: bool = True  # the service-layer workload (its process takes ~25 s to start)
    # the checks that decide the exit status (ids of gates.CHECKS; None: every check);
    # optional workloads run only when a gating check needs them
    gating: list[str] | None = None
    canaries: list[str] = field(default_factory=list)  # canary.KINDS to inject
    last: list[str] = field(default_factory=list)  # kinds run once each after the others

    def runs(self, workload: str) -> bool:
        """Whether an optional workload runs (a gating check, or a canary, needs it)."""
        wanted = list(CHECKS) if self.gating is None else self.gating
        wanted = wanted + [canary_mod.CHECK_OF[k] for k in self.canaries]
        return workload in {w for c in wanted for w in WORKLOADS_OF.get(c, [])}


def _schedule(cfg: RunConfig, ids: list[int]) -> list[Fault]:
    """The seeded schedule of ``cfg.kinds`` over the load window, minus ``LAST_S`` for each
    of ``cfg.last``, which then start in turn (seeded targets) before the window ends."""
    tail = LAST_S * len(cfg.last)
    schedule = make_schedule(cfg.seed, cfg.duration - tail, ids, cfg.kinds, fault_s=cfg.fault_s,
                             gap_s=cfg.gap_s, pause_s=cfg.pause_s)
    rng = random.Random(cfg.seed)
    for i, kind in enumerate(cfg.last):
        schedule.append(Fault(kind, round(cfg.duration - tail + i * LAST_S + 0.5, 3), 3.0,
                              [rng.choice(ids)]))
    return schedule


def _commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                              timeout=10, cwd=Path(__file__).resolve().parent).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def _wait_all_alive(cluster: Cluster, timeout: float) -> bool:
    """Until every node's failure detector reports every member alive (bounded)."""
    deadline = time.monotonic() + timeout
    for node in list(cluster.nodes.values()):
        with Client([node.address], token=cluster.token, timeout=2,
                    routing=RoundRobinPolicy([node.address])) as c:
            while True:
                try:
                    if all(m.alive for m in c.admin.topology().members):
                        break
                except Exception:
                    pass
                if time.monotonic() > deadline:
                    return False
                time.sleep(0.2)
    return True


def _create_dataset(cluster: Cluster, tenant: str = "jepsen", dataset: str = "jepsen",
                    timeout: float = 30.0, kind: str = "kv") -> str:
    """Tenant and dataset through one node, then wait until every node knows the dataset
    (the catalog reaches the others asynchronously)."""
    first = cluster.nodes[cluster.ids[0]].address
    deadline = time.monotonic() + timeout
    with Client([first], token=cluster.token, timeout=10, routing=RoundRobinPolicy([first])) as c:
        _until_metadata_answers(c, deadline)
        token = c.admin.create_tenant(tenant)
        c.admin.create_dataset(dataset, tenant=tenant, replication_factor=cluster.rf, kind=kind)
    for node in cluster.nodes.values():
        with Client([node.address], token=cluster.token, timeout=2,
                    routing=RoundRobinPolicy([node.address])) as c:
            while dataset not in {d.name for d in _try(c.admin.list_datasets, [])}:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"node {node.id} never learned dataset {dataset}")
                time.sleep(0.1)
    return token


def _until_metadata_answers(client: Client, deadline: float) -> None:
    """Until an admin read goes through the metadata log: a fresh cluster elects its
    leader after its nodes serve, and a create before that is refused ("no metadata
    leader": the canary run's set-up hit it under load). Nothing is sent meanwhile."""
    while True:
        try:
            client.admin.list_datasets()
            return
        except (Unavailable, Timeout):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def _try(call: Any, default: Any) -> Any:
    try:
        return call()
    except Exception:
        return default


def _node_counters(cluster: Cluster) -> dict[str, int]:
    totals = {"hints_replayed": 0, "read_repairs": 0, "hints_dropped": 0, "hints_pending": 0}
    for node in cluster.nodes.values():
        try:
            with Client([node.address], token=cluster.token, timeout=3,
                        routing=RoundRobinPolicy([node.address])) as c:
                info = c.admin.node_info()
            totals["hints_replayed"] += info.hints_replayed
            totals["read_repairs"] += info.read_repairs
            totals["hints_dropped"] += info.hints_dropped
            totals["hints_pending"] += sum(info.hints_pending.values())
        except Exception:
            pass
    return totals


def _acked_versions(ops: list[Op]) -> dict[str, tuple[int, int]]:
    """Newest acknowledged version per "pkey/lkey" (set adds, register writes)."""
    newest: dict[str, tuple[int, int]] = {}
    for p in pairs(ops):
        if p.type != OK or p.complete is None or p.invoke.workload not in CONVERGENCE_WORKLOADS:
            continue
        if p.invoke.f == "add":
            bucket, _, lkey = str(p.invoke.value).partition(":")
            key, version = f"{bucket}/{lkey}", tuple(p.complete.value)
        elif p.invoke.f == "write":
            key, version = f"{p.invoke.key}/", tuple(p.complete.value[1])
        else:
            continue
        if key not in newest or version > newest[key]:
            newest[key] = version  # type: ignore[assignment]
    return newest


def _clock_windows(faults: list[Fault]) -> list[tuple[float, float]]:
    return [(f.started, (f.ended or f.started) + CLOCK_SETTLE_S) for f in faults
            if f.kind in CLOCKS and f.started is not None]


def _lin_ops(ops: list[Op], windows: list[tuple[float, float]]) -> tuple[list[Op], int]:
    """The linearizability workload's ops, minus keys touched during a clock fault."""
    span: dict[str, list[float]] = {}
    for op in ops:
        s = span.setdefault(op.key, [op.time, op.time])
        s[0], s[1] = min(s[0], op.time), max(s[1], op.time)
    excluded = {k for k, (a, b) in span.items() if any(a <= we and b >= ws for ws, we in windows)}
    return [o for o in ops if o.key not in excluded], len(excluded)


def _size_errors_in_logs(root: Path, sample: int = 3) -> tuple[int, list[str]]:
    """Lines of the nodes' logs where gRPC refused a message for its size (and a few)."""
    count, lines = 0, []
    for log_path in sorted(root.glob("node*.log")):
        with open(log_path, errors="replace") as fh:
            for line in fh:
                if "larger than max" in line.lower():
                    count += 1
                    if len(lines) < sample:
                        lines.append(f"{log_path.name}: {line.strip()[:240]}")
    return count, lines


def check(history: History, faults: list[Fault], snapshots_result: dict[str, Any],
          lin_budget_s: float, rf: int = 3,
          log_size_errors: tuple[int, list[str]] = (0, []),
          restored: list[dict[str, Any]] | None = None,
          agree_bound_s: float = AGREE_BOUND_S,
          final_topology: dict[str, Any] | None = None) -> dict[str, Any]:
    """Every checker on the history."""
    results: dict[str, Any] = {"set": check_set(history.ops("set")),
                               "set_reads": check_set_reads(history.ops("set"))}
    reg_ops = history.ops("register")
    results["registers"] = {}
    levels = needed(rf)
    for r in levels:
        for w in levels:
            combo = [o for o in reg_ops if o.key.startswith(f"reg-{r}-{w}-")]
            strict = levels[r] + levels[w] > rf
            results["registers"][f"R={r},W={w}"] = {
                "versions": check_versions(combo, strict=strict),
                "sessions": check_sessions(combo, strict=strict)}
    lin_ops, excluded = _lin_ops(history.ops("linearizable"), _clock_windows(faults))
    results["linearizable"] = {**check_linearizable(lin_ops, budget_s=lin_budget_s),
                               "excluded_clock": excluded}
    results["linearizable_versions"] = check_versions(history.ops("linearizable"), strict=True)
    results["linearizable_sessions"] = check_sessions(history.ops("linearizable"), strict=True)
    # SERIAL (Paxos) does not lean on clocks: nothing is excluded for clock faults
    results["cas"] = check_cas(history.ops("cas-register"), budget_s=lin_budget_s)
    results["counter"] = check_counters(history.ops("counter"), lossless=True)  # a CRDT now
    results["timeline"] = check_timelines(history.ops("social"))
    results["convergence"] = snapshots_result
    results["causal"] = check_causal(history.ops("causal"))
    results["zombies"] = check_zombies(history.ops("deletes"))
    # a fault still running when the checks began (a change that never ended) lasts on
    fault_windows = [(f.started, f.ended or float("inf")) for f in faults
                     if f.started is not None]
    results["size"] = {**check_size(history.ops("large"), history.ops("neighbour"),
                                    fault_windows=fault_windows,
                                    log_size_errors=log_size_errors[0]),
                       "log_samples": log_size_errors[1]}
    admin = history.ops("admin")
    results["admin_changes"] = check_admin_changes(admin)
    results["metadata_agreement"] = check_metadata_agreement(admin, bound_s=agree_bound_s)
    results["revocation"] = check_revocations(admin, history.ops("revoke-probe"))
    results["tenant_isolation"] = check_tenant_isolation(history.ops("tenants"))
    restored = restored or []
    final_topology = final_topology or {}
    violations = [v for f in faults for v in f.result.get("violations", [])] + [
        r["violation"] for r in restored if "violation" in r] + final_topology.get(
        "violations", []) + lost_epochs([f.result for f in faults] + restored, final_topology)
    results["membership"] = {"valid": not violations, "violations": violations,
                             "changes": sum(1 for f in faults if f.result),
                             "final_epoch": final_topology.get("agreed_epoch")}
    return results


def run(cfg: RunConfig) -> dict[str, Any]:
    """The whole run; returns the report (also written to ``cfg.out``)."""
    started = time.monotonic()
    cfg.out.mkdir(parents=True, exist_ok=True)
    net = make_net(cfg.net)
    cluster = Cluster(cfg.out / "cluster", net, cfg.nodes, cfg.rf)
    atexit.register(cluster.stop)
    history = History()
    workloads: list[Workload] = []
    nemesis: Nemesis | None = None
    schedule = _schedule(cfg, cluster.ids)
    errors: list[str] = []
    report: dict[str, Any] = {}
    phases: dict[str, float] = {}
    service: SocialService | None = None
    restored: list[dict[str, Any]] = []
    try:
        cluster.start()
        phases["cluster_started"] = time.monotonic() - started
        # the social service starts (imports, its tenant and datasets, then ~20 s of lease
        # confirmation: its Snowflake worker id and its queue shards) while the harness
        # makes its own dataset
        service_error: list[BaseException] = []
        starter: threading.Thread | None = None
        if cfg.social:
            service = SocialService(cfg.out / "social", cluster.endpoints, cluster.token)

            def start_service() -> None:
                try:
                    service.start()  # type: ignore[union-attr]
                except BaseException as exc:  # noqa: BLE001 - raised below
                    service_error.append(exc)
            starter = threading.Thread(target=start_service, name="social-start", daemon=True)
            starter.start()
        if not _wait_all_alive(cluster, 30):
            errors.append("not every node saw every other alive before the run")
        tenant_token = _create_dataset(cluster)
        phases["dataset_ready"] = time.monotonic() - started
        if starter is not None:
            starter.join(90)
            if service_error or starter.is_alive():
                raise RuntimeError(f"social service did not start: {service_error}")
            phases["social_started"] = time.monotonic() - started
        pinned = net.mode == "proxy"
        env = Env(history, cluster.endpoints, tenant_token, "jepsen", pinned, cfg.seed)
        first = 1
        # The counter workload's own tenant and dataset: a counter dataset (kind counter).
        counters = replace(env, token=_create_dataset(cluster, "jepsen-c", COUNTER_DATASET,
                                                      kind="counter"), dataset=COUNTER_DATASET)
        for kind in (SetWorkload, RegisterWorkload, LinearizableWorkload, CounterWorkload):
            workloads.append(kind(counters if kind is CounterWorkload else env, first))
            first += 100
        set_workload = workloads[0]
        assert isinstance(set_workload, SetWorkload)
        workloads.append(SetReader(env, first, set_workload))
        first += 100
        if cfg.runs("causal"):
            workloads.append(CausalWorkload(env, first))
            first += 100
        if cfg.runs("deletes"):
            workloads.append(DeleteWorkload(env, first))
            first += 100
        if cfg.runs("cas-register"):
            workloads.append(CasRegisterWorkload(env, first))
            first += 100
        if cfg.runs("large"):
            big = Env(history, cluster.endpoints, _create_dataset(cluster, "big", "blobs"),
                      "blobs", pinned, cfg.seed)
            calm = Env(history, cluster.endpoints, _create_dataset(cluster, "calm", "calm"),
                       "calm", pinned, cfg.seed)
            workloads += [LargeWorkload(big, first), NeighbourWorkload(calm, first + 100)]
            first += 200
        admin: AdminWorkload | None = None
        shared = Shared()
        if cfg.runs("admin"):
            admin_env = Env(history, cluster.endpoints, cluster.token, "", pinned, cfg.seed)
            admin = AdminWorkload(admin_env, first, shared, cfg.rf)
            workloads.append(admin)
            if cfg.runs("tenants"):
                workloads.append(TenantWorkload(admin_env, first + 100, shared))
            if cfg.runs("revoke-probe"):
                workloads.append(RevokeProbe(admin_env, first + 200, shared))
            first += 300
        social: SocialWorkload | None = None
        if service is not None:
            social = SocialWorkload(env, first, service.address, service.api_token)
            workloads.append(social)
            social.setup()  # users and the follow graph, before any fault
            phases["social_ready"] = time.monotonic() - started
        coordinator_counter = iter(range(10**6))

        def kill_after_ack(node_id: int) -> bool:
            """One QUORUM add coordinated by ``node_id`` (a client pinned to it); the nemesis
            kills the node as soon as this returns."""
            address = cluster.nodes[node_id].address
            with make_client([address], tenant_token, pinned=True) as client:
                for _ in range(3):
                    n = next(coordinator_counter)
                    if set_workload.add(900, f"set{n % 8}:coord{node_id}-{n}", client) == OK:
                        return True
            return False

        history.t0 = time.monotonic()
        nemesis = Nemesis(cluster, schedule, history.now, kill_after_ack)
        for w in workloads:
            w.start()
        nemesis.start()
        time.sleep(cfg.duration)
        nemesis.stop()
        errors += nemesis.errors
        for w in workloads:
            w.stop()
        load_s = history.now()
        phases["load_done"] = time.monotonic() - started
        try:
            restored = heal_all(cluster)
        except Exception as exc:
            errors.append(f"heal: {exc!r}")
        phases["healed"] = time.monotonic() - started
        if not _wait_all_alive(cluster, 30):
            errors.append("not every node saw every other alive after healing")
        canary = canary_mod.Canary(cfg.canaries, cluster, history, errors)
        canary.membership_acked(restored)
        # the members' topology after the heal (and the restore): every acknowledged
        # change must be in it (the membership check), every member must agree
        final_topology: dict[str, Any] = {}
        agree_topology(cluster, final_topology)
        if admin is not None:
            canary.before_metadata(admin, shared)
            with canary.holding_partition():
                admin.snapshot_rounds({i: n.address for i, n in cluster.nodes.items()},
                                      cfg.agree_bound_s)
            if "agreement" in canary.kinds:
                # the held partition is healed now: the final view of every node (a node
                # cut off from the voters refuses to answer while it is cut)
                admin.snapshot_rounds({i: n.address for i, n in cluster.nodes.items()},
                                      cfg.agree_bound_s)
            canary.after_metadata()
            phases["metadata_agreed"] = time.monotonic() - started
        # convergence: replica-local reads only (no read repair), before any final read
        keys = sorted({k for w in workloads for k in w.keys()})
        conv: dict[str, Any] = {}
        addresses = {i: n.address for i, n in cluster.nodes.items()}
        convergence_s: float | None = None
        conv_started = history.now()  # after the metadata rounds, which may take 30 s
        for _ in range(1000):  # bounded by the timeout below
            try:
                snaps = snapshot(addresses, cluster.token, "jepsen", keys, cfg.rf)
                conv = check_convergence(snaps, _acked_versions(history.ops()))
            except Exception as exc:
                log.warning("convergence snapshot failed", exc_info=True)
                conv = {"valid": False, "error": repr(exc), "divergent_count": -1,
                        "behind_count": -1}
            if conv.get("valid"):
                convergence_s = round(history.now() - conv_started, 2)
                break
            if history.now() - conv_started > cfg.converge_timeout_s:
                break
            time.sleep(1.0)
        conv["keys_checked"] = len(keys)
        canary.before_final_reads(workloads)
        phases["converged"] = time.monotonic() - started
        drain = social.wait_drained(cfg.drain_timeout_s) if social is not None else {}
        phases["fanout_drained"] = time.monotonic() - started
        for w in workloads:
            w.final_reads()
        phases["final_reads"] = time.monotonic() - started
        counters = _node_counters(cluster)
        results = check(history, schedule, conv, cfg.lin_budget_s, cfg.rf,
                        _size_errors_in_logs(cluster.root), restored, cfg.agree_bound_s,
                        final_topology)
        phases["checked"] = time.monotonic() - started
        results["phases_s"] = {k: round(v, 1) for k, v in phases.items()}
        results["social"] = {"enabled": social is not None,
                             "celebrity_threshold": CELEBRITY_THRESHOLD, "drain": drain,
                             "users": social.users if social else [],
                             "follows": social.edges if social else []}
        results["membership_restored"] = restored
        report = build_report(cfg, net, schedule, history, results, counters, load_s,
                              convergence_s, errors, time.monotonic() - started)
    except Exception as exc:
        errors.append(f"run aborted: {exc!r}")
        log.exception("run aborted")
        report = {"passed": False, "seed": cfg.seed, "errors": errors,
                  "faults": [f.to_json() for f in schedule]}
        raise
    finally:
        for w in workloads:
            w.stop_event.set()
        if nemesis is not None:
            nemesis.stop()
        for w in workloads:
            w.stop()
            w.close()
        if service is not None:
            service.stop()
        try:
            cluster.stop()
        finally:
            atexit.unregister(cluster.stop)
            history.save(cfg.out / "history.jsonl")
            if report.get("checks") is not None:
                report_mod.write(report, history.ops(), cfg.out)
            else:
                import json
                (cfg.out / "report.json").write_text(json.dumps(report, indent=2, default=str))
    return report


def build_report(cfg: RunConfig, net: Any, schedule: list[Fault], history: History,
                 results: dict[str, Any], counters: dict[str, int], load_s: float,
                 convergence_s: float | None, errors: list[str], total_s: float) -> dict[str, Any]:
    """The figures the issue asks for, and the pass criteria."""
    faults = [f.to_json() for f in schedule]
    regs = results["registers"]
    strict = {k: v for k, v in regs.items() if v["versions"]["strict"]}
    phantoms = (results["set"]["unexpected_count"]
                + sum(v["versions"]["phantom_count"] for v in regs.values())
                + results["linearizable_versions"]["phantom_count"])
    conv = results["convergence"]
    tl = results["timeline"]
    ok = {
        "set-lost": results["set"].get("lost_count", 1) == 0 and "error" not in results["set"],
        "phantoms": phantoms == 0,
        "convergence": conv.get("divergent_count") == 0 and conv.get("behind_count") == 0,
        "stale-strict": all(v["versions"]["valid"] for v in strict.values())
        and results["linearizable_versions"]["valid"],
        "sessions": all(v["sessions"]["valid"] for v in strict.values())
        and results["linearizable_sessions"]["valid"],
        "linearizable": results["linearizable"]["keys_invalid"] == 0,
        "counter": results["counter"]["valid"],
        "harness": not [e for e in errors if not e.startswith("canary:")],
        "set-reads": results["set_reads"]["valid"],
    }
    if results["social"]["enabled"]:
        ok["timeline-lost"] = tl["lost_count"] == 0 and not tl["missing_walks"] and tl["walks"] > 0
        ok["timeline-entries"] = (tl["phantom_count"] == 0 and tl["duplicate_count"] == 0
                                  and tl["misordered_count"] == 0 and tl["unfollowed_count"] == 0)
    optional = {"causal": ("causal", "causal"), "cas": ("cas", "cas-register"),
                "zombies": ("zombies", "deletes"),
                "size": ("size", "large"), "admin-changes": ("admin_changes", "admin"),
                "metadata-agreement": ("metadata_agreement", "admin"),
                "revocation": ("revocation", "revoke-probe"),
                "tenant-isolation": ("tenant_isolation", "tenants")}
    for check_id, (result, workload) in optional.items():
        if cfg.runs(workload):
            ok[check_id] = bool(results[result]["valid"])
    if any(f.kind in MEMBERSHIP for f in schedule) or results["membership"]["violations"]:
        ok["membership"] = results["membership"]["valid"]
    gating = set(CHECKS) if cfg.gating is None else set(cfg.gating)
    # a canary run fails whatever its checks say (its injections are in the errors)
    canaries = [e for e in errors if e.startswith("canary:")]
    checks = {CHECKS[k]: v for k, v in ok.items()}
    not_gating = sorted(CHECKS[k] for k in ok if k not in gating)
    passed = all(v for k, v in ok.items() if k in gating) and not canaries
    return {
        "passed": passed, "checks": checks, "not_gating": not_gating,
        "check_ids": {CHECKS[k]: k for k in ok},
        "seed": cfg.seed, "commit": _commit(), "n": cfg.nodes, "replication_factor": cfg.rf,
        "consistency": {"set": "W=QUORUM, reads under load QUORUM, final reads QUORUM then ALL",
                        "causal": "R=QUORUM W=QUORUM, a random coordinator per op",
                        "deletes": "R=QUORUM W=QUORUM deletes QUORUM",
                        "large": "W=QUORUM, multi-key reads QUORUM", "registers": "every R/W of ONE/QUORUM/ALL",
                        "linearizable": "R=QUORUM W=QUORUM", "counter": "R=QUORUM W=QUORUM",
                        "social": "the service's datasets: R=QUORUM W=QUORUM, buffered "
                                  "durability (its own choice)"},
        "durability": "sync (fsync, group commit, before the ack)",
        "network": {"mode": net.mode, "notes": list(net.notes)},
        "duration_s": round(total_s, 1), "load_s": round(load_s, 1),
        "faults": faults, "ops": report_mod.op_stats(history.ops(), faults, load_s),
        "acked_writes_lost": results["set"].get("lost_count"),
        "phantoms": phantoms,
        "divergent_keys": conv.get("divergent_count"),
        "replicas_behind_ack": conv.get("behind_count"),
        "convergence_s": convergence_s,
        "hints_replayed": counters["hints_replayed"], "read_repairs": counters["read_repairs"],
        "hints_dropped": counters["hints_dropped"], "hints_pending": counters["hints_pending"],
        "linearizability": {k: results["linearizable"][k]
                            for k in ("keys_valid", "keys_invalid", "keys_unknown", "excluded_clock")},
        "cas": None if not cfg.runs("cas-register") else {k: results["cas"][k] for k in (
            "keys", "keys_invalid", "keys_unknown", "ops", "invalid_keys")},
        "stale_reads_weak": sum(v["versions"]["stale_count"] for k, v in regs.items()
                                if k not in strict),
        "realtime_inversions": sum(v["versions"]["realtime_inversions"] for v in regs.values()),
        "duplicate_applications": sum(v["versions"]["duplicate_count"] for v in regs.values())
        + results["linearizable_versions"]["duplicate_count"],
        "failed_but_applied": results["set"].get("failed_present_count", 0),
        "timeline": None if not results["social"]["enabled"] else {k: tl[k] for k in (
            "posts_attempted", "posts_acked", "posts_indeterminate", "expected_deliveries",
            "expected_by_path", "lost_count", "lost_by_path", "phantom_count",
            "unfollowed_count", "duplicate_count", "misordered_count", "recovered_count",
            "walked_entries", "celebrities")}
        | {"celebrity_threshold": results["social"]["celebrity_threshold"],
           "fanout_drain": results["social"]["drain"]},
        "membership": [{"kind": f["kind"], "action": f["params"].get("action"),
                        "node": (f["targets"] or [None])[0],
                        "started": f["started"], "duration_s": None if f["started"] is None
                        or f["ended"] is None else round(f["ended"] - f["started"], 2),
                        **{k: v for k, v in f["result"].items() if k != "phases_s"},
                        "note": f["note"]} for f in faults
                       if f["started"] is not None
                       and (f["kind"] == "membership" or f["kind"].startswith("member-"))],
        "membership_restored": results["membership_restored"],
        "errors": errors, "results": results,
    }
