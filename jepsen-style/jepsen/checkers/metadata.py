"""Cluster metadata under faults: admin changes, agreement, revocation, tenant isolation.

Ops of workload ``admin`` (the admin token): ``create-tenant`` (key = tenant),
``create-dataset`` (key = "tenant/dataset"), ``create-token`` (key = tenant; ok value =
the token id), ``revoke-token`` (key = token id), and, after healing, ``meta-snapshot``
rounds (process 0; ok value = ``{node: {"tenants": [...], "datasets": [...], "tokens":
[...]}}``, read from each node alone). Workload ``revoke-probe``: ``probe`` (key = token
id, value = node; ok value = "accepted" or "refused"). Workload ``tenants``: ``read`` and
``write`` (key = "tenant/lkey"); every value written carries its writer tenant
("tenant|n"), so a read of tenant t returning another prefix is a cross-tenant read.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any

from jepsen.history import INFO, OK, Op, pairs

REVOKE_BOUND_S = 5.0  # "a revoked token fails on every node within a couple of gossip intervals"
AGREE_BOUND_S = 30.0  # every node's metadata identical this long after the heal


def _final_snapshot(ops: list[Op]) -> dict[str, dict[str, list[str]]]:
    rounds = [p for p in pairs(ops) if p.invoke.f == "meta-snapshot" and p.type == OK]
    return rounds[-1].complete.value if rounds else {}  # type: ignore[union-attr]


def check_admin_changes(ops: Iterable[Op], *, sample: int = 10) -> dict[str, Any]:
    """No acknowledged change lost or contradicted in any node's final metadata."""
    ops = list(ops)
    final = _final_snapshot(ops)
    acked = [p for p in pairs(ops) if p.type == OK and p.complete is not None]
    lost: list[dict[str, Any]] = []
    contradicted: list[dict[str, Any]] = []
    creates = Counter(p.invoke.key for p in acked if p.invoke.f == "create-tenant")
    contradicted += [{"change": "create-tenant", "key": k, "why": f"acknowledged {n} times"}
                     for k, n in creates.items() if n > 1]
    revoked = {p.invoke.key for p in acked if p.invoke.f == "revoke-token"}
    # a revoke with an unknown outcome (timed out, the leader changed) may have happened:
    # its token may be absent, but need not be (only an acked revoke contradicts a listing)
    maybe_revoked = revoked | {p.invoke.key for p in pairs(ops)
                               if p.invoke.f == "revoke-token" and p.type == INFO}
    expected_datasets = _dataset_outcomes(ops)
    unanswered = sorted(node for node, meta in final.items() if "error" in meta)
    for node, meta in sorted(final.items()):
        if node in unanswered:  # a node that refused to answer: nothing to compare
            continue
        have = {"create-tenant": set(meta.get("tenants", [])),
                "create-token": set(meta.get("tokens", []))}
        for p in acked:
            f = p.invoke.f
            key = str(p.complete.value) if f == "create-token" else p.invoke.key  # type: ignore[union-attr]
            if f in have and key not in have[f] and key not in maybe_revoked:
                lost.append({"node": node, "change": f, "key": key, "acked_at": p.complete.time})  # type: ignore[union-attr]
        contradicted += [{"node": node, "change": "revoke-token", "key": t,
                          "why": "still listed"} for t in sorted(revoked & have["create-token"])]
        datasets = set(meta.get("datasets", []))
        for name, (f, key, at) in sorted(expected_datasets.items()):
            holders = sorted(d for d in datasets if d.partition("/")[2] == name)
            if f == "create-dataset" and key not in datasets:
                lost.append({"node": node, "change": f, "key": key, "acked_at": at,
                             "found": holders})
            elif f == "drop-dataset" and holders:
                contradicted.append({"node": node, "change": f, "key": key,
                                     "why": f"still listed: {holders}"})
    return {
        "valid": bool(final) and not lost and not contradicted and not unanswered,
        "changes_acked": len([p for p in acked if p.invoke.f != "meta-snapshot"]),
        "nodes": sorted(final), "unanswered": unanswered, "lost_count": len(lost), "lost": lost[:sample],
        "contradicted_count": len(contradicted), "contradicted": contradicted[:sample],
    }


def _dataset_outcomes(ops: list[Op]) -> dict[str, tuple[str, str, float]]:
    """Per dataset name, the state its last change must have left (change, "tenant/name",
    acked at), when that change was acknowledged and ran alone (nothing else on the name
    in flight when it began); names whose last change is uncertain are left out."""
    by_name: dict[str, list[Any]] = {}
    for p in pairs(ops):
        if p.invoke.f in ("create-dataset", "drop-dataset"):
            by_name.setdefault(p.invoke.key.partition("/")[2], []).append(p)
    out: dict[str, tuple[str, str, float]] = {}
    for name, ps in by_name.items():
        last = max(ps, key=lambda p: p.invoke.time)
        alone = all(p is last or (p.complete is not None and p.complete.time < last.invoke.time)
                    for p in ps)
        if last.type == OK and last.complete is not None and alone:
            out[name] = (last.invoke.f, last.invoke.key, last.complete.time)
    return out


def check_metadata_agreement(ops: Iterable[Op], *,
                             bound_s: float = AGREE_BOUND_S) -> dict[str, Any]:
    """Every node's metadata identical within ``bound_s`` of the first round (the heal)."""
    rounds = [p for p in pairs(ops) if p.invoke.f == "meta-snapshot" and p.type == OK
              and p.complete is not None]
    if not rounds:
        return {"valid": False, "error": "no metadata snapshot", "rounds": 0}
    start = rounds[0].invoke.time
    agreed_at = None
    differing: dict[str, list[str]] = {}
    for r in rounds:
        per_node = r.complete.value  # type: ignore[union-attr]
        # a node that refused to answer (``{"error": ...}``) agrees with nobody
        views = {n: ((("error", n),) * 3 if "error" in m else
                     (tuple(m.get("tenants", [])), tuple(m.get("datasets", [])),
                      tuple(m.get("tokens", [])))) for n, m in per_node.items()}
        if len(per_node) > 1 and len(set(views.values())) == 1:
            agreed_at = round(r.invoke.time - start, 2)
            break
        common = Counter(views.values()).most_common(1)[0][0]
        differing = {n: [part for i, part in enumerate(("tenants", "datasets", "tokens"))
                         if v[i] != common[i]] for n, v in views.items() if v != common}
    valid = agreed_at is not None and agreed_at <= bound_s
    return {"valid": valid, "rounds": len(rounds), "agreed_after_s": agreed_at,
            "bound_s": bound_s, "differing_nodes": {} if valid else differing}


def check_revocations(admin: Iterable[Op], probes: Iterable[Op], *,
                      bound_s: float = REVOKE_BOUND_S, sample: int = 10) -> dict[str, Any]:
    """A token accepted by a node more than ``bound_s`` after its revoke was acknowledged."""
    revoked = {p.invoke.key: p.complete.time for p in pairs(admin)  # type: ignore[union-attr]
               if p.invoke.f == "revoke-token" and p.type == OK and p.complete is not None}
    late: list[dict[str, Any]] = []
    probed = 0
    for p in pairs(probes):
        if p.invoke.f != "probe" or p.type != OK or p.complete is None:
            continue
        at = revoked.get(p.invoke.key)
        if at is None or p.invoke.time <= at:
            continue
        probed += 1
        if p.complete.value == "accepted" and p.invoke.time > at + bound_s:
            late.append({"token": p.invoke.key, "node": p.invoke.value,
                         "after_s": round(p.invoke.time - at, 2)})
    return {"valid": not late, "revokes_acked": len(revoked), "probes_after_revoke": probed,
            "bound_s": bound_s, "accepted_late_count": len(late), "accepted_late": late[:sample],
            "worst_after_s": max((x["after_s"] for x in late), default=None)}


def check_tenant_isolation(ops: Iterable[Op], *, sample: int = 10) -> dict[str, Any]:
    """No read returns a value written by another tenant (the value names its writer)."""
    foreign: list[dict[str, Any]] = []
    reads = 0
    for p in pairs(ops):
        if p.invoke.f != "read" or p.type != OK or p.complete is None:
            continue
        reads += 1
        tenant = p.invoke.key.partition("/")[0]
        value = p.complete.value
        if value is not None and str(value).partition("|")[0] != tenant:
            foreign.append({"tenant": tenant, "key": p.invoke.key, "read": value,
                            "at": p.invoke.time})
    return {"valid": not foreign, "reads": reads, "foreign_count": len(foreign),
            "foreign": foreign[:sample]}
