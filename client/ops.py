"""Cluster operations for operators (admin token): anti-entropy repair and membership
changes, each a stream of progress events.

    with Client(endpoints, token=admin_token) as client:
        ops = ClusterOps(client)
        for event in ops.repair(dataset="events"):
            print(event.node_id, event.keys_compared, event.records_exchanged)
        for event in ops.add_node("10.0.0.4:7100"):
            print(event.phase, event.records)
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import grpc

from manhattan.client.errors import from_rpc_error
from manhattan.client.sync import Client
from manhattan.errors import InvalidRequest, NodeUnreachable
from manhattan.proto.v1 import ops_pb2

_Kind = ops_pb2.MembershipChangeRequest


@dataclass(frozen=True, slots=True)
class RepairProgress:
    """Where the repair of one node is: its exchanges with peers and what they did."""

    node_id: int
    dataset: str
    peer: int
    exchanges_total: int
    exchanges_done: int
    exchanges_failed: int
    keys_compared: int
    ranges_differing: int
    records_exchanged: int
    error: str
    done: bool


@dataclass(frozen=True, slots=True)
class NodeTransfer:
    """One node's share of a membership change: ranges it pulls and how far it is."""

    node_id: int
    ranges_total: int
    ranges_done: int
    records: int
    bytes: int
    done: bool
    error: str = ""
    stream_ms: int = 0


@dataclass(frozen=True, slots=True)
class MembershipProgress:
    """One step of a membership change."""

    phase: str
    epoch: int
    message: str
    done: bool
    transfers: list[NodeTransfer] = field(default_factory=list)

    @property
    def ranges_total(self) -> int:
        return sum(t.ranges_total for t in self.transfers)

    @property
    def ranges_done(self) -> int:
        return sum(t.ranges_done for t in self.transfers)

    @property
    def records(self) -> int:
        return sum(t.records for t in self.transfers)

    @property
    def bytes(self) -> int:
        return sum(t.bytes for t in self.transfers)


def _repair(m: ops_pb2.RepairProgress) -> RepairProgress:
    return RepairProgress(m.node_id, m.dataset, m.peer, m.exchanges_total, m.exchanges_done,
                          m.exchanges_failed, m.keys_compared, m.ranges_differing,
                          m.records_exchanged, m.error, m.done)


def _membership(m: ops_pb2.MembershipProgress) -> MembershipProgress:
    return MembershipProgress(m.phase, m.epoch, m.message, m.done, [
        NodeTransfer(t.node_id, t.ranges_total, t.ranges_done, t.records, t.bytes, t.done,
                     t.error, t.stream_ms) for t in m.transfers])


class ClusterOps:
    """Repair and membership changes through a Client holding the admin token."""

    def __init__(self, client: Client, *, timeout: float = 3600.0) -> None:
        self._client = client
        self._timeout = timeout

    def _stream(self, endpoint: str, method: str, request):
        # Connected first: a node that cannot be reached is NodeUnreachable (nothing was
        # started); a stream that breaks later is ConnectionLost (it may have run).
        self._client._link(endpoint).connect(endpoint, time.monotonic() + self._timeout)
        stub = self._client._stub(endpoint, "ops")
        call = getattr(stub, method)(request, timeout=self._timeout,
                                     metadata=self._client._core.metadata)
        try:
            yield from call
        except grpc.RpcError as exc:
            raise from_rpc_error(exc) from None
        finally:
            call.cancel()

    def repair_node(self, endpoint: str, dataset: str | None = None, *,
                    all_peers: bool = False) -> Iterator[RepairProgress]:
        """Repair the node at ``endpoint`` with its peers (higher ids only unless
        ``all_peers``), for ``dataset`` or every dataset."""
        request = ops_pb2.RepairRequest(dataset=dataset or "", all_peers=all_peers)
        for message in self._stream(endpoint, "Repair", request):
            yield _repair(message)

    def repair(self, dataset: str | None = None) -> Iterator[RepairProgress]:
        """Repair the whole cluster: every live member in turn, each pair of nodes once."""
        topology = self._client.admin.topology()
        for member in sorted(topology.members, key=lambda m: m.id):
            if member.state == "joining":
                continue
            yield from self.repair_node(member.address, dataset)

    def _change(self, request: ops_pb2.MembershipChangeRequest,
                endpoint: str | None) -> Iterator[MembershipProgress]:
        """The change's progress, run by ``endpoint``, or else by the first live member
        that takes the connection: a member the cluster still reports alive may have
        just died, and a connection refused started nothing, so the next one is asked."""
        if endpoint is not None:
            candidates = [endpoint]
        else:
            topology = self._client.admin.topology()
            candidates = [m.address for m in topology.members
                          if m.alive and m.state == "normal" and m.id != request.node_id]
            if not candidates:
                raise InvalidRequest("no live member to run the change")
        for index, address in enumerate(candidates):
            stream = self._stream(address, "ChangeMembership", request)
            try:
                first = next(stream)
            except StopIteration:
                return
            except NodeUnreachable:
                if index == len(candidates) - 1:
                    raise
                continue
            yield _membership(first)
            for message in stream:
                yield _membership(message)
            return

    def add_node(self, address: str, *, zone: str = "", weight: int = 0,
                 via: str | None = None) -> Iterator[MembershipProgress]:
        """Add the running node at ``address``: it streams its ranges, then becomes normal."""
        return self._change(_Kind(kind=_Kind.ADD, address=address, zone=zone, weight=weight),
                            via)

    def decommission(self, node_id: int, *, via: str | None = None
                     ) -> Iterator[MembershipProgress]:
        """Move a live node's ranges to the others, then drop it from the topology."""
        return self._change(_Kind(kind=_Kind.DECOMMISSION, node_id=node_id), via)

    def replace(self, dead_id: int, address: str, *, via: str | None = None
                ) -> Iterator[MembershipProgress]:
        """Swap a dead node for the running node at ``address``."""
        return self._change(_Kind(kind=_Kind.REPLACE, node_id=dead_id, address=address), via)

    def abort(self, *, via: str | None = None) -> Iterator[MembershipProgress]:
        """Abort the membership change under way: back to the members before it."""
        return self._change(_Kind(kind=_Kind.ABORT), via)

    def remove(self, dead_id: int, *, via: str | None = None) -> Iterator[MembershipProgress]:
        """Drop a dead node; the survivors re-replicate its ranges among themselves."""
        return self._change(_Kind(kind=_Kind.REMOVE, node_id=dead_id), via)
