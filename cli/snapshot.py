"""``manhattan snapshot create|list|delete|restore``.

A cluster snapshot is one RocksDB checkpoint per node under the same name, each
in ``<data_dir>/snapshots/<name>/`` of its node: consistent per node, taken
online. ``restore`` is offline: with the nodes stopped it puts each node's
checkpoint back as its database, and the cluster then starts from it (same node
ids and addresses: the same topology).
"""

from __future__ import annotations

import time
from datetime import datetime, timezone
from pathlib import Path

import click

from manhattan.cli.context import output_option, render
from manhattan.cli.fanout import each_node
from manhattan.client import ManhattanError, SnapshotInfo
from manhattan.node.snapshots import SNAPSHOTS_DIR, RestoreError, read_info
from manhattan.node.snapshots import restore as restore_node

# A checkpoint flushes memtables: give it longer than an ordinary call.
SNAPSHOT_TIMEOUT_S = 120.0


def _when(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def _row(info: SnapshotInfo, output: str, **extra: object) -> dict[str, object]:
    row: dict[str, object] = {"name": info.name, "node": info.node_id}
    if output == "json":
        row.update(created_at_ms=info.created_at_ms, size_bytes=info.size_bytes,
                   path=info.path, topology_epoch=info.topology_epoch,
                   datasets=info.datasets)
    else:
        row.update(created=_when(info.created_at_ms),
                   size_mb=round(info.size_bytes / 1e6, 2), path=info.path)
    row.update(extra)
    return row


@click.group()
def snapshot() -> None:
    """Snapshots of every node (RocksDB checkpoints): create, list, delete, restore."""


@snapshot.command("create")
@click.argument("name", required=False)
@output_option
@click.pass_context
def create(ctx: click.Context, name: str | None, output: str) -> None:
    """Checkpoint every node as snapshot NAME (default: snap-<UTC time>)."""
    name = name or time.strftime("snap-%Y%m%d-%H%M%S", time.gmtime())
    results = each_node(ctx, lambda c: c.admin.create_snapshot(name),
                        timeout=SNAPSHOT_TIMEOUT_S)
    rows, failed = [], []
    for member, outcome in results:
        if isinstance(outcome, ManhattanError):
            failed.append(f"node {member.id} ({member.address}): {outcome.message or outcome}")
        else:
            rows.append(_row(outcome, output))
    render(rows, output, title=f"snapshot {name}")
    if failed:
        raise click.ClickException(
            f"snapshot {name} is incomplete; failed on " + "; ".join(failed)
            + f". Delete it (manhattan snapshot delete {name}) or retry under another name.")


@snapshot.command("list")
@output_option
@click.pass_context
def list_(ctx: click.Context, output: str) -> None:
    """Snapshots of every node, with time and size; 'complete' when every node has it."""
    results = each_node(ctx, lambda c: c.admin.list_snapshots())
    nodes = len(results)
    found: list[SnapshotInfo] = []
    for member, outcome in results:
        if isinstance(outcome, ManhattanError):
            click.echo(f"node {member.id} ({member.address}) did not answer: "
                       f"{outcome.message or outcome}", err=True)
        else:
            found.extend(outcome)
    holders: dict[str, int] = {}
    for info in found:
        holders[info.name] = holders.get(info.name, 0) + 1
    found.sort(key=lambda s: (s.created_at_ms, s.name, s.node_id))
    render([_row(s, output, complete=holders[s.name] == nodes) for s in found], output,
           empty="(no snapshots)")


@snapshot.command("delete")
@click.argument("name")
@click.pass_context
def delete(ctx: click.Context, name: str) -> None:
    """Remove snapshot NAME from every node that has it."""
    results = each_node(ctx, lambda c: c.admin.delete_snapshot(name))
    deleted = [m.id for m, outcome in results if not isinstance(outcome, ManhattanError)]
    missing = [m.id for m, outcome in results if isinstance(outcome, ManhattanError)]
    click.echo(f"deleted snapshot {name} on node(s) {deleted or 'none'}"
               + (f"; not on node(s) {missing}" if missing else ""))


def _node_dirs(data_dir: Path) -> list[Path]:
    """``data_dir`` itself when it is a node's, else the node<i> dirs of a local cluster."""
    if (data_dir / "db").exists() or (data_dir / SNAPSHOTS_DIR).exists():
        return [data_dir]
    nodes = sorted((p for p in data_dir.glob("node*") if p.is_dir()),
                   key=lambda p: (len(p.name), p.name))
    if not nodes:
        raise click.ClickException(
            f"{data_dir} is neither a node's data dir (no db/ or {SNAPSHOTS_DIR}/) nor a "
            "local cluster's (no node<i>/ dirs)")
    return nodes


def _check_node_dir(target: Path, snapshot_dir: Path) -> None:
    """A local cluster's node<i> dir must get node i's snapshot (the node would refuse
    to start on another node's data anyway; better to say so before copying)."""
    if not target.name.startswith("node") or not target.name[4:].isdigit():
        return
    try:
        node_id = read_info(snapshot_dir).node_id
    except (RestoreError, OSError, ValueError, KeyError):
        return  # restore_node reports what is wrong with it
    if node_id != int(target.name[4:]):
        raise RestoreError(f"{snapshot_dir} is a snapshot of node {node_id}, "
                           f"not of {target.name}")


@snapshot.command("restore")
@click.argument("name")
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="A stopped node's data dir, or a local cluster's (every node<i>/ in it).")
@click.option("--from", "source", type=click.Path(file_okay=False, exists=True, path_type=Path),
              help="The snapshot directory to restore (one node), when it is not in "
                   "<data-dir>/snapshots/NAME (e.g. copied back from a backup).")
@click.option("--force", is_flag=True,
              help="Restore over an existing database (moved aside to db.replaced-<time>).")
@click.option("--whole-cluster", is_flag=True,
              help="Every node of the cluster is being restored (all stopped) from snapshots "
                   "of the same time: a snapshot older than the tombstone grace is then "
                   "allowed. Implied when DATA_DIR is a local cluster's (every node<i>/).")
@output_option
def restore(name: str, data_dir: Path, source: Path | None, force: bool, whole_cluster: bool,
            output: str) -> None:
    """Put snapshot NAME back as the database of stopped node(s); start them afterwards.

    Offline: a running node is refused. Each node gets its own checkpoint, so the
    cluster must have the same node ids (and addresses) as when it was taken. One node
    restored into a live cluster from a snapshot older than the tombstone grace is
    refused (deleted data could come back): replace that node instead.
    """
    # --from restores one node, whose data dir may be gone entirely (a new machine).
    targets = [data_dir] if source is not None else _node_dirs(data_dir)
    whole_cluster = whole_cluster or (source is None and targets != [data_dir])
    rows = []
    for target in targets:
        try:
            _check_node_dir(target, source or target / SNAPSHOTS_DIR / name)
            info, moved = restore_node(target, name=name, source=source, force=force,
                                       whole_cluster=whole_cluster)
        except RestoreError as exc:
            raise click.ClickException(str(exc)) from None
        rows.append({"node": info.node_id, "snapshot": info.name,
                     "taken": _when(info.created_at_ms), "data_dir": str(target),
                     "previous_db": str(moved) if moved else ""})
    render(rows, output, title=f"restored {name}; start the node(s) now")
