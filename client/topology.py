"""The SDK's view of the cluster: ring, epoch, liveness and replication factors.

A TopologyCache holds what the last ``Cluster/GetTopology`` (and
``Admin/ListDatasets``) answer said, and decides when to ask again; the sync
and async clients only do the fetching. Placement uses the very Ring the nodes
use, so ``replicas(dataset, pkey)`` names the nodes that store ``pkey``.

When to fetch (``due()``):
- first use, before any topology is known: WAIT (the call waits for it, bounded
  by a share of its own deadline; on failure it proceeds without routing);
- every ``refresh_interval`` seconds afterwards, after a call met Unavailable
  (a node may be gone), or when a dataset's replication factor is unknown:
  BACKGROUND (the call goes on with the topology it has);
- never more often than every ``retry_interval`` seconds, one fetch at a time.
"""

from __future__ import annotations

import enum
import threading
import time
from collections.abc import Callable, Iterable, Sequence

from manhattan.client.models import DatasetInfo
from manhattan.cluster.membership import topology_from_proto
from manhattan.cluster.ring import DEFAULT_VNODES, Ring
from manhattan.cluster.topology import Member, Topology
from manhattan.proto.v1 import cluster_pb2

DEFAULT_REPLICATION_FACTOR = 3
MAX_REMEMBERED_SETS = 100_000  # pkeys whose replica set group() remembers per ring


class Refresh(enum.Enum):
    """What a call should do about the topology before it is sent."""

    NONE = "none"
    WAIT = "wait"
    BACKGROUND = "background"


class TopologyCache:
    """Current ring, epoch, member liveness and per-dataset replication factors (thread-safe)."""

    def __init__(
        self,
        *,
        refresh_interval: float = 15.0,
        retry_interval: float = 0.5,
        fetch_timeout: float = 1.0,
        default_replication_factor: int = DEFAULT_REPLICATION_FACTOR,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if refresh_interval <= 0 or retry_interval < 0 or fetch_timeout <= 0:
            raise ValueError("refresh_interval and fetch_timeout must be positive, "
                             "retry_interval not negative")
        if default_replication_factor < 1:
            raise ValueError("default_replication_factor must be >= 1")
        self.refresh_interval = refresh_interval
        self.retry_interval = retry_interval
        self.fetch_timeout = fetch_timeout
        self.default_replication_factor = default_replication_factor
        self._clock = clock
        self._lock = threading.Lock()
        self._ring: Ring | None = None
        # Replica sets of pkeys already grouped, for the ring they were computed on: a
        # fan-out pushes to the same followers post after post (see ``group``).
        self._sets: tuple[Ring | None, dict[tuple[int, bytes], tuple[int, ...]]] = (None, {})
        self._alive: dict[int, bool] = {}
        self._dead_addresses: frozenset[str] = frozenset()
        self._learned_rf: dict[str, int] = {}
        self._pinned_rf: dict[str, int] = {}
        self._asked: set[str] = set()
        self._want_datasets = False
        self._fetched_at: float | None = None
        self._attempted_at: float | None = None
        self._invalidated = False
        self._in_flight = False
        self.version = 0
        """Bumped on every change of members or liveness (policies cache on it)."""

    # -- what is known ------------------------------------------------------------

    @property
    def ring(self) -> Ring | None:
        """The ring of the newest topology fetched, or None before the first fetch."""
        return self._ring

    @property
    def topology(self) -> Topology | None:
        """The newest topology fetched, or None."""
        ring = self._ring
        return ring.topology if ring is not None else None

    @property
    def epoch(self) -> int:
        """Epoch of the topology in use (0 before the first fetch)."""
        ring = self._ring
        return ring.epoch if ring is not None else 0

    @property
    def addresses(self) -> tuple[str, ...]:
        """Addresses of every member (joining and leaving ones too: any node coordinates)."""
        topology = self.topology
        return tuple(m.address for m in topology.members) if topology is not None else ()

    @property
    def dead_addresses(self) -> frozenset[str]:
        """Addresses of members the answering node believed down."""
        return self._dead_addresses

    def is_alive(self, member_id: int) -> bool:
        """Whether the member was alive at the last fetch (unknown members count as alive)."""
        return self._alive.get(member_id, True)

    def replication_factor(self, dataset: str | None) -> int:
        """The dataset's replication factor: pinned, learned, or the default (capped by size)."""
        if dataset is not None:
            rf = self._pinned_rf.get(dataset) or self._learned_rf.get(dataset)
            if rf:
                return rf
            with self._lock:
                if dataset not in self._asked:
                    self._asked.add(dataset)
                    self._want_datasets = True
        ring = self._ring
        size = len(ring) if ring is not None else self.default_replication_factor
        return max(1, min(self.default_replication_factor, size))

    def pin_replication_factor(self, dataset: str, replication_factor: int) -> None:
        """Use ``replication_factor`` for ``dataset`` whatever the cluster says."""
        if replication_factor < 1:
            raise ValueError(f"replication_factor must be >= 1, got {replication_factor}")
        with self._lock:
            self._pinned_rf[dataset] = replication_factor

    def learn_datasets(self, datasets: Iterable[DatasetInfo], *, complete: bool = False) -> None:
        """Replication factors from ListDatasets/CreateDataset (``complete``: the full list)."""
        with self._lock:
            learned = {} if complete else dict(self._learned_rf)
            for d in datasets:  # names are per tenant: an admin may say tenant/name
                if d.replication_factor > 0:
                    learned[d.name] = learned[f"{d.tenant}/{d.name}"] = d.replication_factor
            self._learned_rf = learned

    def forget_dataset(self, dataset: str) -> None:
        """A dataset was dropped."""
        with self._lock:
            learned = dict(self._learned_rf)
            learned.pop(dataset, None)
            self._learned_rf = learned

    def replicas(self, dataset: str | None, pkey: bytes) -> tuple[Member, ...]:
        """The preference list of ``pkey`` (empty before the first fetch)."""
        ring = self._ring
        if ring is None:
            return ()
        return ring.preference_list(pkey, self.replication_factor(dataset))

    def group(self, dataset: str | None, pkeys: Sequence[bytes]) -> list[list[int]]:
        """Indices of ``pkeys`` grouped by replica set (the set, whatever its order on the
        ring: the same nodes hold every member of a group), first-seen order."""
        if not pkeys:
            return []
        ring = self._ring
        if ring is None:
            return [list(range(len(pkeys)))]
        rf = self.replication_factor(dataset)
        groups: dict[tuple[int, ...], list[int]] = {}
        # The ring hands out one cached tuple per arc (its preference lists are memoised
        # for every point, so none is evicted during this loop): key replica sets by it.
        keys: dict[int, tuple[int, ...]] = {}
        known = self._replica_sets(ring)
        for index, pkey in enumerate(pkeys):
            key = known.get((rf, pkey))
            if key is None:
                replicas = ring.preference_list(pkey, rf)
                key = keys.get(id(replicas))
                if key is None:
                    key = keys[id(replicas)] = tuple(sorted(m.id for m in replicas))
                known[(rf, pkey)] = key
            groups.setdefault(key, []).append(index)
        return list(groups.values())

    def _replica_sets(self, ring: Ring) -> dict[tuple[int, bytes], tuple[int, ...]]:
        """The pkey -> replica set memo of ``ring`` (a new ring starts a new one; bounded
        by ``MAX_REMEMBERED_SETS``, then started afresh)."""
        remembered, known = self._sets
        if remembered is not ring or len(known) > MAX_REMEMBERED_SETS:
            known = {}
            self._sets = (ring, known)
        return known

    # -- when to fetch --------------------------------------------------------------

    def due(self) -> Refresh:
        """Whether a fetch is due now, and whether the caller should wait for it."""
        now = self._clock()
        with self._lock:
            if self._in_flight:
                return Refresh.NONE
            if self._attempted_at is None:
                return Refresh.WAIT
            if now - self._attempted_at < self.retry_interval:
                return Refresh.NONE
            if (self._ring is None or self._invalidated or self._want_datasets
                    or self._fetched_at is None
                    or now - self._fetched_at >= self.refresh_interval):
                return Refresh.BACKGROUND
            return Refresh.NONE

    def claim(self) -> bool:
        """Become the one fetch in flight; False if another is running or none is due."""
        with self._lock:
            if self._in_flight:
                return False
            self._in_flight = True
            self._attempted_at = self._clock()
            return True

    def invalidate(self) -> None:
        """A node could not be reached (it may be gone): fetch again soon."""
        with self._lock:
            self._invalidated = True

    def finish(self, message: cluster_pb2.TopologyMessage | None,
               datasets: list[DatasetInfo] | None = None) -> None:
        """End the claimed fetch with what it got (``message`` None: it failed)."""
        try:
            self.update(message, datasets)
        finally:
            with self._lock:
                self._in_flight = False
                self._want_datasets = False

    def update(self, message: cluster_pb2.TopologyMessage | None,
               datasets: list[DatasetInfo] | None = None) -> None:
        """Take what a fetch got: the topology and the caller's full list of datasets."""
        if datasets is not None:
            self.learn_datasets(datasets, complete=True)
        if message is not None:
            self.apply(message)
            with self._lock:
                self._invalidated = False
                self._fetched_at = self._clock()

    def apply(self, message: cluster_pb2.TopologyMessage) -> bool:
        """Adopt a fetched topology unless it is older; liveness is always taken.

        Returns whether the members changed (a newer epoch)."""
        with self._lock:
            current = self._ring
            if current is not None and message.epoch < current.epoch:
                return False
            changed = current is None or message.epoch > current.epoch
            ring = current
            if changed:
                ring = Ring(topology_from_proto(message), vnodes=message.vnodes or DEFAULT_VNODES)
            addresses = {m.id: m.address for m in ring.topology.members}
            alive = {m.id: m.alive for m in message.members if m.id in addresses}
            dead = frozenset(addresses[i] for i, up in alive.items() if not up)
            if changed or alive != self._alive:
                self._ring, self._alive, self._dead_addresses = ring, alive, dead
                self.version += 1
            return changed


__all__ = ["DEFAULT_REPLICATION_FACTOR", "Refresh", "TopologyCache"]
