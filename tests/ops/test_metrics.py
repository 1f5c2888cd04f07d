"""/metrics on one node: the named metrics are there and move with the load."""

from __future__ import annotations

import pytest

from manhattan.client import NotFound
from manhattan.node.process import NodeProcess
from tests.tenants import make_on
from tests.ops.conftest import families, node_info, scrape, value

NAMED = {
    "manhattan_requests": "counter",
    "manhattan_request_duration_seconds": "histogram",
    "manhattan_tenant_operations": "counter",
    "manhattan_hints_pending": "gauge",
    "manhattan_hints_oldest_age_seconds": "gauge",
    "manhattan_replica_write_duration_seconds": "histogram",
    "manhattan_read_repairs": "counter",
    "manhattan_antientropy_progress_ratio": "gauge",
    "manhattan_antientropy_keys_compared": "counter",
    "manhattan_streaming_progress_ratio": "gauge",
    "manhattan_streaming_records": "counter",
    "manhattan_rocksdb_estimated_keys": "gauge",
    "manhattan_rocksdb_live_data_bytes": "gauge",
    "manhattan_rocksdb_sst_bytes": "gauge",
}


@pytest.fixture(scope="module")
def metrics_address(ops_node: NodeProcess) -> str:
    address = node_info(ops_node.address, ops_node.admin_token()).metrics_address
    assert address, "NodeInfo names no metrics endpoint"
    return address


def test_nodeinfo_names_a_loopback_metrics_endpoint_on_its_own_port(
        ops_node: NodeProcess, metrics_address: str) -> None:
    host, _, port = metrics_address.rpartition(":")
    assert host == "127.0.0.1" and int(port) > 0 and int(port) != ops_node.port


def test_metrics_endpoint_exposes_every_named_metric_with_its_type(
        metrics_address: str) -> None:
    exposed = families(metrics_address)
    assert {name: exposed.get(name) for name in NAMED} == NAMED


def test_request_and_tenant_metrics_count_exactly_the_requests_made(
        ops_node: NodeProcess, metrics_address: str) -> None:
    made = make_on(ops_node)
    before = scrape(metrics_address)
    with made.client() as client:
        dataset = client.dataset(made.dataset)
        for i in range(25):
            dataset.put("user", f"k{i}", "v")
        for i in range(10):
            assert dataset.get("user", f"k{i}") is not None
        with pytest.raises(NotFound):
            client.dataset("no-such-dataset").get("user", "k0")
    after = scrape(metrics_address)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("manhattan_requests_total", method="Put", code="OK") == 25
    assert delta("manhattan_requests_total", method="Get", code="OK") == 10
    assert delta("manhattan_requests_total", method="Get", code="NOT_FOUND") == 1
    assert delta("manhattan_request_duration_seconds_count", method="Put") == 25
    assert delta("manhattan_request_duration_seconds_sum", method="Put") > 0
    assert value(after, "manhattan_tenant_operations_total", tenant=made.tenant, op="Put") == 25
    assert value(after, "manhattan_tenant_operations_total", tenant=made.tenant, op="Get") == 11
    assert value(after, "manhattan_rocksdb_estimated_keys", dataset=made.dataset) > 0


def test_nodeinfo_reports_the_load(ops_node: NodeProcess) -> None:
    token = ops_node.admin_token()
    first = node_info(ops_node.address, token)
    made = make_on(ops_node)
    with made.client() as client:
        for i in range(20):
            client.dataset(made.dataset).put("p", str(i), "v")
    second = node_info(ops_node.address, token)
    assert second.requests_total >= first.requests_total + 20
    assert second.requests_per_second > 0


def test_metrics_can_be_turned_off(tmp_path) -> None:
    with NodeProcess(tmp_path / "data", env={"MANHATTAN_NODE_METRICS_LISTEN": ""}) as node:
        assert node_info(node.address, node.admin_token()).metrics_address == ""
