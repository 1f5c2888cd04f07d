"""The console's ring picture: arcs that cover the circle once, in order, each
node's share of the picture close to its primary ownership."""

from __future__ import annotations

import pytest

from manhattan.cli.cluster import ring_of
from manhattan.cli.console.views import RING_SLICES, ring_arcs
from manhattan.client import ClusterTopology, MemberInfo


def _topology(weights: dict[int, int]) -> ClusterTopology:
    return ClusterTopology(1, 256, [MemberInfo(i, f"10.0.0.{i}:7100", "default", w, "normal",
                                               True) for i, w in weights.items()])


@pytest.mark.parametrize("weights", [{1: 1}, {1: 1, 2: 1, 3: 1}, {1: 1, 2: 3}])
def test_arcs_cover_the_circle_once_in_proportion_to_ownership(weights):
    ring = ring_of(_topology(weights))
    arcs = ring_arcs(ring)
    assert arcs[0]["start"] == 0 and arcs[-1]["end"] == 360
    assert all(a["end"] == b["start"] for a, b in zip(arcs, arcs[1:]))
    assert all(a["node"] != b["node"] for a, b in zip(arcs, arcs[1:])), "neighbours merge"
    drawn = {node: 0.0 for node in weights}
    for arc in arcs:
        drawn[arc["node"]] += (arc["end"] - arc["start"]) / 360
    for node, share in ring.primary_ownership().items():
        # each slice is coloured by the owner of its middle: off by a few slices at most
        assert abs(drawn[node] - share) < 12 / RING_SLICES + 0.05 * share, (node, drawn, share)


def test_a_joining_node_owns_no_arc_yet():
    topology = _topology({1: 1, 2: 1})
    topology.members.append(MemberInfo(3, "10.0.0.3:7100", "default", 1, "joining", True))
    assert {arc["node"] for arc in ring_arcs(ring_of(topology))} == {1, 2}
