"""The consistent-hash ring and preference lists (riak_core's chash and apl).

Points come from uhashring's ketama ring (virtual nodes by weight), and keys
are placed with the same hash the storage layer prefixes keys with
(``manhattan.storage.keys.ring_position``). A pkey's preference list is the
first N distinct members clockwise from its position; when the cluster has
several zones, members of zones not yet used are taken first so replicas
spread across zones.
"""

from __future__ import annotations

import bisect
from functools import lru_cache

from uhashring import HashRing

from manhattan.cluster.topology import Member, Topology
from manhattan.storage.keys import ring_position

DEFAULT_VNODES = 256
RING_SIZE = 1 << 32


class Ring:
    """Placement of pkeys on the members of one topology."""

    def __init__(self, topology: Topology, *, vnodes: int = DEFAULT_VNODES) -> None:
        self.topology = topology
        self.members = {m.name: m for m in topology.owners}
        if not self.members:
            self._points: list[int] = []
            self._owners: list[Member] = []
            return
        hashring = HashRing(
            nodes={name: {"weight": m.weight, "vnodes": vnodes} for name, m in self.members.items()},
            hash_fn="ketama",
        )
        points = sorted(hashring.get_points())
        self._points = [p for p, _ in points]
        self._owners = [self.members[name] for _, name in points]
        self._zones = len({m.zone for m in self.members.values()})
        self._lists = lru_cache(maxsize=len(self._points))(self._walk)

    @property
    def epoch(self) -> int:
        """The topology epoch this ring was built from."""
        return self.topology.epoch

    def __len__(self) -> int:
        return len(self.members)

    def _walk(self, start: int, n: int) -> tuple[Member, ...]:
        """First n distinct members clockwise from point index ``start``, zones spread."""
        chosen: list[Member] = []
        deferred: list[Member] = []
        zones: set[str] = set()
        total = len(self._points)
        for step in range(total):
            member = self._owners[(start + step) % total]
            if member in chosen or member in deferred:
                continue
            if self._zones > 1 and member.zone in zones and len(zones) < self._zones:
                deferred.append(member)
                continue
            chosen.append(member)
            zones.add(member.zone)
            if len(chosen) == n:
                break
        for member in deferred:
            if len(chosen) == n:
                break
            chosen.append(member)
        return tuple(chosen)

    def position_index(self, position: int) -> int:
        """Index of the first ring point at or clockwise after ``position``."""
        index = bisect.bisect_left(self._points, position)
        return 0 if index == len(self._points) else index

    def owner_at(self, position: int) -> Member | None:
        """The member owning ``position`` (0..RING_SIZE) as first replica (for drawing)."""
        return self._owners[self.position_index(position)] if self._points else None

    def preference_list(self, pkey: bytes, n: int) -> tuple[Member, ...]:
        """The replicas of ``pkey``: n distinct members (fewer if the ring is smaller)."""
        if not self._points:
            return ()
        return self._lists(self.position_index(ring_position(pkey)), min(n, len(self.members)))

    def points_per_member(self) -> dict[int, int]:
        """How many ring points (virtual nodes x ketama replicas) each member has."""
        counts: dict[int, int] = {m.id: 0 for m in self.members.values()}
        for owner in self._owners:
            counts[owner.id] += 1
        return counts

    def primary_ownership(self) -> dict[int, float]:
        """Share of the ring each member owns as first replica."""
        if not self._points:
            return {}
        shares: dict[int, float] = {m.id: 0.0 for m in self.members.values()}
        previous = self._points[-1] - RING_SIZE
        for point, owner in zip(self._points, self._owners):
            shares[owner.id] += (point - previous) / RING_SIZE
            previous = point
        return shares

    def effective_ownership(self, n: int) -> dict[int, float]:
        """Share of the ring each member holds a replica of, with n replicas."""
        if not self._points:
            return {}
        shares: dict[int, float] = {m.id: 0.0 for m in self.members.values()}
        previous = self._points[-1] - RING_SIZE
        for index, point in enumerate(self._points):
            for member in self._lists(index, min(n, len(self.members))):
                shares[member.id] += (point - previous) / RING_SIZE
            previous = point
        return shares
