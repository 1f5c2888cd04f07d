"""Structured logs: one JSON object per line, with request id, tenant and node id."""

from __future__ import annotations

import json
import re

import grpc

from manhattan.node.process import NodeProcess
from manhattan.proto.v1 import data_pb2, data_pb2_grpc
from tests.clusters import eventually
from tests.tenants import make_on

TEXT_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ [A-Z]+ manhattan")


def json_lines(node: NodeProcess) -> list[dict]:
    """Every JSON object the node logged so far."""
    lines = node.log_path.read_text(errors="replace").splitlines()
    return [json.loads(line) for line in lines if line.startswith("{")]


def put(node: NodeProcess, token: str, dataset: str, metadata: tuple = ()):
    """A raw Put; returns the call, for its trailing metadata."""
    with grpc.insecure_channel(node.address) as channel:
        _, call = data_pb2_grpc.DataStub(channel).Put.with_call(
            data_pb2.PutRequest(dataset=dataset, pkey=b"p", lkey=b"l", value=b"v"),
            metadata=(("authorization", f"Bearer {token}"), *metadata), timeout=5)
    return call


def test_a_request_id_from_the_caller_is_echoed_and_logged_with_tenant_and_node(
        ops_node: NodeProcess) -> None:
    made = make_on(ops_node)
    call = put(ops_node, made.token, made.dataset, (("x-request-id", "ops-log-test-1"),))
    assert ("x-request-id", "ops-log-test-1") in [(m.key, m.value)
                                                  for m in call.trailing_metadata()]

    def logged() -> list[dict]:
        return [e for e in json_lines(ops_node) if e.get("request_id") == "ops-log-test-1"]
    assert eventually(lambda: bool(logged()), timeout=10)
    [entry] = logged()
    assert entry["tenant"] == made.tenant
    assert entry["node_id"] == 1
    assert entry["logger"] == "manhattan.access"
    assert entry["level"] == "info"
    assert entry["msg"].startswith("Put OK")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", entry["ts"])


def test_a_request_without_an_id_gets_a_new_one_echoed_and_logged(
        ops_node: NodeProcess) -> None:
    made = make_on(ops_node)
    ids = []
    for _ in range(2):
        call = put(ops_node, made.token, made.dataset)
        ids += [m.value for m in call.trailing_metadata() if m.key == "x-request-id"]
    assert len(ids) == 2 and ids[0] != ids[1] and all(ids)
    assert eventually(lambda: {e.get("request_id") for e in json_lines(ops_node)} >= set(ids),
                      timeout=10)


def test_an_error_answer_still_carries_the_request_id(ops_node: NodeProcess) -> None:
    made = make_on(ops_node)
    try:
        put(ops_node, made.token, "no-such-dataset", (("x-request-id", "ops-log-err"),))
    except grpc.RpcError as exc:
        assert exc.code() == grpc.StatusCode.NOT_FOUND
        assert ("x-request-id", "ops-log-err") in [(m.key, m.value)
                                                   for m in exc.trailing_metadata()]
    else:
        raise AssertionError("a Put to a missing dataset succeeded")
    assert eventually(lambda: any(e.get("request_id") == "ops-log-err"
                                  and e["msg"].startswith("Put NOT_FOUND")
                                  for e in json_lines(ops_node)), timeout=10)


def test_outside_requests_lines_are_json_with_node_id_and_no_request_fields(
        ops_node: NodeProcess) -> None:
    lines = ops_node.log_path.read_text(errors="replace").splitlines()
    assert not [line for line in lines if TEXT_LINE.match(line)]
    [serving] = [e for e in json_lines(ops_node) if "serving on" in e["msg"]]
    assert serving["node_id"] == 1 and serving["logger"] == "manhattan.node"
    assert "request_id" not in serving and "tenant" not in serving
