"""The Cluster service: the topology, for SDK routing and operators."""

from __future__ import annotations

from collections.abc import Callable

from manhattan.rpc.auth import Authenticator
from manhattan.rpc.servicers import rpc_errors
from manhattan.proto.v1 import cluster_pb2, cluster_pb2_grpc


class ClusterService(cluster_pb2_grpc.ClusterServicer):
    """Implements manhattan.v1.Cluster."""

    def __init__(self, auth: Authenticator,
                 topology: Callable[[], cluster_pb2.TopologyMessage]) -> None:
        self._auth = auth
        self._topology = topology

    @rpc_errors
    async def GetTopology(self, request, context) -> cluster_pb2.TopologyMessage:
        self._auth.principal(context.invocation_metadata())
        return self._topology()
