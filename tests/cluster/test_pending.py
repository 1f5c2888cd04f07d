"""Pending ranges, in process: while a member joins or leaves, writes also go to the
owners-to-be of each range, and count them among the acknowledgements needed; and when
a topology counts as settled (no change under way or recently adopted)."""

from __future__ import annotations

from manhattan.cluster.membership import Membership
from manhattan.cluster.topology import Member, MemberState, Topology
from manhattan.storage import RocksEngine


def _membership(tmp_path, states: dict[int, MemberState]) -> tuple[RocksEngine, Membership]:
    engine = RocksEngine(tmp_path / "db")
    topology = Topology(2, tuple(Member(i, f"h:{i}", state=s) for i, s in states.items()))
    return engine, Membership(engine, 1, topology, vnodes=32)


def test_a_joining_node_gets_the_writes_of_its_future_ranges(tmp_path):
    engine, membership = _membership(tmp_path, {1: MemberState.NORMAL, 2: MemberState.NORMAL,
                                                3: MemberState.NORMAL, 4: MemberState.JOINING})
    try:
        future = membership.future_ring
        assert future is not None
        gained = 0
        for i in range(300):
            pkey = f"k{i}".encode()
            natural = membership.replicas(pkey, 3)
            writes = membership.write_replicas(pkey, 3)
            assert 4 not in {m.id for m in natural}          # reads never go to it yet
            assert writes[:3] == natural
            if 4 in {m.id for m in future.preference_list(pkey, 3)}:
                gained += 1
                assert [m.id for m in writes[3:]] == [4]
                assert writes[3].state == MemberState.JOINING
            else:
                assert writes == natural
        assert gained > 100
    finally:
        engine.close()


def test_a_leaving_node_hands_its_writes_to_the_next_owner(tmp_path):
    engine, membership = _membership(tmp_path, {1: MemberState.NORMAL, 2: MemberState.NORMAL,
                                                3: MemberState.NORMAL, 4: MemberState.LEAVING})
    try:
        for i in range(300):
            pkey = f"k{i}".encode()
            natural = {m.id for m in membership.replicas(pkey, 3)}
            writes = [m.id for m in membership.write_replicas(pkey, 3)]
            if 4 in natural:
                assert set(writes) == {1, 2, 3, 4} and len(writes) == 4
            else:
                assert set(writes) == natural and len(writes) == 3
        settled = Topology(3, tuple(Member(i, f"h:{i}") for i in (1, 2, 3)))
        assert membership.update(settled) and membership.future_ring is None
    finally:
        engine.close()


def test_a_topology_is_settled_once_no_change_is_under_way_or_recent(tmp_path):
    engine, membership = _membership(tmp_path, {1: MemberState.NORMAL, 2: MemberState.NORMAL,
                                                3: MemberState.NORMAL, 4: MemberState.JOINING})
    try:
        assert not membership.settled(0.0)  # a join under way
        done = Topology(3, tuple(Member(i, f"h:{i}") for i in (1, 2, 3, 4)))
        assert membership.update(done)
        assert membership.settled(0.0) and not membership.settled(30.0)  # just adopted
        membership.changed_at -= 31.0
        assert membership.settled(30.0)
        assert not membership.update(done)  # the same epoch again changes nothing
        assert membership.settled(30.0)
    finally:
        engine.close()
    # A node that starts on a settled topology (its own stored one) is settled at once.
    engine, membership = _membership(tmp_path / "fresh", {1: MemberState.NORMAL})
    try:
        assert membership.settled(30.0)
    finally:
        engine.close()


def test_streaming_chunks_span_ranges_in_order_and_resume_after_a_key(tmp_path):
    from manhattan.cluster.ranges import RING_SIZE, range_bounds
    from manhattan.replication.streaming import read_chunk
    from manhattan.storage import Entry, Version, Write

    engine = RocksEngine(tmp_path / "db")
    try:
        engine.create_dataset("d")
        engine.apply("d", [Write(f"k{i}".encode(), b"l", Entry(Version(1 << 16, 1), b"v"))
                           for i in range(500)])
        thirds = [(0, RING_SIZE // 3), (RING_SIZE // 3, 2 * RING_SIZE // 3),
                  (2 * RING_SIZE // 3, RING_SIZE)]
        bounds = [range_bounds(s, e) for s, e in thirds]
        expected = [k for k, _ in engine.iter_raw("d", b"", None)]
        got: list[bytes] = []
        index, resume, chunks = 0, bounds[0][0], 0
        while resume is not None:
            items, index, resume = read_chunk(engine, "d", bounds, index, resume, 64)
            assert len(items) <= 64
            got += [k for k, _ in items]
            chunks += 1
            if resume is not None:  # the chunk ends inside range ``index``
                assert bounds[index][0] <= items[-1][0] and (
                    bounds[index][1] is None or items[-1][0] < bounds[index][1])
        assert got == expected and chunks == 500 // 64 + 1
        assert index == 2
    finally:
        engine.close()
