"""The standard gRPC health service, and how the node answers signals."""

from __future__ import annotations

import signal

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from manhattan.node.process import NodeProcess
from manhattan.node.server import SERVICE_NAMES

SERVING = health_pb2.HealthCheckResponse.SERVING


def check(address: str, service: str = "") -> int:
    with grpc.insecure_channel(address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        return stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=5).status


@pytest.mark.parametrize("service", ["", *SERVICE_NAMES])
def test_health_service_reports_serving(node: NodeProcess, service: str) -> None:
    assert check(node.address, service) == SERVING


def test_health_of_an_unknown_service_is_not_found(node: NodeProcess) -> None:
    with pytest.raises(grpc.RpcError) as info:
        check(node.address, "no.such.Service")
    assert info.value.code() == grpc.StatusCode.NOT_FOUND


def test_health_watch_streams_serving(node: NodeProcess) -> None:
    with grpc.insecure_channel(node.address) as channel:
        stream = health_pb2_grpc.HealthStub(channel).Watch(
            health_pb2.HealthCheckRequest(service="manhattan.v1.Data"), timeout=5)
        assert next(stream).status == SERVING
        stream.cancel()


def test_sigterm_stops_the_node_gracefully_with_exit_code_zero(fresh_node: NodeProcess) -> None:
    assert check(fresh_node.address) == SERVING
    fresh_node.proc.send_signal(signal.SIGTERM)
    assert fresh_node.proc.wait(15) == 0
    assert "stopped" in fresh_node.log_tail()
    with pytest.raises(grpc.RpcError) as info:
        check(fresh_node.address)
    assert info.value.code() == grpc.StatusCode.UNAVAILABLE


def test_sigint_also_exits_zero(fresh_node: NodeProcess) -> None:
    fresh_node.proc.send_signal(signal.SIGINT)
    assert fresh_node.proc.wait(15) == 0


def test_node_serves_again_after_a_graceful_stop(fresh_node: NodeProcess) -> None:
    assert fresh_node.stop() == 0
    fresh_node.start()
    assert check(fresh_node.address) == SERVING
