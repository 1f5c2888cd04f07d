"""``manhattan cluster up``, ``manhattan status`` and ``manhattan ring``."""

from __future__ import annotations

import signal
import threading
from pathlib import Path

import click

from manhattan.cli.context import CliSettings, connect, output_option, render
from manhattan.client import Client, ClusterTopology, ManhattanError
from manhattan.cluster.ring import DEFAULT_VNODES, Ring
from manhattan.cluster.topology import Member, Topology
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
def up(nodes: int, data_dir: Path, base_port: int, host: str) -> None:
    """Start NODES node processes in the foreground; Ctrl-C stops them all."""
    existing = sorted(p.name for p in data_dir.glob("node*") if p.is_dir())
    if existing and len(existing) != nodes:
        raise click.ClickException(
            f"{data_dir} holds a {len(existing)}-node cluster; pass --nodes {len(existing)} "
            "or use another --data-dir"
        )
    local = LocalCluster(data_dir, nodes=nodes, base_port=base_port, host=host)
    try:
        local.start()
    except RuntimeError as exc:
        raise click.ClickException(str(exc)) from None
    try:
        click.echo(f"{nodes}-node cluster up: {', '.join(local.endpoints)}")
        click.echo(f"endpoints and admin token in {data_dir / 'cluster.toml'}; Ctrl-C stops it")
        wait_for_signal(local)
    finally:
        click.echo("stopping nodes ...")
        local.stop()


def _ring(topology: ClusterTopology) -> Ring:
    members = tuple(Member(m.id, m.address, m.zone, m.weight) for m in topology.members
                    if m.state != "joining")
    return Ring(Topology(topology.epoch, members), vnodes=topology.vnodes or DEFAULT_VNODES)


@click.command()
@click.option("--replication-factor", "--rf", type=click.IntRange(min=1), default=3,
              show_default=True, help="For effective ownership.")
@output_option
@click.pass_context
def status(ctx: click.Context, replication_factor: int, output: str) -> None:
    """Every node: state, address, zone, load, hints and effective ownership."""
    with connect(ctx) as client:
        topology = client.admin.topology()
    ring = _ring(topology)
    ownership = ring.effective_ownership(replication_factor)
    token = ctx.find_object(CliSettings).resolve()[1]
    rows = []
    for member in topology.members:
        info = None
        if member.alive:
            try:
                with Client([member.address], token=token, timeout=3) as node_client:
                    info = node_client.admin.node_info()
            except ManhattanError:
                info = None
        rows.append({
            "id": member.id, "status": "up" if member.alive else "down", "state": member.state,
            "address": member.address, "zone": member.zone,
            "keys": info.approximate_keys if info else "?",
            "disk_mb": round(info.disk_bytes / 1e6, 1) if info else "?",
            "hints": sum(info.hints_pending.values()) if info else "?",
            "read_repairs": info.read_repairs if info else "?",
            "ownership_pct": round(100 * ownership.get(member.id, 0.0), 1),
        })
    render(rows, output, title=f"epoch {topology.epoch}")


@click.command("ring")
@click.option("--replication-factor", "--rf", type=click.IntRange(min=1), default=3,
              show_default=True)
@output_option
@click.pass_context
def ring_command(ctx: click.Context, replication_factor: int, output: str) -> None:
    """Ring points and primary/effective ownership of every node."""
    with connect(ctx) as client:
        topology = client.admin.topology()
    ring = _ring(topology)
    primary = ring.primary_ownership()
    effective = ring.effective_ownership(replication_factor)
    points = ring.points_per_member()
    render([{"id": m.id, "address": m.address, "points": points.get(m.id, 0),
             "primary_pct": round(100 * primary.get(m.id, 0.0), 2),
             "effective_pct": round(100 * effective.get(m.id, 0.0), 2)}
            for m in topology.members], output, title=f"epoch {topology.epoch}")
