"""``manhattan metadata status``: every node's view of the replicated metadata log."""

from __future__ import annotations

import click

from manhattan.cli.context import output_option, render
from manhattan.cli.fanout import cluster_topology, each_node
from manhattan.client import NodeInfo


@click.group()
def metadata() -> None:
    """The replicated metadata log (tenants, tokens, datasets, limits)."""


@metadata.command("status")
@output_option
@click.pass_context
def status(ctx: click.Context, output: str) -> None:
    """Voters, leader, commit index, each node's applied index and lag, staleness."""
    topology = cluster_topology(ctx)
    infos = each_node(ctx, lambda c: c.admin.node_info(), timeout=3, topology=topology)
    known = [i.metadata for _, i in infos if isinstance(i, NodeInfo) and i.metadata]
    commit = max((m.commit_index for m in known), default=0)
    rows = []
    for member, info in infos:
        row: dict[str, object] = {"id": member.id, "address": member.address}
        md = info.metadata if isinstance(info, NodeInfo) else None
        if md is None:
            row["role"] = "unreachable" if not isinstance(info, NodeInfo) else "off"
            rows.append(row)
            continue
        row |= {"role": md.role, "leader": md.leader or "-", "term": md.term,
                "commit": md.commit_index, "applied": md.applied_index,
                "lag": max(commit - md.applied_index, 0), "majority": md.has_majority,
                "stale": md.stale, "cut_off_s": round(md.seconds_since_majority, 1)}
        if output == "json":
            row |= {"voters": md.voters, "applied_commands": md.applied_commands,
                    "voters_pending_change": md.voters_pending_change}
        rows.append(row)
    # The leader's view first: it has every voter change appended, the others may lag.
    voters = next((m.voters for m in sorted(known, key=lambda m: m.role != "leader")), [])
    learners = [str(r["id"]) for r in rows if r.get("role") == "learner"]
    pending = max((m.voters_pending_change for m in known), default=0)
    note = (f" · voters of change {pending} unsettled: run the membership command again"
            if pending else "")
    render(rows, output, title=f"metadata log · voters {', '.join(voters) or '?'} · "
                               f"learners {', '.join(learners) or 'none'} · commit {commit}"
                               + note)
