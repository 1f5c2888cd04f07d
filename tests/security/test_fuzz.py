"""Fuzz every RPC of every service of a real node, and its port with raw bytes.

Services and methods come from the proto descriptors, so a service added later
is fuzzed without touching this file. For every request, sent twice (the second
time a replay), with no token, a bad token, a tenant's token, a read-only token
or the admin token:

- the answer is a defined status code, never INTERNAL or UNKNOWN;
- the node stays up (its health check answers SERVING);
- a rejected write changed nothing it named;
- no answer to a tenant carries another tenant's data.

``make test`` runs a bounded number of examples per RPC (FUZZ_EXAMPLES, ~60 s in
all); set ``MANHATTAN_FUZZ_EXAMPLES`` for a longer run (e.g. under ``make jepsen``).
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from dataclasses import dataclass

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from google.protobuf.message_factory import GetMessageClass
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from manhattan.client import Client
from manhattan.node.process import NodeProcess
from manhattan.proto.v1 import ops_pb2
from tests.security.fuzz_messages import Rpc, every_rpc, request_bytes

FUZZ_EXAMPLES = int(os.environ.get("MANHATTAN_FUZZ_EXAMPLES", "12"))
SECRET = b"SECRET-OF-TENANT-B-"
BAD_CODES = {grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN}
WRITES = {"manhattan.v1.Data/Put", "manhattan.v1.Data/Delete", "manhattan.v1.Data/MultiPut"}
# With the admin token these are legitimate cluster reconfigurations (a random topology,
# a membership change, a range clean-up): fuzzed on a node of their own, below.
# DropDataset likewise: with the admin token it may rightly drop the fixture's own
# datasets (its name pool holds them), which the later checks read.
RECONFIGURING = ("manhattan.v1.Peer/PushTopology", "manhattan.v1.Ops/",
                 "manhattan.v1.PeerRanges/", "manhattan.v1.Admin/DropDataset")
RPCS = every_rpc()
FUZZ_SETTINGS = settings(max_examples=FUZZ_EXAMPLES, deadline=None, derandomize=False,
                         suppress_health_check=list(HealthCheck))


@dataclass
class World:
    """A node with two tenants: A (fuzzing) and B (holding secrets)."""

    node: NodeProcess
    channel: grpc.Channel
    admin: Client
    tokens: dict[str, str | None]
    pools: dict[str, list]
    datasets: set[str]


def _identity(raw: bytes) -> bytes:
    return raw


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Iterator[World]:
    node = NodeProcess(tmp_path_factory.mktemp("fuzz") / "data", node_id=1).start()
    channel = grpc.insecure_channel(node.address, options=[
        ("grpc.max_send_message_length", 8 * 1024 * 1024),
        ("grpc.max_receive_message_length", 64 * 1024 * 1024)])
    admin = Client([node.address], token=node.admin_token())
    try:
        token_a = admin.admin.create_tenant("fz-a")
        token_b = admin.admin.create_tenant("fz-b")
        admin.admin.create_dataset("fz-a-ds", tenant="fz-a")
        admin.admin.create_dataset("fz-b-ds", tenant="fz-b")
        read_only, _ = admin.admin.create_token("fz-a", read_only=True)
        with Client([node.address], token=token_b) as b:
            ds = b.dataset("fz-b-ds")
            for pkey in (b"p", b"secret", b"\x00"):
                for lkey in (b"", b"l", b"\x00"):
                    ds.put(pkey, lkey, SECRET + pkey + lkey)
        with Client([node.address], token=token_a) as a:
            a.dataset("fz-a-ds").put(b"p", b"l", b"canary-of-a")
        pools = {
            "dataset": ["fz-a-ds", "fz-b-ds", "nope"], "tenant": ["fz-a", "fz-b"],
            "name": ["fz-a", "fz-b", "fz-new", "fz-a-ds"], "pkey": [b"p", b"secret", b"\x00"],
            "lkey": [b"", b"l", b"\x00"], "user": ["fz-user"], "handle": ["fz-user"],
        }
        tokens = {"none": None, "garbage": "not-a-token", "forged": "mh_0000_secret",
                  "tenant": token_a, "read-only": read_only, "admin": node.admin_token()}
        yield World(node, channel, admin, tokens, pools, {"fz-a-ds", "fz-b-ds"})
    finally:
        admin.close()
        channel.close()
        node.stop()


def _healthy(address: str) -> bool:
    with grpc.insecure_channel(address) as channel:
        try:
            reply = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=""), timeout=10)
        except grpc.RpcError:
            return False
    return reply.status == health_pb2.HealthCheckResponse.SERVING


def call(channel: grpc.Channel, rpc: Rpc, raw: bytes, token: str | None
         ) -> tuple[grpc.StatusCode, list[bytes], str]:
    """Send raw request bytes; (code, raw responses, details + trailing metadata)."""
    metadata = (("authorization", f"Bearer {token}"),) if token is not None else ()
    method = rpc.method
    kwargs = dict(request_serializer=_identity, response_deserializer=_identity)
    try:
        if method.client_streaming and method.server_streaming:
            stream = channel.stream_stream(rpc.path, **kwargs)(iter([raw, raw]), timeout=5,
                                                                metadata=metadata)
            responses = [r for _, r in zip(range(20), stream)]
            stream.cancel()
            return grpc.StatusCode.OK, responses, ""
        if method.client_streaming:
            response = channel.stream_unary(rpc.path, **kwargs)(iter([raw]), timeout=5,
                                                                metadata=metadata)
            return grpc.StatusCode.OK, [response], ""
        if method.server_streaming:
            stream = channel.unary_stream(rpc.path, **kwargs)(raw, timeout=5, metadata=metadata)
            responses = [r for _, r in zip(range(20), stream)]
            stream.cancel()
            return grpc.StatusCode.OK, responses, ""
        response = channel.unary_unary(rpc.path, **kwargs)(raw, timeout=5, metadata=metadata)
        return grpc.StatusCode.OK, [response], ""
    except grpc.RpcError as exc:
        trailing = " ".join(f"{k}={v!r}" for k, v in (exc.trailing_metadata() or ()))
        return exc.code(), [], f"{exc.details()} {trailing}"


def _named_keys(rpc: Rpc, raw: bytes) -> tuple[str, list[tuple[bytes, bytes]]] | None:
    """(dataset, keys) a write names, when they could be read back."""
    try:
        request = GetMessageClass(rpc.method.input_type).FromString(raw)
    except Exception:
        return None
    dataset = request.dataset
    if rpc.method.name == "MultiPut":
        keys = [(m.pkey, m.lkey) for m in request.mutations]
    else:
        keys = [(request.pkey, request.lkey)]
    keys = [(p, l) for p, l in keys if p and len(p) + len(l) <= 4096]
    return (dataset, keys[:20]) if keys else None


def _snapshot(world: World, dataset: str, keys: list[tuple[bytes, bytes]]) -> list:
    ds = world.admin.dataset(dataset)
    out = []
    for pkey, lkey in keys:
        record = ds.get(pkey, lkey)
        out.append(None if record is None else (record.value, record.version))
    return out


def _token_names(rpc: Rpc) -> list[str]:
    names = ["none", "garbage", "forged", "tenant", "read-only"]
    if not rpc.path.lstrip("/").startswith(RECONFIGURING):
        names.append("admin")
    return names


@pytest.mark.parametrize("rpc", RPCS, ids=str)
def test_fuzz_every_rpc_answers_a_defined_status_and_leaks_nothing(world, rpc):
    @FUZZ_SETTINGS
    @given(raw=request_bytes(rpc, world.pools), who=st.sampled_from(_token_names(rpc)))
    def check(raw: bytes, who: str) -> None:
        token = world.tokens[who]
        watched = None
        if rpc.path.lstrip("/") in WRITES:
            watched = _named_keys(rpc, raw)
            if watched is not None and watched[0] not in world.datasets:
                watched = None
        before = _snapshot(world, *watched) if watched else None
        for attempt in ("first", "replay"):
            code, responses, details = call(world.channel, rpc, raw, token)
            assert code not in BAD_CODES, f"{rpc} ({who}, {attempt}): {code.name}: {details}"
            if who != "admin":
                for response in responses:
                    assert SECRET not in response, f"{rpc} ({who}) leaked tenant B's data"
                assert SECRET.decode() not in details
            if code != grpc.StatusCode.OK and before is not None:
                assert _snapshot(world, *watched) == before, \
                    f"{rpc} ({who}) was refused ({code.name}) but changed what it named"
        assert _healthy(world.node.address), f"node went down after {rpc}:\n" + \
            world.node.log_tail()

    check()


@pytest.fixture
def scratch_node(tmp_path) -> Iterator[NodeProcess]:
    node = NodeProcess(tmp_path / "data", node_id=1).start()
    try:
        yield node
    finally:
        node.stop()


def test_fuzz_cluster_reconfiguration_with_the_admin_token_keeps_the_node_up(scratch_node):
    """Random topologies, membership changes and range clean-ups: defined answers only."""
    rpcs = [r for r in RPCS if r.path.lstrip("/").startswith(RECONFIGURING)]
    token = scratch_node.admin_token()
    with grpc.insecure_channel(scratch_node.address) as channel:
        @FUZZ_SETTINGS
        @given(rpc=st.sampled_from(rpcs), data=st.data())
        def check(rpc: Rpc, data) -> None:
            raw = data.draw(request_bytes(rpc, {}))
            code, _, details = call(channel, rpc, raw, token)
            assert code not in BAD_CODES, f"{rpc} (admin): {code.name}: {details}"
            assert _healthy(scratch_node.address), scratch_node.log_tail()

        check()


@FUZZ_SETTINGS
@given(payload=st.one_of(
    st.binary(min_size=1, max_size=4096),
    st.binary(max_size=2048).map(lambda b: b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b),
    st.binary(max_size=64).map(lambda b: b"GET / HTTP/1.1\r\nHost: x\r\n\r\n" + b),
))
def test_raw_bytes_to_the_grpc_port_never_take_the_node_down(world, payload):
    with socket.create_connection(("127.0.0.1", world.node.port), timeout=5) as sock:
        sock.sendall(payload)
        sock.settimeout(0.2)
        try:
            sock.recv(4096)
        except (TimeoutError, ConnectionError, OSError):
            pass
    assert _healthy(world.node.address), world.node.log_tail()
    # and it still serves a tenant's data correctly
    with Client([world.node.address], token=world.tokens["tenant"]) as client:
        assert client.dataset("fz-a-ds").get(b"p", b"l").value == b"canary-of-a"


def test_every_service_of_the_contract_is_fuzzed():
    services = {r.service for r in RPCS}
    assert {"manhattan.v1.Data", "manhattan.v1.Admin", "manhattan.v1.Cluster",
            "manhattan.v1.Peer"} <= services
    assert len(RPCS) == len({r.path for r in RPCS})


@pytest.mark.parametrize("start, end", [(2**64 - 1, 0), (5, 5), (7, 3), (0, 2**32 + 1)])
def test_a_range_past_the_ring_or_empty_is_refused_as_invalid(scratch_node, start, end):
    """Found by the fuzz run above on a fresh clone: a range starting past the ring's
    2**32 positions ended StreamRanges with INTERNAL. A peer's ranges are now checked
    (0 <= start < end <= 2**32) before any storage is read, in streaming and exchanges."""
    token = scratch_node.admin_token()
    wanted = [ops_pb2.PositionRange(start=start, end=end)]
    by_path = {r.path.lstrip("/"): r for r in RPCS}
    with grpc.insecure_channel(scratch_node.address) as channel:
        with Client([scratch_node.address], token=token) as admin:
            epoch = admin.admin.topology().epoch
        stream = ops_pb2.StreamRangesRequest(dataset="any", ranges=wanted).SerializeToString()
        exchange = ops_pb2.ExchangeRequest(open=ops_pb2.ExchangeOpen(
            dataset="any", ranges=wanted, epoch=epoch)).SerializeToString()
        for path, raw in (("manhattan.v1.PeerRanges/StreamRanges", stream),
                          ("manhattan.v1.PeerRanges/Exchange", exchange)):
            code, _, details = call(channel, by_path[path], raw, token)
            assert code == grpc.StatusCode.INVALID_ARGUMENT, (path, code, details)
            assert "ring positions" in details, details
    assert _healthy(scratch_node.address)
