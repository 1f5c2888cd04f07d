"""``manhattan repair`` and ``manhattan node add|decommission|replace|remove|abort``.

Both run on the cluster and stream progress back; the CLI draws a progress bar
(rich) and ends with a summary (or JSON with ``-o json``).
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from manhattan.cli.context import connect, output_option
from manhattan.cli.node import node
from manhattan.client import ClusterOps, ManhattanError, MembershipProgress, RepairProgress


def _progress(console: Console) -> Progress:
    return Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TextColumn("{task.fields[detail]}"), TimeElapsedColumn(),
                    console=console, transient=False)


@click.command()
@click.option("--dataset", "-d", help="Repair only this dataset (default: every dataset); "
              "names are per tenant: every tenant's of that name, or TENANT/NAME for one.")
@output_option
@click.pass_context
def repair(ctx: click.Context, dataset: str | None, output: str) -> None:
    """Anti-entropy now: every pair of replicas compares hash trees of the ranges they
    share and exchanges the records that differ."""
    console = Console(stderr=True, quiet=output == "json")
    totals = {"keys_compared": 0, "ranges_differing": 0, "records_exchanged": 0,
              "exchanges": 0, "exchanges_failed": 0}
    errors: list[str] = []
    with connect(ctx) as client, _progress(console) as bar:
        ops = ClusterOps(client)
        members = sorted((m for m in client.admin.topology().members if m.state != "joining"),
                         key=lambda m: m.id)
        task = bar.add_task("repair", total=None, detail="")
        planned = 0
        for member in members:
            if not member.alive:
                errors.append(f"node {member.id} is down: its ranges with lower-id peers "
                              "were repaired, the rest were not")
                continue
            last: RepairProgress | None = None
            base = dict(totals)
            for event in ops.repair_node(member.address, dataset):
                if last is None:
                    planned += event.exchanges_total
                    bar.update(task, total=max(planned, 1))
                last = event
                keys = base["keys_compared"] + event.keys_compared
                bar.update(task, completed=base["exchanges"] + event.exchanges_done,
                           description=f"node {member.id}"
                           + (f" ↔ {event.peer} {event.dataset}" if event.peer else ""),
                           detail=f"keys {keys:,} · ranges differing "
                                  f"{base['ranges_differing'] + event.ranges_differing:,} · "
                                  f"records {base['records_exchanged'] + event.records_exchanged:,}")
            if last is not None:
                totals["keys_compared"] += last.keys_compared
                totals["ranges_differing"] += last.ranges_differing
                totals["records_exchanged"] += last.records_exchanged
                totals["exchanges"] += last.exchanges_done
                totals["exchanges_failed"] += last.exchanges_failed
                if last.error:
                    errors.append(f"node {member.id}: {last.error}")
        bar.update(task, total=max(planned, 1), completed=max(planned, 1))
    if output == "json":
        click.echo(json.dumps(totals | {"errors": errors}, indent=2))
    else:
        click.echo(f"keys compared {totals['keys_compared']:,}, ranges differing "
                   f"{totals['ranges_differing']:,}, records exchanged "
                   f"{totals['records_exchanged']:,} ({totals['exchanges']} exchanges, "
                   f"{totals['exchanges_failed']} failed)")
        for error in errors:
            click.echo(f"warning: {error}", err=True)
    if totals["exchanges_failed"]:
        raise click.ClickException("some exchanges failed; run `manhattan repair` again")


def _follow(events: Iterator[MembershipProgress], output: str, title: str) -> None:
    """Draw a membership change's progress until it is done."""
    console = Console(stderr=True, quiet=output == "json")
    last: MembershipProgress | None = None
    try:
        first = next(events, None)  # a refused change fails here, before any bar is drawn
    except ManhattanError as exc:
        raise click.ClickException(f"{exc.code.name}: {exc.message or exc}") from None
    if first is None:
        raise click.ClickException("the node answered nothing")
    with _progress(console) as bar:
        task = bar.add_task(title, total=None, detail="")
        for event in itertools.chain([first], events):
            last = event
            total = event.ranges_total
            bar.update(task, total=total or None, completed=event.ranges_done,
                       description=f"{title}: {event.phase}",
                       detail=f"records {event.records:,} · {event.bytes / 1e6:,.1f} MB"
                              + (f" · {event.message}" if event.message else ""))
        if last is not None and last.ranges_total:
            bar.update(task, completed=last.ranges_total)
    if last is None:
        raise click.ClickException("the node answered nothing")
    summary = {"phase": last.phase, "epoch": last.epoch, "ranges": last.ranges_total,
               "records": last.records, "bytes": last.bytes, "message": last.message}
    if output == "json":
        click.echo(json.dumps(summary, indent=2))
    else:
        click.echo(f"{title}: {last.phase} at epoch {last.epoch}; streamed {last.records:,} "
                   f"records ({last.bytes / 1e6:,.1f} MB) in {last.ranges_total} ranges"
                   + (f"; {last.message}" if last.message else ""))
    if not last.done:
        raise click.ClickException(f"{title} did not finish: {last.message or last.phase}; "
                                   "run the same command again to resume")


@node.command("add")
@click.argument("address")
@click.option("--zone", default="", help="The new node's zone (default: what it reports).")
@click.option("--weight", type=click.IntRange(0, 100), default=0,
              help="Ring weight (default 1).")
@output_option
@click.pass_context
def add(ctx: click.Context, address: str, zone: str, weight: int, output: str) -> None:
    """Add the node running at ADDRESS (started with the cluster's admin token): it
    streams the ranges it will own, then serves them."""
    with connect(ctx) as client:
        _follow(ClusterOps(client).add_node(address, zone=zone, weight=weight), output,
                f"add {address}")


@node.command("decommission")
@click.argument("node_id", type=int)
@output_option
@click.pass_context
def decommission(ctx: click.Context, node_id: int, output: str) -> None:
    """Hand a live node's ranges to the others, then drop it from the cluster."""
    with connect(ctx) as client:
        _follow(ClusterOps(client).decommission(node_id), output, f"decommission {node_id}")


@node.command("replace")
@click.argument("dead_id", type=int)
@click.argument("new_address")
@output_option
@click.pass_context
def replace(ctx: click.Context, dead_id: int, new_address: str, output: str) -> None:
    """Swap the dead node DEAD_ID for the node running at NEW_ADDRESS."""
    with connect(ctx) as client:
        _follow(ClusterOps(client).replace(dead_id, new_address), output,
                f"replace {dead_id}")


@node.command("abort")
@output_option
@click.pass_context
def abort(ctx: click.Context, output: str) -> None:
    """Abort the membership change under way (from any node): the members before it
    take their ranges back; a joining node drops what it streamed."""
    with connect(ctx) as client:
        _follow(ClusterOps(client).abort(), output, "abort")


@node.command("remove")
@click.argument("dead_id", type=int)
@output_option
@click.pass_context
def remove(ctx: click.Context, dead_id: int, output: str) -> None:
    """Drop the dead node DEAD_ID; the others re-replicate its ranges."""
    with connect(ctx) as client:
        _follow(ClusterOps(client).remove(dead_id), output, f"remove {dead_id}")
