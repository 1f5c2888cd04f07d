"""``manhattan cluster up``, ``manhattan status`` and ``manhattan ring``."""

from __future__ import annotations

import signal
import threading
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

import click

from manhattan.cli.context import connect, output_option, render
from manhattan.cli.fanout import cluster_topology, each_node
from manhattan.client import ClusterTopology, MemberInfo, NodeInfo
from manhattan.cluster.ring import DEFAULT_VNODES, Ring
from manhattan.cluster.topology import Member, Topology

if TYPE_CHECKING:  # the daemon's package is heavy; only `cluster up` needs it
    from manhattan.node.local_cluster import LocalCluster


def wait_for_signal(cluster: LocalCluster) -> None:
    """Block until Ctrl-C/SIGTERM or until every node has exited."""
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    while not stop.is_set():
        if all(node.pid is None for node in cluster.nodes):
            click.echo("every node exited; see the node logs", err=True)
            return
        stop.wait(0.5)


@click.group()
def cluster() -> None:
    """Run a local multi-node cluster."""


@cluster.command("up")
@click.option("--nodes", type=click.IntRange(1, 31), default=3, show_default=True)
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path),
              default=Path("data"), show_default=True)
@click.option("--base-port", type=click.IntRange(1, 65000), default=7100, show_default=True,
              help="Node i listens on base-port + i.")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--tls", is_flag=True,
              help="Serve TLS, mutual between nodes and for clients; dev certificates are "
                   "made under DATA_DIR/certs (as `manhattan certs init` does).")
def up(nodes: int, data_dir: Path, base_port: int, host: str, tls: bool) -> None:
    """Start NODES node processes in the foreground; Ctrl-C stops them all."""
    from manhattan.node.local_cluster import LocalCluster

    existing = sorted(p.name for p in data_dir.glob("node*") if p.is_dir())
    if existing and len(existing) != nodes:
        raise click.ClickException(
            f"{data_dir} holds a {len(existing)}-node cluster; pass --nodes {len(existing)} "
            "or use another --data-dir"
        )
    local = LocalCluster(data_dir, nodes=nodes, base_port=base_port, host=host, tls=tls)
    try:
        local.start()
    except RuntimeError as exc:
        raise click.ClickException(str(exc)) from None
    try:
        click.echo(f"{nodes}-node cluster up: {', '.join(local.endpoints)}")
        click.echo(f"endpoints and admin token in {data_dir / 'cluster.toml'}; Ctrl-C stops it")
        if any(local.metrics):
            click.echo("metrics: " + ", ".join(f"http://{m}/metrics" for m in local.metrics if m))
        wait_for_signal(local)
    finally:
        click.echo("stopping nodes ...")
        local.stop()


def ring_of(topology: ClusterTopology) -> Ring:
    """The ring of a topology as the nodes build it (joining nodes own nothing yet)."""
    members = tuple(Member(m.id, m.address, m.zone, m.weight) for m in topology.members
                    if m.state != "joining")
    return Ring(Topology(topology.epoch, members), vnodes=topology.vnodes or DEFAULT_VNODES)


def _when(ms: int) -> str:
    return f"{datetime.fromtimestamp(ms / 1000, timezone.utc):%H:%M:%S} UTC"


def _repair_text(info: NodeInfo) -> str:
    if info.repair_running:
        return f"{100 * info.repair_progress:.0f}%"
    return "idle"


def _streaming_text(info: NodeInfo) -> str:
    if info.streaming_active:
        return f"{info.streaming_active}x {100 * info.streaming_progress:.0f}%"
    return "idle"


def _state_text(member: MemberInfo) -> str:
    """Up/down first (what an operator scans for), then any state but the usual one."""
    alive = "up" if member.alive else "down"
    return alive if member.state == "normal" else f"{alive} {member.state}"


# Table headers: short, with units; the row keys stay the JSON keys.
STATUS_HEADERS = {"own_pct": "own %", "disk_mb": "disk MB", "req_per_s": "req/s",
                  "streaming": "stream", "repair_last": "repaired"}


def status_row(member: MemberInfo, info: NodeInfo | None, ownership: float,
                output: str) -> dict[str, object]:
    """One node's row: the topology's view plus what the node says about itself."""
    row: dict[str, object] = {
        "id": member.id, "status": "up" if member.alive else "down", "state": member.state,
        "address": member.address, "zone": member.zone,
    }
    if output == "json":
        row["ownership"] = round(ownership, 4)
        row["node"] = None if info is None else {
            "keys": info.approximate_keys, "disk_bytes": info.disk_bytes,
            "topology_epoch": info.topology_epoch,
            "requests_total": info.requests_total,
            "requests_per_second": round(info.requests_per_second, 2),
            "hints_pending": sum(info.hints_pending.values()),
            "hints_pending_by_peer": {str(k): v for k, v in info.hints_pending.items()},
            "hints_dropped": info.hints_dropped, "hints_replayed": info.hints_replayed,
            "read_repairs": info.read_repairs,
            "repair": {"running": info.repair_running, "progress": info.repair_progress,
                       "keys_compared": info.repair_keys_compared,
                       "ranges_differing": info.repair_ranges_differing,
                       "records_exchanged": info.repair_records_exchanged,
                       "last_completed_ms": info.repair_last_completed_ms},
            "streaming": {"active": info.streaming_active, "progress": info.streaming_progress,
                          "records": info.streaming_records, "bytes": info.streaming_bytes},
            "snapshots": info.snapshots, "metrics_address": info.metrics_address,
        }
        return row
    # Most important first: what does not fit 80 columns is left to -o wide; -o json
    # has every figure.
    unknown = "?"
    table: dict[str, object] = {
        "id": member.id, "state": _state_text(member), "address": member.address,
        "own_pct": f"{100 * ownership:.1f}",
        "keys": info.approximate_keys if info else unknown,
        "disk_mb": f"{info.disk_bytes / 1e6:.1f}" if info else unknown,
        "req_per_s": f"{info.requests_per_second:.1f}" if info else unknown,
        "hints": sum(info.hints_pending.values()) if info else unknown,
        "repair": _repair_text(info) if info else unknown,
        "streaming": _streaming_text(info) if info else unknown,
        "zone": member.zone,
        "repair_last": (_when(info.repair_last_completed_ms)
                        if info and info.repair_last_completed_ms else ""),
    }
    return table


@click.command()
@click.option("--replication-factor", "--rf", type=click.IntRange(min=1), default=3,
              show_default=True, help="For effective ownership.")
@output_option
@click.pass_context
def status(ctx: click.Context, replication_factor: int, output: str) -> None:
    """Every node: state, address, load, hints, repair and streaming, ownership."""
    topology = cluster_topology(ctx)
    ownership = ring_of(topology).effective_ownership(replication_factor)
    infos = {member.id: outcome for member, outcome in each_node(
        ctx, lambda c: c.admin.node_info(), timeout=3,
        topology=ClusterTopology(topology.epoch, topology.vnodes,
                                 [m for m in topology.members if m.alive]))}
    rows = []
    for member in topology.members:
        info = infos.get(member.id)
        rows.append(status_row(member, info if isinstance(info, NodeInfo) else None,
                                ownership.get(member.id, 0.0), output))
    render(rows, output, title=f"epoch {topology.epoch}", headers=STATUS_HEADERS)


@click.command("ring")
@click.option("--replication-factor", "--rf", type=click.IntRange(min=1), default=3,
              show_default=True)
@output_option
@click.pass_context
def ring_command(ctx: click.Context, replication_factor: int, output: str) -> None:
    """Ring points and primary/effective ownership of every node."""
    with connect(ctx) as client:
        topology = client.admin.topology()
    ring = ring_of(topology)
    primary = ring.primary_ownership()
    effective = ring.effective_ownership(replication_factor)
    points = ring.points_per_member()
    render([{"id": m.id, "address": m.address, "points": points.get(m.id, 0),
             "primary_pct": round(100 * primary.get(m.id, 0.0), 2),
             "effective_pct": round(100 * effective.get(m.id, 0.0), 2)}
            for m in topology.members], output, title=f"epoch {topology.epoch}",
           headers={"primary_pct": "primary %", "effective_pct": f"rf {replication_factor} %"})
