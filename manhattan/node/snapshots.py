"""Node snapshots: RocksDB checkpoints under ``<data_dir>/snapshots/<name>/``.

A snapshot is one consistent point in time of the node's whole database (every
dataset, the catalog, tokens, hints and the node's identity), taken online with
a RocksDB checkpoint: SST files are hard links, so it is cheap until compaction
rewrites them. Its layout::

    <data_dir>/snapshots/<name>/snapshot.json   name, node id, time, epoch, datasets
    <data_dir>/snapshots/<name>/db/             a RocksDB directory

It is built under ``.<name>.partial`` and renamed into place, so a listed
snapshot is always complete. Restoring is offline: with the node stopped,
``restore`` copies a snapshot's ``db/`` into ``<data_dir>/db``; the node then
starts on it as usual (and refuses a snapshot of another node id).

A snapshot older than the tombstone grace period (``storage.tombstone_grace_s``,
recorded in it) is refused when one node is restored into a live cluster: its
peers may have purged tombstones of data the snapshot still holds, and repair
would hand that deleted data back to them. Such a node is replaced instead (an
empty data dir, ``manhattan node replace``), or the whole cluster restored.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Protocol

from manhattan.errors import AlreadyExists, InvalidRequest, NotFound
from manhattan.storage.engine import Checkpointer, Datasets
from manhattan.tenancy.catalog import dataset_name
from manhattan.types import DEFAULT_TOMBSTONE_GRACE_S, SnapshotInfo

SNAPSHOTS_DIR = "snapshots"
META_FILE = "snapshot.json"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")


class SnapshotEngine(Checkpointer, Datasets, Protocol):
    """What snapshots ask of storage: a checkpoint, and the datasets in it."""


class RestoreError(RuntimeError):
    """A snapshot cannot be restored here; the message says why and what to do."""


def check_name(name: str) -> str:
    """A snapshot name is a safe directory name: letters, digits, '.', '_', '-'."""
    if not _NAME.fullmatch(name or ""):
        raise InvalidRequest(
            f"snapshot name {name!r} is not valid: 1-100 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit")
    return name


def tree_bytes(path: Path) -> int:
    """Bytes of the files under ``path`` (hard-linked SST files count in full)."""
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def read_info(snapshot_dir: Path) -> SnapshotInfo:
    """The snapshot in ``snapshot_dir``; RestoreError when it is not one."""
    meta = snapshot_dir / META_FILE
    if not meta.is_file() or not (snapshot_dir / "db" / "CURRENT").is_file():
        raise RestoreError(f"{snapshot_dir} is not a snapshot (no {META_FILE} and db/)")
    data = json.loads(meta.read_text())
    return SnapshotInfo(
        name=data["name"], node_id=int(data["node_id"]),
        created_at_ms=int(data["created_at_ms"]), size_bytes=tree_bytes(snapshot_dir),
        path=str(snapshot_dir), topology_epoch=int(data.get("topology_epoch", 0)),
        datasets=tuple(data.get("datasets", ())),
        tombstone_grace_s=float(data.get("tombstone_grace_s", DEFAULT_TOMBSTONE_GRACE_S)))


class SnapshotStore:
    """Creates, lists and deletes this node's snapshots (blocking: run off the loop)."""

    def __init__(self, data_dir: Path, node_id: int, engine: SnapshotEngine,
                 topology_epoch: Callable[[], int] = lambda: 0,
                 tombstone_grace_s: float = DEFAULT_TOMBSTONE_GRACE_S) -> None:
        self.root = Path(data_dir) / SNAPSHOTS_DIR
        self._grace_s = tombstone_grace_s
        self._node_id = node_id
        self._engine = engine
        self._epoch = topology_epoch

    def create(self, name: str) -> SnapshotInfo:
        """Checkpoint the database as snapshot ``name`` (AlreadyExists if taken)."""
        check_name(name)
        final = self.root / name
        if final.exists():
            raise AlreadyExists(f"snapshot {name!r} already exists on node {self._node_id}")
        partial = self.root / f".{name}.partial"
        if partial.exists():  # left by a crash mid-checkpoint
            shutil.rmtree(partial)
        partial.mkdir(parents=True)
        try:
            self._engine.checkpoint(partial / "db")
            meta = {"name": name, "node_id": self._node_id,
                    "created_at_ms": int(time.time() * 1000),
                    "topology_epoch": self._epoch(),
                    "datasets": [dataset_name(d) for d in self._engine.datasets()],
                    "tombstone_grace_s": self._grace_s}
            (partial / META_FILE).write_text(json.dumps(meta, indent=2) + "\n")
            os.replace(partial, final)
        except BaseException:
            shutil.rmtree(partial, ignore_errors=True)
            raise
        return read_info(final)

    def list(self) -> list[SnapshotInfo]:
        """Complete snapshots, oldest first."""
        if not self.root.is_dir():
            return []
        found = []
        for path in self.root.iterdir():
            if path.is_dir() and not path.name.startswith("."):
                try:
                    found.append(read_info(path))
                except (RestoreError, ValueError, KeyError, OSError):
                    continue  # not ours, or damaged: never listed as restorable
        return sorted(found, key=lambda s: (s.created_at_ms, s.name))

    def count(self) -> int:
        """How many snapshots there are (cheap: no sizes read)."""
        if not self.root.is_dir():
            return 0
        return sum(1 for p in self.root.iterdir()
                   if p.is_dir() and not p.name.startswith(".") and (p / META_FILE).is_file())

    def delete(self, name: str) -> None:
        """Remove snapshot ``name`` (NotFound if absent)."""
        path = self.root / check_name(name)
        if not path.is_dir():
            raise NotFound(f"snapshot {name!r} does not exist on node {self._node_id}")
        shutil.rmtree(path)


def database_in_use(db_path: Path) -> bool:
    """Whether a running node holds the RocksDB lock of ``db_path``."""
    lock = db_path / "LOCK"
    if not lock.exists():
        return False
    with open(lock, "rb+") as fh:
        try:
            fcntl.lockf(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return True
        fcntl.lockf(fh, fcntl.LOCK_UN)
    return False


def _copy_file(source: str, target: str) -> None:
    """SST files never change once written: hard-link them when the filesystem allows;
    copy everything else (MANIFEST, WAL, OPTIONS are rewritten by RocksDB)."""
    if source.endswith(".sst"):
        try:
            os.link(source, target)
            return
        except OSError:
            pass
    shutil.copy2(source, target)


def check_fresh(info: SnapshotInfo, now_ms: int) -> None:
    """A snapshot restored as one node of a live cluster must be younger than the grace
    period: older, its peers may have purged tombstones of data it still holds."""
    age_s = (now_ms - info.created_at_ms) / 1000
    if age_s > info.tombstone_grace_s:
        raise RestoreError(
            f"snapshot {info.name!r} of node {info.node_id} is {age_s:.0f} s old, older than "
            f"storage.tombstone_grace_s ({info.tombstone_grace_s:.0f} s): its peers may have "
            "purged tombstones of data it holds, and repair would bring that deleted data "
            "back. Replace the node instead: start a new node with an empty data dir and run "
            f"`manhattan node replace {info.node_id} <new address>` (it streams current data "
            "from the replicas); or, with every node stopped, restore all of them from "
            "snapshots of the same time (--whole-cluster)")


def restore(data_dir: Path, *, name: str | None = None, source: Path | None = None,
            force: bool = False, whole_cluster: bool = False,
            now_ms: int | None = None) -> tuple[SnapshotInfo, Path | None]:
    """Put a snapshot in place as ``<data_dir>/db`` of a stopped node.

    The snapshot is ``<data_dir>/snapshots/<name>`` or the directory ``source`` (one
    copied off the machine, say). A database already there is refused unless
    ``force``, which moves it aside to ``db.replaced-<time>`` rather than deleting it.
    Returns the snapshot and where the old database went (None if there was none).
    Unless ``whole_cluster`` (every node restored, the cluster stopped), a snapshot
    older than its tombstone grace period is refused (``check_fresh``).
    """
    data_dir = Path(data_dir)
    if source is None:
        if name is None:
            raise RestoreError("name a snapshot or give its directory")
        source = data_dir / SNAPSHOTS_DIR / check_name(name)
    if not source.is_dir():
        raise RestoreError(f"no snapshot at {source}")
    info = read_info(source)
    if name is not None and info.name != name:
        raise RestoreError(f"{source} holds snapshot {info.name!r}, not {name!r}")
    if not whole_cluster:
        check_fresh(info, int(time.time() * 1000) if now_ms is None else now_ms)
    target = data_dir / "db"
    if database_in_use(target):
        raise RestoreError(f"a running node holds {target}: stop it first "
                           "(restore is an offline operation)")
    moved: Path | None = None
    if target.exists() and any(target.iterdir()):
        if not force:
            raise RestoreError(f"{target} already holds a database; pass --force to move it "
                               "aside (to db.replaced-<time>) and restore over it")
        moved = data_dir / f"db.replaced-{time.strftime('%Y%m%dT%H%M%S')}"
        os.replace(target, moved)
    elif target.exists():
        target.rmdir()
    staging = data_dir / ".db.restoring"
    if staging.exists():
        shutil.rmtree(staging)
    shutil.copytree(source / "db", staging, copy_function=_copy_file)
    os.replace(staging, target)
    return info, moved


def snapshot_to_dict(info: SnapshotInfo) -> dict[str, object]:
    """Plain values for JSON output."""
    return {**asdict(info), "datasets": list(info.datasets)}
