"""Repair watermarks and the tombstone purge rule they allow.

After a complete exchange with peer P over the ranges of a dataset they share,
every record this node held when its tree scan started is on P as well (or P
holds something newer). The watermark ``(dataset, P)`` is that start time,
with the topology epoch the ranges were placed with; a new epoch invalidates
every older watermark, since the ranges then differ.

A tombstone of ring position p may be dropped only when, for every other
replica P of p, the watermark ``(dataset, P)`` is of the current epoch and
later than the tombstone's time plus the grace period: a repair that started
after the grace period with every replica has carried it everywhere, so no
replica can hand the deleted value back. (As with Cassandra's gc_grace, a
tombstone is assumed to reach at least one replica within the grace period.)
"""

from __future__ import annotations

import json
import struct
import threading
from collections.abc import Callable

from manhattan.cluster.membership import Membership
from manhattan.cluster.ranges import in_transition, replicas_at
from manhattan.hlc import physical_ms
from manhattan.storage import Entry
from manhattan.storage.engine import MetaStore
from manhattan.tenancy import Catalog

_PREFIX = b"repair/wm/"


def _key(dataset: str, peer: int) -> bytes:
    return _PREFIX + dataset.encode() + b"\x00" + struct.pack(">I", peer)


class Watermarks:
    """Per (dataset, peer) time of the last complete exchange, persisted."""

    def __init__(self, engine: MetaStore) -> None:
        self._engine = engine
        self._lock = threading.Lock()
        self._marks: dict[tuple[str, int], tuple[int, int]] = {}
        for key, raw in engine.meta_items(_PREFIX):
            name, peer = key[len(_PREFIX):-5], key[-4:]
            data = json.loads(raw)
            self._marks[(name.decode(), struct.unpack(">I", peer)[0])] = (
                int(data["epoch"]), int(data["ms"]))

    def record(self, dataset: str, peer: int, epoch: int, started_ms: int) -> None:
        """Note a complete exchange whose scan started at ``started_ms``."""
        with self._lock:
            current = self._marks.get((dataset, peer))
            if current is not None and current >= (epoch, started_ms):
                return
            self._marks[(dataset, peer)] = (epoch, started_ms)
        self._engine.meta_put(_key(dataset, peer),
                              json.dumps({"epoch": epoch, "ms": started_ms}).encode())

    def get(self, dataset: str, peer: int) -> tuple[int, int] | None:
        """(epoch, ms) of the last complete exchange, if any."""
        return self._marks.get((dataset, peer))

    def snapshot(self) -> dict[tuple[str, int], tuple[int, int]]:
        """Every watermark."""
        with self._lock:
            return dict(self._marks)


class TombstoneGate:
    """``may_drop`` for ``Purger.purge``: the rule above."""

    def __init__(self, *, node_id: int, membership: Membership, catalog: Catalog,
                 watermarks: Watermarks, grace_ms: Callable[[], int]) -> None:
        self._node_id = node_id
        self._membership = membership
        self._catalog = catalog
        self._watermarks = watermarks
        self._grace_ms = grace_ms
        self.held_back = 0

    def may_drop(self, dataset: str, key: bytes, entry: Entry) -> bool:
        """Whether every other replica of the key is known to hold this tombstone."""
        try:
            rf = self._catalog.storage(dataset).replication_factor
        except Exception:  # dataset dropped meanwhile: nothing to protect
            return True
        membership = self._membership
        if in_transition(membership.topology):  # a joining replica may lack it yet
            self.held_back += 1
            return False
        position = int.from_bytes(key[:4], "big")
        needed = physical_ms(entry.version.timestamp) + self._grace_ms()
        for member in replicas_at(membership.ring, position, rf):
            if member.id == self._node_id:
                continue
            mark = self._watermarks.get(dataset, member.id)
            if mark is None or mark[0] != membership.epoch or mark[1] <= needed:
                self.held_back += 1
                return False
        return True
