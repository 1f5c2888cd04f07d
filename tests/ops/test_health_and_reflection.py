"""Draining reports NOT_SERVING before the node stops; reflection lists the services."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import grpc
from google.protobuf.descriptor_pool import DescriptorPool
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)

from manhattan.node.process import NodeProcess
from manhattan.node.server import SERVICE_NAMES
from tests.clusters import eventually
from tests.tenants import make_on

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


class HealthPoller(threading.Thread):
    """Asks the node's overall health every few ms; records each distinct answer in order
    (a status name, or the error code once the node stops answering)."""

    def __init__(self, address: str) -> None:
        super().__init__(daemon=True)
        self.address = address
        self.seen: list[str] = []
        self.done = threading.Event()

    def _note(self, answer: str) -> None:
        if not self.seen or self.seen[-1] != answer:
            self.seen.append(answer)

    def run(self) -> None:
        with grpc.insecure_channel(self.address) as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            while not self.done.is_set():
                try:
                    reply = stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=1)
                    self._note(health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status))
                except grpc.RpcError as exc:
                    self._note(exc.code().name)
                time.sleep(0.01)


def test_sigterm_reports_not_serving_while_still_serving_then_stops(tmp_path: Path) -> None:
    node = NodeProcess(tmp_path / "data", env={"MANHATTAN_NODE_DRAIN_DELAY_S": "3"}).start()
    try:
        made = make_on(node)
        poller = HealthPoller(node.address)
        poller.start()
        assert eventually(lambda: "SERVING" in poller.seen)
        node.terminate()
        assert eventually(lambda: "NOT_SERVING" in poller.seen, timeout=10)
        # Draining: health says go away, yet requests that still arrive are served.
        with made.client() as client:
            client.dataset(made.dataset).put("p", "during-drain", "v", timeout=2)
        assert node.proc.wait(30) == 0
        assert eventually(lambda: poller.seen[-1] == "UNAVAILABLE")
        poller.done.set()
        poller.join(5)
        assert poller.seen[:2] == ["SERVING", "NOT_SERVING"]
        assert "SERVING" not in poller.seen[1:]
    finally:
        node.kill()


def test_every_service_turns_not_serving_during_drain(tmp_path: Path) -> None:
    node = NodeProcess(tmp_path / "data", env={"MANHATTAN_NODE_DRAIN_DELAY_S": "3"}).start()
    try:
        with grpc.insecure_channel(node.address) as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            node.terminate()

            def all_not_serving() -> bool:
                return all(stub.Check(health_pb2.HealthCheckRequest(service=name),
                                      timeout=1).status == NOT_SERVING
                           for name in ("", *SERVICE_NAMES))
            assert eventually(all_not_serving, timeout=10)
        assert node.proc.wait(30) == 0
    finally:
        node.kill()


def test_reflection_lists_the_services_and_describes_their_methods(node: NodeProcess) -> None:
    with grpc.insecure_channel(node.address) as channel:
        database = ProtoReflectionDescriptorDatabase(channel)
        services = set(database.get_services())
        assert {*SERVICE_NAMES, "grpc.health.v1.Health",
                "grpc.reflection.v1alpha.ServerReflection"} <= services
        pool = DescriptorPool(database)
        data = pool.FindServiceByName("manhattan.v1.Data")
        assert {"Get", "Put", "Scan"} <= {m.name for m in data.methods}
        snapshot = pool.FindServiceByName("manhattan.v1.Admin").methods_by_name["CreateSnapshot"]
        assert snapshot.input_type.full_name == "manhattan.v1.CreateSnapshotRequest"
