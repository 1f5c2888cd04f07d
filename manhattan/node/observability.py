"""What a node exposes about itself: /metrics, reflection, and NodeInfo's ops figures.

StorageNode builds one ``Observability`` and calls it at a few points (register,
start, stop, NodeInfo), so the node's assembly stays about assembly.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping

import grpc
from grpc_health.v1 import health
from grpc_reflection.v1alpha import reflection

from manhattan.node.config import NodeConfig
from manhattan.node.metrics import MetricsServer, NodeMetrics, StateCollector
from manhattan.replication.hints import HintStore
from manhattan.storage.engine import Figures

log = logging.getLogger("manhattan.node")


class Observability:
    """Metrics registry and HTTP endpoint, gRPC reflection, NodeInfo figures."""

    def __init__(self, config: NodeConfig, *, engine: Figures, hints: HintStore,
                 read_repairs: Callable[[], int], topology_epoch: Callable[[], int],
                 paxos: Callable[[], Mapping[str, int]]) -> None:
        self.config = config
        self.metrics = NodeMetrics()
        self.collector = StateCollector(engine=engine, hints=hints, read_repairs=read_repairs,
                                        topology_epoch=topology_epoch, paxos=paxos)
        self.metrics.registry.register(self.collector)
        self.server: MetricsServer | None = None

    @property
    def log_access(self) -> bool:
        """Whether every request gets an access-log line."""
        return self.config.node.access_log

    @staticmethod
    def enable_reflection(server: grpc.aio.Server, services: Iterable[str]) -> None:
        """gRPC server reflection for ``services``, health and reflection itself, so
        grpcurl and friends can list and call them without the .proto files."""
        names = (*services, health.SERVICE_NAME, reflection.SERVICE_NAME)
        reflection.enable_server_reflection(names, server)

    def start(self) -> None:
        """Serve /metrics when configured (``node.metrics_listen``)."""
        listen = self.config.node.metrics_listen
        if not listen:
            return
        try:
            self.server = MetricsServer(self.metrics.registry, listen)
        except OSError as exc:
            raise OSError(f"cannot serve metrics on {listen} (node.metrics_listen): {exc}") \
                from None
        log.info("metrics on http://%s/metrics", self.server.address)

    def stop(self) -> None:
        """Stop serving /metrics; later scrapes of this registry read no storage."""
        self.collector.closed = True
        if self.server is not None:
            self.server.close()
            self.server = None

    @property
    def metrics_address(self) -> str:
        """host:port of /metrics, empty when it is off."""
        return self.server.address if self.server is not None else ""

    def node_info(self) -> dict[str, object]:
        """The NodeInfo fields about load, metrics, repair and streaming."""
        repair = self.metrics.repair_state()
        streaming = self.metrics.streaming_state()
        return {
            "metrics_address": self.metrics_address,
            "requests_total": self.metrics.total_requests,
            "requests_per_second": self.metrics.requests_per_second(),
            "repair_running": repair.running,
            "repair_progress": repair.progress,
            "repair_keys_compared": repair.keys_compared,
            "repair_ranges_differing": repair.ranges_differing,
            "repair_records_exchanged": repair.records_exchanged,
            "repair_last_completed_ms": repair.last_completed_ms,
            "streaming_active": streaming.active_transfers,
            "streaming_progress": streaming.progress,
            "streaming_records": streaming.records,
            "streaming_bytes": streaming.bytes,
        }
