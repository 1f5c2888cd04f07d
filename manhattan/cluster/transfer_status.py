"""How far each member is with a membership change's transfers: the driver polls this
until every member that pulls ranges is done (``cluster.changes``)."""

from __future__ import annotations

import asyncio
from typing import Protocol

import grpc

from manhattan.cluster.membership import Membership
from manhattan.cluster.peers import PeerContext
from manhattan.cluster.ranges import future_topology, gained_ranges
from manhattan.cluster.ring import Ring
from manhattan.cluster.topology import Member, MemberState
from manhattan.proto.v1 import ops_pb2, ops_pb2_grpc
from manhattan.tenancy import Catalog

STATUS_TIMEOUT_S = 3.0


class LocalTransfers(Protocol):
    """This node's own side of a change (``replication.streaming.Transfers``), asked
    directly rather than over the wire."""

    def status(self, request: ops_pb2.TransferStatusRequest) -> ops_pb2.TransferStatusReply:
        """How far this node is with the epoch asked about."""
        ...

    async def cleanup(self) -> ops_pb2.CleanupReply:
        """Drop the ranges this node no longer replicates."""
        ...


def gains_ranges(membership: Membership, catalog: Catalog, node: int) -> bool:
    """Whether ``node`` replicates, after the change under way, a range it does not now,
    for some dataset's replication factor: only such a node streams anything."""
    current = membership.ring
    future = membership.future_ring or Ring(future_topology(membership.topology),
                                            vnodes=membership.vnodes)
    factors = {spec.replication_factor for spec in catalog.datasets()}
    return any(gained_ranges(current, future, node, n) for n in factors)


async def transfer_statuses(peers: PeerContext, membership: Membership, catalog: Catalog,
                            local: LocalTransfers, epoch: int) -> list[ops_pb2.NodeTransfer]:
    """Every member's transfer status for ``epoch`` (a departed, dead member skipped)."""
    request = ops_pb2.TransferStatusRequest(epoch=epoch)

    async def ask(member: Member) -> ops_pb2.NodeTransfer:
        if member.id == peers.node_id:
            reply = local.status(request)
        else:
            stub = ops_pb2_grpc.PeerRangesStub(peers.links.get(member.id, member.address).channel)
            try:
                reply = await stub.TransferStatus(request, timeout=STATUS_TIMEOUT_S,
                                                  metadata=peers.metadata)
            except grpc.aio.AioRpcError as exc:
                if not gains_ranges(membership, catalog, member.id):
                    # nothing to pull: a down member (a killed driver, say) must not hold
                    # up a change resumed through another node
                    return ops_pb2.NodeTransfer(node_id=member.id, done=True)
                return ops_pb2.NodeTransfer(node_id=member.id,
                                            error=f"unreachable ({exc.code().name})")
        return ops_pb2.NodeTransfer(node_id=member.id, ranges_total=reply.ranges_total,
                                    ranges_done=reply.ranges_done, records=reply.records,
                                    bytes=reply.bytes, done=reply.done, error=reply.error,
                                    stream_ms=reply.stream_ms)

    gone = {m.id for m in membership.topology.members
            if m.state == MemberState.LEAVING and not peers.is_alive(m.id)}
    return list(await asyncio.gather(*(ask(m) for m in membership.topology.members
                                       if m.id not in gone)))
