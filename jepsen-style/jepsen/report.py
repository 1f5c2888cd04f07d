"""The run's figures: JSON, a readable summary, and a PNG timeline (matplotlib)."""

from __future__ import annotations

import json
import math
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from jepsen.history import OK, Op, pairs


def _pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    values = sorted(values)
    return round(values[min(len(values) - 1, max(0, math.ceil(q * len(values)) - 1))] * 1000, 2)


def _window_kind(t: float, faults: list[dict[str, Any]]) -> str | None:
    for f in faults:
        if f.get("started") is not None and f["started"] <= t <= (f.get("ended") or f["started"]):
            return str(f["kind"])
    return None


def op_stats(ops: list[Op], faults: list[dict[str, Any]], load_s: float) -> dict[str, Any]:
    """Counts, throughput, latency healthy vs faulted, availability per fault kind."""
    ps = [p for p in pairs(ops) if p.invoke.process != 0]  # process 0 = final reads
    types = Counter(p.type for p in ps)
    per_workload: dict[str, Counter[str]] = defaultdict(Counter)
    lat: dict[str, list[float]] = {"healthy": [], "faulted": []}
    avail: dict[str, Counter[str]] = defaultdict(Counter)
    for p in ps:
        per_workload[p.invoke.workload][p.type] += 1
        kind = _window_kind(p.invoke.time, faults) or "healthy"
        avail[kind][p.type] += 1
        if p.type == OK and p.complete is not None:
            lat["healthy" if kind == "healthy" else "faulted"].append(p.complete.time - p.invoke.time)
    return {
        "attempted": len(ps), "ok": types[OK], "fail": types["fail"], "info": types["info"],
        "per_workload": {w: dict(c) for w, c in sorted(per_workload.items())},
        "throughput_ok_per_s": round(types[OK] / load_s, 1) if load_s > 0 else None,
        "latency_ms": {k: {"p50": _pct(v, 0.5), "p99": _pct(v, 0.99), "n": len(v)}
                       for k, v in lat.items()},
        "availability": {k: {"ok_ratio": round(c[OK] / max(sum(c.values()), 1), 3),
                             "ops": sum(c.values())} for k, c in sorted(avail.items())},
    }


def summary_text(report: dict[str, Any]) -> str:
    """The human-readable page."""
    o, c, r = report["ops"], report["checks"], report["results"]
    lines = [
        f"Manhattan jepsen-style run: {'PASS' if report['passed'] else 'FAIL'}",
        f"seed {report['seed']}  commit {report['commit'][:12]}  network {report['network']['mode']}"
        f"  N={report['n']} RF={report['replication_factor']}  durability {report['durability']}",
        f"duration {report['duration_s']} s (load {report['load_s']} s)",
    ]
    lines += [f"note: {n}" for n in report["network"]["notes"]]
    lines.append("faults:")
    for f in report["faults"]:
        lines.append(f"  {f['kind']:<19} at {f['start']:>6.1f}s for {f['duration']:>4.1f}s "
                     f"on {f['targets']} {f.get('note', '')}")
    lat = o["latency_ms"]
    lines += [
        f"ops: attempted {o['attempted']}  ok {o['ok']}  fail {o['fail']}  info {o['info']}  "
        f"throughput {o['throughput_ok_per_s']} ok/s",
        f"latency ms: healthy p50 {lat['healthy']['p50']} p99 {lat['healthy']['p99']}  |  "
        f"faulted p50 {lat['faulted']['p50']} p99 {lat['faulted']['p99']}",
        "availability (ok ratio by fault in force at invoke): " + ", ".join(
            f"{k} {v['ok_ratio']:.0%}" for k, v in o["availability"].items()),
        f"set: acked {r['set']['acknowledged']}  lost {r['set']['lost_count']}  "
        f"unexpected {r['set']['unexpected_count']}  recovered {r['set']['recovered_count']}  "
        f"failed-but-present {r['set']['failed_present_count']}",
        f"phantoms {report['phantoms']}  divergent keys {report['divergent_keys']} "
        f"(converged after {report['convergence_s']} s)  hints replayed "
        f"{report['hints_replayed']}  read repairs {report['read_repairs']}",
        f"linearizability (QUORUM/QUORUM): valid {r['linearizable']['keys_valid']}  invalid "
        f"{r['linearizable']['keys_invalid']}  unknown {r['linearizable']['keys_unknown']}  "
        f"(excluded for clock faults: {r['linearizable'].get('excluded_clock', 0)})",
        f"counters: acked increments {r['counter']['acked_increments']}  final total "
        f"{r['counter']['final_total']}  lost "
        f"{r['counter']['lost_updates']}  duplicated {r['counter'].get('duplicated_updates')}",
        *_new_lines(report),
        *_social_lines(report),
        f"register stale reads (R+W<=N, allowed) {report['stale_reads_weak']}  real-time "
        f"inversions {report['realtime_inversions']}  writes applied twice (retried after "
        f"being applied) {report['duplicate_applications']}",
        "checks:",
    ]
    quiet = set(report.get("not_gating", []))
    lines += [f"  [{'ok' if v else 'FAIL'}] {k}{'  (not gating this run)' if k in quiet else ''}"
              for k, v in c.items()]
    if report.get("errors"):
        lines += ["errors:"] + [f"  {e}" for e in report["errors"]]
    return "\n".join(lines) + "\n"


def _new_lines(report: dict[str, Any]) -> list[str]:
    """The checkers of issue 15, one line each with its figures (those that ran)."""
    r = report["results"]
    ids = set(report.get("check_ids", {}).values())
    sr = r["set_reads"]
    lines = [f"set reads under load (QUORUM): reads {sr['reads']} ({sr['reads_under_load']} under "
             f"load)  reads missing an acked element {sr['reads_missing_an_acked_element']}  "
             f"elements missed {sr['elements_missed']}"]
    if "causal" in ids:
        c = r["causal"]
        lines.append(f"overwrite causality (real time, nothing excluded): writes acked "
                     f"{c['writes_acked']}  lost overwrites {c['lost_count']}  reads {c['reads']}  "
                     f"stale reads {c['stale_count']}  phantoms {c['phantom_count']}")
    if "cas" in ids:
        k = r["cas"]
        lines.append(f"compare-and-set register (SERIAL, nothing excluded): keys {k['keys']}  "
                     f"ops {k['ops']}  invalid {k['keys_invalid']} {k['invalid_keys']}  "
                     f"unknown {k['keys_unknown']}")
    if "zombies" in ids:
        z = r["zombies"]
        lines.append(f"deletes: acked {z['deletes_acked']}  reads after a delete "
                     f"{z['reads_after_delete']}  zombies {z['zombie_count']}")
    if "size" in ids:
        z = r["size"]
        lines.append(f"large values: ops {z['large_ops']} (ok {z['large_ok']}, "
                     f"{z['large_bytes_acked'] // 1024} KiB acked, multi-key reads "
                     f"{z['multi_reads']})  size errors {z['size_error_count']} (in node logs "
                     f"{z['log_size_errors']})  large ops timed out with no fault "
                     f"{z['large_failed_unfaulted_count']}  other tenant: acked "
                     f"{z['neighbour_acked']} harmed "
                     f"{z['neighbour_harmed_count']} lost {z['neighbour_lost_count']}")
    if "admin-changes" in ids:
        a, g = r["admin_changes"], r["metadata_agreement"]
        lines.append(f"metadata: admin changes acked {a.get('changes_acked')}  lost "
                     f"{a.get('lost_count')}  contradicted {a.get('contradicted_count')}  nodes "
                     f"agreed after {g.get('agreed_after_s')} s (bound {g.get('bound_s')} s)")
    if "revocation" in ids:
        v = r["revocation"]
        lines.append(f"revocation: revokes acked {v['revokes_acked']}  probes after revoke "
                     f"{v['probes_after_revoke']}  accepted past {v['bound_s']} s "
                     f"{v['accepted_late_count']} (worst {v['worst_after_s']} s)")
    if "tenant-isolation" in ids:
        t = r["tenant_isolation"]
        lines.append(f"tenant isolation: reads {t['reads']}  another tenant's value "
                     f"{t['foreign_count']}")
    m = r.get("membership", {})
    for v in m.get("violations", []):
        lines.append(f"membership violation: {v}")
    return lines


def _social_lines(report: dict[str, Any]) -> list[str]:
    """The service-layer workload and the membership changes."""
    t = report.get("timeline")
    lines: list[str] = []
    if t:
        d = t.get("fanout_drain") or {}
        paths = ", ".join(f"{k} {v}" for k, v in sorted(t["expected_by_path"].items()))
        lines += [
            f"social (celebrity threshold {t['celebrity_threshold']}, celebrities "
            f"{','.join(t['celebrities']) or 'none'}): posts attempted {t['posts_attempted']}  "
            f"acked {t['posts_acked']}  indeterminate {t['posts_indeterminate']}  fan-out "
            f"drained {'in ' + str(d.get('waited_s')) + ' s' if d.get('drained') else 'NOT (pending ' + str(d.get('pending')) + ')'}",
            f"home timelines: acked deliveries expected {t['expected_deliveries']} ({paths})  "
            f"lost {t['lost_count']}  phantom {t['phantom_count']}  unfollowed "
            f"{t['unfollowed_count']}  duplicate {t['duplicate_count']}  misordered "
            f"{t['misordered_count']}  recovered (indeterminate, delivered) {t['recovered_count']}",
        ]
    for m in report.get("membership", []):
        lines.append(f"{m.get('kind', 'membership')}: {m['action'] or ''} node {m['node']} at "
                     f"{m['started'] or 0:.1f}s, "
                     f"change {m.get('change_s')} s, {m.get('records')} records, window "
                     f"{m['duration_s']} s  {m['note']}")
    for m in report.get("membership_restored", []):
        lines.append(f"membership restored after heal: {m.get('note') or m.get('violation')}")
    return lines


def plot(ops: list[Op], faults: list[dict[str, Any]], path: Path) -> None:
    """Throughput per second (ok / fail / info), latency of ok ops, fault windows shaded."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ps = [p for p in pairs(ops) if p.invoke.process != 0 and p.complete is not None]
    end = max((p.complete.time for p in ps), default=1.0)  # type: ignore[union-attr]
    buckets = {t: [0] * (int(end) + 1) for t in ("ok", "fail", "info")}
    for p in ps:
        buckets[p.type][int(p.complete.time)] += 1  # type: ignore[union-attr]
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(12, 6), sharex=True)
    for t, color in (("ok", "tab:green"), ("fail", "tab:red"), ("info", "tab:orange")):
        ax1.plot(range(len(buckets[t])), buckets[t], label=t, color=color, lw=1)
    ax1.set_ylabel("ops/s")
    ax1.legend(loc="upper right")
    xs = [p.invoke.time for p in ps if p.type == OK]
    ys = [(p.complete.time - p.invoke.time) * 1000 for p in ps if p.type == OK]  # type: ignore[union-attr]
    ax2.scatter(xs, ys, s=2, alpha=0.4)
    ax2.set_yscale("log")
    ax2.set_ylabel("latency ms (ok)")
    ax2.set_xlabel("seconds")
    cmap = plt.get_cmap("tab10")
    kinds = sorted({f["kind"] for f in faults})
    for f in faults:
        if f.get("started") is None:
            continue
        color = cmap(kinds.index(f["kind"]) % 10)
        for ax in (ax1, ax2):
            ax.axvspan(f["started"], f.get("ended") or f["started"], color=color, alpha=0.15)
        ax1.text(f["started"], ax1.get_ylim()[1] * 0.92, f["kind"], fontsize=7, rotation=90,
                 va="top")
    fig.suptitle("Manhattan under faults: throughput, latency, fault windows")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def write(report: dict[str, Any], ops: list[Op], out: Path) -> None:
    """report.json, summary.txt and timeline.png in ``out``."""
    (out / "report.json").write_text(json.dumps(report, indent=2, default=str))
    (out / "summary.txt").write_text(summary_text(report))
    try:
        plot(ops, report["faults"], out / "timeline.png")
    except Exception as exc:  # the figures matter more than the picture
        (out / "timeline.error").write_text(repr(exc))
