"""Ring arcs as position ranges: what two replicas share, what a node gains or loses.

A range is a half-open interval of ring positions ``[start, end)`` with
``0 <= start < end <= 2**32``. Ring point ``p_i`` owns the arc
``(p_{i-1}, p_i]`` (``Ring.position_index`` picks the first point at or after
a position), i.e. positions ``[p_{i-1} + 1, p_i + 1)``; the first arc wraps.
Because storage keys start with the 4-byte position, a range is one
contiguous storage range per dataset (``range_bounds``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from manhattan.cluster.ring import RING_SIZE, Ring
from manhattan.cluster.topology import Member, MemberState, Topology
from manhattan.errors import InvalidRequest
from manhattan.storage.keys import position_key

Range = tuple[int, int]


def replicas_at(ring: Ring, position: int, n: int) -> tuple[Member, ...]:
    """The preference list of a ring position."""
    if not ring._points:
        return ()
    return ring._lists(ring.position_index(position), min(n, len(ring.members)))


def _boundaries(rings: Iterable[Ring]) -> list[int]:
    cuts = {0}
    for ring in rings:
        cuts.update((p + 1) % RING_SIZE for p in ring._points)
    return sorted(cuts)


def elementary(rings: Iterable[Ring]) -> list[Range]:
    """The ranges on which every given ring's preference lists are constant."""
    cuts = _boundaries(rings)
    return [(s, e) for s, e in zip(cuts, cuts[1:] + [RING_SIZE]) if s < e]


def coalesce(ranges: Iterable[Range]) -> list[Range]:
    """Sorted, with touching ranges merged."""
    merged: list[list[int]] = []
    for start, end in sorted(ranges):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return [(s, e) for s, e in merged]


def select(ring: Ring, n: int, keep: Callable[[tuple[Member, ...]], bool]) -> list[Range]:
    """Coalesced ranges whose preference list satisfies ``keep``."""
    return coalesce(r for r in elementary([ring]) if keep(replicas_at(ring, r[0], n)))


def shared_ranges(ring: Ring, a: int, b: int, n: int) -> list[Range]:
    """Ranges that nodes ``a`` and ``b`` both replicate (RF ``n``)."""
    return select(ring, n, lambda pref: {a, b} <= {m.id for m in pref})


def owned_ranges(ring: Ring, node: int, n: int) -> list[Range]:
    """Ranges that ``node`` replicates."""
    return select(ring, n, lambda pref: any(m.id == node for m in pref))


def unowned_ranges(ring: Ring, node: int, n: int) -> list[Range]:
    """Ranges that ``node`` does not replicate: what it may drop."""
    return select(ring, n, lambda pref: all(m.id != node for m in pref))


def future_topology(topology: Topology) -> Topology:
    """The topology once a change completes: joining members normal, leaving ones gone
    (same epoch; the switch bumps it)."""
    members = tuple(
        Member(m.id, m.address, m.zone, m.weight, MemberState.NORMAL)
        for m in topology.members if m.state != MemberState.LEAVING
    )
    return Topology(topology.epoch, members)


def in_transition(topology: Topology) -> bool:
    """Whether a membership change is under way (someone joining or leaving)."""
    return any(m.state != MemberState.NORMAL for m in topology.members)


def gained_ranges(current: Ring, future: Ring, node: int, n: int
                  ) -> list[tuple[int, int, tuple[int, ...]]]:
    """(start, end, source node ids) of ranges ``node`` replicates in ``future`` but not
    in ``current``; the sources are their current replicas. Adjacent ranges with the
    same sources are merged."""
    out: list[tuple[int, int, tuple[int, ...]]] = []
    for start, end in elementary([current, future]):
        now = {m.id for m in replicas_at(current, start, n)}
        later = {m.id for m in replicas_at(future, start, n)}
        if node in later and node not in now:
            sources = tuple(sorted(now))
            if out and out[-1][1] == start and out[-1][2] == sources:
                out[-1] = (out[-1][0], end, sources)
            else:
                out.append((start, end, sources))
    return out


def checked_range(start: int, end: int) -> Range:
    """A range a peer asked for, as it must be: ``0 <= start < end <= 2**32``
    (InvalidRequest otherwise, before any storage is touched)."""
    if not 0 <= start < end <= RING_SIZE:
        raise InvalidRequest(f"range [{start}, {end}) is not a range of ring positions: "
                             f"0 <= start < end <= {RING_SIZE} is required")
    return start, end


def range_bounds(start: int, end: int) -> tuple[bytes, bytes | None]:
    """The [lower, upper) storage keys of a position range (upper None: to the end)."""
    return position_key(start), (position_key(end) if end < RING_SIZE else None)
