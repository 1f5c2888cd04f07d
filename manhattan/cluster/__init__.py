"""Cluster membership: the versioned topology, the hash ring and failure detection."""

from manhattan.cluster.failure_detector import PhiAccrualDetector
from manhattan.cluster.membership import Membership, topology_from_proto, topology_to_proto
from manhattan.cluster.ring import DEFAULT_VNODES, Ring
from manhattan.cluster.topology import Member, MemberState, Topology

__all__ = [
    "DEFAULT_VNODES", "Member", "MemberState", "Membership", "PhiAccrualDetector", "Ring",
    "Topology", "topology_from_proto", "topology_to_proto",
]
