"""Ring properties: distinct replicas, minimal movement, balance, zones."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from uhashring import HashRing

from manhattan.cluster.ring import DEFAULT_VNODES, Ring
from manhattan.cluster.topology import Member, MemberState, Topology
from manhattan.storage.keys import ring_position

KEYS = [f"user:{i}".encode() for i in range(3000)]


def topology(ids, zones=None) -> Topology:
    zones = zones or {}
    return Topology(1, tuple(Member(i, f"10.0.0.{i}:7100", zones.get(i, "default")) for i in ids))


node_sets = st.sets(st.integers(min_value=1, max_value=500), min_size=1, max_size=12)


@settings(max_examples=40, deadline=None)
@given(ids=node_sets, n=st.integers(min_value=1, max_value=5), key=st.binary(min_size=1, max_size=40))
def test_preference_lists_have_n_distinct_members(ids, n, key):
    ring = Ring(topology(sorted(ids)))
    replicas = ring.preference_list(key, n)
    assert len(replicas) == min(n, len(ids))
    assert len({m.id for m in replicas}) == len(replicas)


@settings(max_examples=15, deadline=None)
@given(ids=st.sets(st.integers(min_value=1, max_value=500), min_size=2, max_size=10),
       new=st.integers(min_value=501, max_value=1000))
def test_adding_a_node_moves_about_one_share_of_the_keys(ids, new):
    before = Ring(topology(sorted(ids)))
    after = Ring(topology(sorted(ids | {new})))
    moved = sum(before.preference_list(k, 1)[0].id != after.preference_list(k, 1)[0].id
                for k in KEYS)
    expected = len(KEYS) / (len(ids) + 1)
    # Every moved key moves to the new node, and about 1/(n+1) of them move.
    assert all(after.preference_list(k, 1)[0].id == new
               for k in KEYS if before.preference_list(k, 1)[0].id != after.preference_list(k, 1)[0].id)
    assert 0.5 * expected <= moved <= 1.6 * expected


@settings(max_examples=25, deadline=None)
@given(ids=st.sets(st.integers(min_value=1, max_value=10_000), min_size=2, max_size=12))
def test_primary_ownership_is_balanced_with_default_vnodes(ids):
    shares = Ring(topology(sorted(ids))).primary_ownership()
    assert abs(sum(shares.values()) - 1.0) < 1e-9
    assert max(shares.values()) / min(shares.values()) <= 1.25


def test_effective_ownership_with_rf_equal_to_node_count_is_everything():
    ring = Ring(topology([1, 2, 3]))
    assert all(abs(share - 1.0) < 1e-9 for share in ring.effective_ownership(3).values())


def test_replicas_spread_across_zones_first():
    zones = {1: "a", 2: "a", 3: "a", 4: "b", 5: "b", 6: "c"}
    ring = Ring(topology(list(zones), zones))
    for key in KEYS[:500]:
        assert {m.zone for m in ring.preference_list(key, 3)} == {"a", "b", "c"}


def test_joining_members_own_nothing_yet():
    topo = topology([1, 2, 3]).with_member(Member(4, "10.0.0.4:7100", state=MemberState.JOINING))
    ring = Ring(topo)
    assert all(4 not in {m.id for m in ring.preference_list(k, 3)} for k in KEYS[:500])


@settings(max_examples=20, deadline=None)
@given(ids=st.sets(st.integers(min_value=1, max_value=500), min_size=1, max_size=8),
       keys=st.lists(st.binary(min_size=1, max_size=24), min_size=1, max_size=50))
def test_placement_is_ketama_on_the_storage_key_hash(ids, keys):
    """Held against uhashring itself, not the ring's own tables: the first replica of a
    pkey is the node uhashring's ketama ring picks for it, and the position the storage
    layer prefixes keys with is that same ketama hash."""
    members = topology(sorted(ids))
    ring = Ring(members)
    reference = HashRing(nodes={m.name: {"weight": m.weight, "vnodes": DEFAULT_VNODES}
                                for m in members.members}, hash_fn="ketama")
    for key in keys:
        assert ring_position(key) == reference.hashi(key.decode("latin-1"))
        assert ring.preference_list(key, 1)[0].name == reference.get_node(key.decode("latin-1"))


def test_topology_round_trips_through_json():
    topo = topology([1, 2]).with_member(Member(3, "h:1", "z", 2, MemberState.LEAVING))
    assert Topology.from_json(topo.to_json()) == topo
    assert topo.epoch == 2
