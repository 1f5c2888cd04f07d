"""Hash trees and ring ranges, in process (no nodes): the pieces anti-entropy relies on."""

from __future__ import annotations

from manhattan.cluster.ranges import (
    RING_SIZE, elementary, gained_ranges, owned_ranges, replicas_at, shared_ranges,
    unowned_ranges,
)
from manhattan.cluster.ring import Ring
from manhattan.cluster.topology import Member, MemberState, Topology
from manhattan.replication.antientropy.hashtree import build_tree, segment_versions
from manhattan.storage import Entry, RocksEngine, Version, Write
from manhattan.storage.keys import ring_position


def _ring(*ids: int, joining: tuple[int, ...] = ()) -> Ring:
    members = tuple(Member(i, f"h:{i}", state=MemberState.JOINING if i in joining
                           else MemberState.NORMAL) for i in ids)
    return Ring(Topology(1, members), vnodes=16)


def _covers(ranges, position: int) -> bool:
    return any(s <= position < e for s, e in ranges)


def test_shared_ranges_are_exactly_where_both_nodes_replicate():
    ring = _ring(1, 2, 3, 4)
    shared = shared_ranges(ring, 1, 2, 2)
    for start, end in elementary([ring]):
        ids = {m.id for m in replicas_at(ring, start, 2)}
        assert _covers(shared, start) == ({1, 2} <= ids)
        assert {m.id for m in replicas_at(ring, end - 1, 2)} == ids  # constant inside
    owned, unowned = owned_ranges(ring, 3, 2), unowned_ranges(ring, 3, 2)
    assert sum(e - s for s, e in owned) + sum(e - s for s, e in unowned) == RING_SIZE


def test_a_pkey_lands_in_the_range_of_its_replicas():
    ring = _ring(1, 2, 3)
    for i in range(200):
        pkey = f"user{i}".encode()
        ids = {m.id for m in ring.preference_list(pkey, 2)}
        for a, b in ((1, 2), (1, 3), (2, 3)):
            assert _covers(shared_ranges(ring, a, b, 2), ring_position(pkey)) == ({a, b} <= ids)


def test_gained_ranges_of_a_joining_node_come_from_the_current_replicas():
    current, future = _ring(1, 2, 3), _ring(1, 2, 3, 4)
    gained = gained_ranges(current, future, 4, 2)
    assert gained and all(4 not in sources for _, _, sources in gained)
    for start, end, sources in gained:
        assert {m.id for m in replicas_at(current, start, 2)} == set(sources)
        assert 4 in {m.id for m in replicas_at(future, end - 1, 2)}
    assert not gained_ranges(current, current, 1, 2)


def _write(engine: RocksEngine, ds: str, pkey: str, ts: int, tomb: bool = False) -> None:
    engine.apply(ds, [Write(pkey.encode(), b"l", Entry(Version(ts << 16, 1), b"v", 0, tomb))])


def test_trees_agree_iff_replicas_hold_the_same_versions(tmp_path):
    a, b = RocksEngine(tmp_path / "a"), RocksEngine(tmp_path / "b")
    try:
        for engine in (a, b):
            engine.create_dataset("d")
            for i in range(500):
                _write(engine, "d", f"k{i}", 1000 + i)
        whole = [(0, RING_SIZE)]
        assert build_tree(a, "d", whole).root == build_tree(b, "d", whole).root
        _write(b, "d", "k7", 5000)                  # newer on b
        _write(a, "d", "k9", 6000, tomb=True)       # deleted on a
        _write(a, "d", "only-a", 7000)              # missing on b
        ta, tb = build_tree(a, "d", whole), build_tree(b, "d", whole)
        assert ta.root != tb.root and ta.keys == tb.keys + 1
        # Descend like an exchange: the differing leaves hold exactly the differing keys.
        frontier = [0]
        for level in range(4):
            ca, cb = ta.children(level, frontier), tb.children(level, frontier)
            frontier = sorted(i for i in set(ca) | set(cb) if ca.get(i) != cb.get(i))
        va, vb = segment_versions(a, "d", whole, frontier), segment_versions(b, "d", whole, frontier)
        differing = {k for k in set(va) | set(vb) if va.get(k) != vb.get(k)}
        assert {k[6:-1] for k in differing} == {b"k7", b"k9", b"only-a"}
        # A range that excludes a key's position also excludes it from the tree.
        position = ring_position(b"only-a")
        outside = [(0, position), (position + 1, RING_SIZE)]
        a.apply_raw("d", [])  # no-op is fine
        assert build_tree(a, "d", outside).keys == ta.keys - 1
    finally:
        a.close()
        b.close()


class _Spec:
    replication_factor = 3


class _Catalog:
    def dataset(self, name: str) -> _Spec:
        return _Spec()


def test_a_tombstone_is_dropped_only_after_a_repair_with_every_replica_past_the_grace(tmp_path):
    from manhattan.cluster.membership import Membership
    from manhattan.replication.antientropy.watermarks import TombstoneGate, Watermarks

    engine = RocksEngine(tmp_path / "db")
    try:
        topology = Topology(1, tuple(Member(i, f"h:{i}") for i in (1, 2, 3)))
        membership = Membership(engine, 1, topology, vnodes=16)
        marks = Watermarks(engine)
        gate = TombstoneGate(node_id=1, membership=membership, catalog=_Catalog(),
                             watermarks=marks, grace_ms=lambda: 1000)
        written_ms = 50_000
        tomb = Entry(Version(written_ms << 16, 2), b"", 0, True)
        key = b"\x00\x00\x00\x01\x00\x01kl"
        assert not gate.may_drop("d", key, tomb)             # no repair yet
        marks.record("d", 2, 1, written_ms + 5000)
        assert not gate.may_drop("d", key, tomb)             # node 3 not repaired yet
        marks.record("d", 3, 1, written_ms + 500)            # repaired, but within the grace
        assert not gate.may_drop("d", key, tomb)
        marks.record("d", 3, 1, written_ms + 5000)
        assert gate.may_drop("d", key, tomb)
        assert Watermarks(engine).get("d", 3) == (1, written_ms + 5000)  # persisted
        membership.update(topology.with_member(Member(4, "h:4")))  # new epoch: start over
        assert not gate.may_drop("d", key, tomb)
    finally:
        engine.close()


def test_purge_drops_a_tombstone_past_the_grace_only_when_allowed(tmp_path):
    now = [10_000_000]
    engine = RocksEngine(tmp_path / "db", now_ms=lambda: now[0])
    try:
        engine.create_dataset("d")
        _write(engine, "d", "gone", 1_000, tomb=True)   # written at t=1s, long past the grace
        asked: list[bytes] = []

        def refuse(dataset: str, key: bytes, entry: Entry) -> bool:
            asked.append(key)
            return False

        assert engine.purge(grace_ms=1000, may_drop=refuse) == 0
        assert asked and engine.get_entry("d", b"gone", b"l") is not None
        assert engine.purge(grace_ms=1000, may_drop=lambda *_: True) == 1
        assert engine.get_entry("d", b"gone", b"l") is None
    finally:
        engine.close()
