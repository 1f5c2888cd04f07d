"""What cluster and replication code needs to talk to its peers, passed explicitly.

``PeerContext`` is the small frozen bundle handed to gossip, membership changes,
streaming and repair instead of the whole node: who this node is, the links to its
peers, the failure detector and the credentials peer calls carry. The links are
declared as a Protocol here (``replication.peer_link.PeerLinks`` implements it) so
that the cluster layer does not import the replication layer above it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import grpc

from manhattan.cluster.failure_detector import PhiAccrualDetector

CallMetadata = tuple[tuple[str, str], ...]


class PeerChannel(Protocol):
    """One peer's connection: its gRPC channel and a ``Peer`` service stub over it."""

    channel: grpc.aio.Channel
    stub: Any


class PeerChannels(Protocol):
    """The connections to every peer, created on first use."""

    def get(self, peer_id: int, address: str) -> PeerChannel:
        """The connection to ``peer_id`` at ``address``."""
        ...


@dataclass(frozen=True)
class PeerContext:
    """This node as its peers see it, and how it reaches them."""

    node_id: int
    links: PeerChannels
    detector: PhiAccrualDetector
    metadata: CallMetadata  # the peer credentials every node-to-node call carries
    channel_credentials: grpc.ChannelCredentials | None = None  # TLS between nodes, if on

    def is_alive(self, node_id: int) -> bool:
        """Whether ``node_id`` is this node or a peer the detector believes up."""
        return node_id == self.node_id or self.detector.is_alive(node_id)
