"""This node's view of the cluster: the newest topology it knows and its ring.

The topology is persisted in the node's metadata store; a topology with a
higher epoch (pushed by the admin API or learned through gossip) replaces it.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from manhattan.cluster.ranges import future_topology, in_transition
from manhattan.cluster.ring import DEFAULT_VNODES, Ring
from manhattan.cluster.topology import Member, MemberState, Topology
from manhattan.proto.v1 import cluster_pb2
from manhattan.tenancy import MetaStore

_TOPOLOGY_KEY = b"cluster/topology"
_STATES = {
    MemberState.JOINING: cluster_pb2.JOINING,
    MemberState.NORMAL: cluster_pb2.NORMAL,
    MemberState.LEAVING: cluster_pb2.LEAVING,
}
_STATES_BACK = {v: k for k, v in _STATES.items()}


def topology_to_proto(topology: Topology, *, vnodes: int = DEFAULT_VNODES,
                      alive: Callable[[int], bool] = lambda _id: True
                      ) -> cluster_pb2.TopologyMessage:
    """The wire form of a topology, with liveness as seen from here."""
    return cluster_pb2.TopologyMessage(
        epoch=topology.epoch, vnodes=vnodes,
        members=[cluster_pb2.MemberMessage(id=m.id, address=m.address, zone=m.zone,
                                           weight=m.weight, state=_STATES[m.state],
                                           alive=alive(m.id))
                 for m in topology.members],
    )


def topology_from_proto(message: cluster_pb2.TopologyMessage) -> Topology:
    """A topology from the wire."""
    return Topology(message.epoch, tuple(
        Member(m.id, m.address, m.zone or "default", m.weight or 1,
               _STATES_BACK.get(m.state, MemberState.NORMAL))
        for m in message.members
    ))


class Membership:
    """The current topology and ring of this node."""

    def __init__(self, meta: MetaStore, node_id: int, initial: Topology, *,
                 vnodes: int = DEFAULT_VNODES) -> None:
        self._meta = meta
        self.node_id = node_id
        self.vnodes = vnodes
        stored = meta.meta_get(_TOPOLOGY_KEY)
        topology = Topology.from_json(stored) if stored is not None else initial
        if initial.epoch > topology.epoch:
            topology = initial
        self._set(topology)
        # When this node last adopted a newer topology (monotonic seconds; never: -inf).
        self.changed_at = float("-inf")

    def _set(self, topology: Topology) -> None:
        self.topology = topology
        self.ring = Ring(topology, vnodes=self.vnodes)
        # While members join or leave, writes also go to the owners-to-be (pending ranges).
        self.future_ring = (Ring(future_topology(topology), vnodes=self.vnodes)
                            if in_transition(topology) else None)
        self._meta.meta_put(_TOPOLOGY_KEY, topology.to_json())

    @property
    def epoch(self) -> int:
        """The epoch of the topology in force here."""
        return self.topology.epoch

    def update(self, topology: Topology) -> bool:
        """Adopt ``topology`` if it is newer; return whether it was."""
        if topology.epoch <= self.topology.epoch:
            return False
        self._set(topology)
        self.changed_at = time.monotonic()
        return True

    def settled(self, for_s: float) -> bool:
        """No membership change is under way, and none was adopted here in ``for_s``."""
        return self.future_ring is None and time.monotonic() - self.changed_at >= for_s

    def replicas(self, pkey: bytes, replication_factor: int) -> tuple[Member, ...]:
        """The preference list of ``pkey``."""
        return self.ring.preference_list(pkey, replication_factor)

    def write_replicas(self, pkey: bytes, replication_factor: int) -> tuple[Member, ...]:
        """The replicas a write goes to: the preference list, then any member that will
        own ``pkey`` once the membership change under way completes (pending)."""
        natural = self.ring.preference_list(pkey, replication_factor)
        if self.future_ring is None:
            return natural
        ids = {m.id for m in natural}
        pending = tuple(self.topology.member(m.id) or m
                        for m in self.future_ring.preference_list(pkey, replication_factor)
                        if m.id not in ids)
        return natural + pending

    def peers(self) -> list[Member]:
        """Every other member."""
        return [m for m in self.topology.members if m.id != self.node_id]

    def size(self) -> int:
        """Members that own ranges."""
        return len(self.topology.owners)
