"""Replication: the coordinator, peer streams, hinted handoff and read repair."""

from manhattan.replication.coordinator import Coordinator, Mutation, required_acks
from manhattan.replication.hints import HintStore
from manhattan.replication.peer_link import PeerLink, PeerLinks, PeerUnreachable

__all__ = [
    "Coordinator", "HintStore", "Mutation", "PeerLink", "PeerLinks",
    "PeerUnreachable", "required_acks",
]
