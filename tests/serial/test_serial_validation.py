"""Every SERIAL entry point refuses bad input with a precise INVALID_ARGUMENT (checked on
the wire, past the SDK's own checks), and a refused request writes nothing."""

from __future__ import annotations

import grpc
import pytest

from manhattan.proto.v1 import data_pb2, data_pb2_grpc, types_pb2
from manhattan.types import Consistency

SERIAL = int(Consistency.SERIAL)


@pytest.fixture
def call(made, channel):
    stub = data_pb2_grpc.DataStub(channel)

    def invoke(method: str, request):
        if hasattr(request, "dataset") and not request.dataset:
            request.dataset = made.dataset
        return getattr(stub, method)(request, metadata=made.metadata, timeout=10)
    return invoke


BAD = [
    ("Cas", data_pb2.CasRequest(pkey=b"", lkey=b"l", value=b"v", if_absent=True),
     "pkey must not be empty"),
    ("Cas", data_pb2.CasRequest(pkey=b"p", lkey=b"l", value=b"v", if_absent=False),
     "if_absent must be true"),
    ("Cas", data_pb2.CasRequest(pkey=b"p", lkey=b"l", if_version=types_pb2.Version(writer=1)),
     "if_version must be the version of a record"),
    ("Cas", data_pb2.CasRequest(pkey=b"p", lkey=b"l", delete=True, if_absent=True),
     "cannot be conditional on if_absent"),
    ("Cas", data_pb2.CasRequest(pkey=b"p", lkey=b"l", value=b"v", delete=True),
     "a delete carries no value"),
    ("Cas", data_pb2.CasRequest(pkey=b"p", lkey=b"l", delete=True, ttl_ms=5),
     "a delete carries no ttl_ms"),
    ("Cas", data_pb2.CasRequest(pkey=b"p", lkey=b"l", value=b"v" * (2 << 20), if_absent=True),
     "value is"),
    ("Cas", data_pb2.CasRequest(pkey=b"p", lkey=b"l", value=b"v", durability=9),
     "durability has unknown value 9"),
    ("SerialGet", data_pb2.SerialGetRequest(pkey=b"", lkey=b"l"), "pkey must not be empty"),
    ("PeekSerial", data_pb2.PeekSerialRequest(pkey=b"", lkey=b"l"), "pkey must not be empty"),
    ("PeekSerial", data_pb2.PeekSerialRequest(pkey=b"p", lkey=b"l" * 5000),
     "key is 5001 bytes"),
    ("Put", data_pb2.PutRequest(pkey=b"p", lkey=b"l", value=b"v", consistency=SERIAL),
     "a plain write is last-writer-wins: use Cas"),
    ("Delete", data_pb2.DeleteRequest(pkey=b"p", lkey=b"l", consistency=SERIAL),
     "a plain write is last-writer-wins"),
    ("Scan", data_pb2.ScanRequest(pkey=b"p", consistency=SERIAL), "a scan reads many keys"),
    ("MultiGet", data_pb2.MultiGetRequest(keys=[types_pb2.Key(pkey=b"p")], consistency=SERIAL),
     "a multi-get reads many keys"),
    ("MultiPut", data_pb2.MultiPutRequest(mutations=[data_pb2.Mutation(pkey=b"p", value=b"v")],
                                          consistency=SERIAL), "a multi-put is last-writer-wins"),
]


@pytest.mark.parametrize("method, request_, message", BAD,
                         ids=[f"{m}-{i}" for i, (m, _, _) in enumerate(BAD)])
def test_bad_serial_requests_are_invalid_argument_naming_the_field(call, method, request_,
                                                                   message) -> None:
    with pytest.raises(grpc.RpcError) as info:
        call(method, request_)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert message in info.value.details()
    # Nothing was written by any of them.
    got = call("SerialGet", data_pb2.SerialGetRequest(pkey=b"p", lkey=b"l"))
    assert not got.found


def test_unknown_dataset_is_not_found(call) -> None:
    with pytest.raises(grpc.RpcError) as info:
        call("Cas", data_pb2.CasRequest(dataset="no-such", pkey=b"p", value=b"v",
                                        if_absent=True))
    assert info.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.RpcError) as info:
        call("PeekSerial", data_pb2.PeekSerialRequest(dataset="no-such", pkey=b"p"))
    assert info.value.code() == grpc.StatusCode.NOT_FOUND


def test_a_peek_answers_its_view_of_the_key_and_the_replica_set(call) -> None:
    written = call("Cas", data_pb2.CasRequest(pkey=b"peeked", lkey=b"l", value=b"v",
                                             if_absent=True))
    peeked = call("PeekSerial", data_pb2.PeekSerialRequest(pkey=b"peeked", lkey=b"l"))
    assert peeked.node_id in peeked.replicas and len(peeked.replicas) >= 1
    assert peeked.found and peeked.record.value == b"v"
    assert peeked.newest.timestamp == written.version.timestamp
    assert peeked.committed.timestamp == written.version.timestamp  # the round's ballot
    assert peeked.accepted.timestamp in (0, written.version.timestamp)
    assert not call("PeekSerial", data_pb2.PeekSerialRequest(pkey=b"none", lkey=b"l")).found


def test_a_dataset_cannot_default_to_serial(admin) -> None:
    from manhattan.client import InvalidRequest
    with pytest.raises(InvalidRequest, match="cannot be SERIAL"):
        admin.admin.create_tenant("serial-default")
        admin.admin.create_dataset("serial-default", tenant="serial-default",
                                   read_consistency=Consistency.SERIAL)


def test_a_failed_condition_is_an_answer_with_the_current_record(call) -> None:
    created = call("Cas", data_pb2.CasRequest(pkey=b"q", lkey=b"l", value=b"v1", if_absent=True))
    assert created.applied and created.version.timestamp > 0
    refused = call("Cas", data_pb2.CasRequest(pkey=b"q", lkey=b"l", value=b"v2",
                                              if_absent=True))
    assert not refused.applied and refused.found
    assert refused.current.value == b"v1"
    assert refused.current.version.timestamp == created.version.timestamp
