"""How a node that was away learns that the cluster removed it.

A voter removed while it was down comes back to a log whose other members no longer
talk to it (pysyncobj drops connections from endpoints outside its voter set), so it
could never apply its own removal, nor clean up. It asks its former peers instead: one
that sees a metadata majority says who votes and whether its applied topology still
names this node. Only an answer that both leaves this node out of the voters and out
of the topology lets it follow the log as a learner (a node being promoted is out of
the voters for a moment, but already in the topology).
"""

from __future__ import annotations

from dataclasses import dataclass

import grpc

from manhattan.cluster.peers import PeerContext
from manhattan.cluster.topology import Member
from manhattan.proto.v1 import admin_pb2, admin_pb2_grpc, cluster_pb2, cluster_pb2_grpc

ASK_TIMEOUT_S = 2.0


@dataclass(frozen=True, slots=True)
class PeerView:
    """What a peer with a metadata majority knows about the cluster and this node."""

    voters: list[str]
    names_me: bool


async def peer_view(peers: PeerContext, members: tuple[Member, ...]) -> PeerView | None:
    """The view of the first peer (of ``members``) that sees a metadata majority; None
    when none answers with one."""
    for member in members:
        if member.id == peers.node_id:
            continue
        channel = peers.links.get(member.id, member.address).channel
        try:
            info = await admin_pb2_grpc.AdminStub(channel).NodeInfo(
                admin_pb2.NodeInfoRequest(), timeout=ASK_TIMEOUT_S, metadata=peers.metadata)
            if not (info.metadata.enabled and info.metadata.has_majority):
                continue
            topology = await cluster_pb2_grpc.ClusterStub(channel).GetTopology(
                cluster_pb2.GetTopologyRequest(), timeout=ASK_TIMEOUT_S,
                metadata=peers.metadata)
        except grpc.aio.AioRpcError:
            continue
        return PeerView(list(info.metadata.voters),
                        any(m.id == peers.node_id for m in topology.members))
    return None
