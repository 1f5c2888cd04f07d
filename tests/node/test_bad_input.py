"""Bad input gets a precise error naming the field, and changes nothing that is stored."""

from __future__ import annotations

import time
import uuid

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from manhattan.client import (
    AlreadyExists, Client, Delete, InvalidRequest, NotFound, Put,
)
from manhattan.node.process import NodeProcess
from manhattan.proto.v1 import admin_pb2, admin_pb2_grpc, data_pb2, data_pb2_grpc, types_pb2

KiB, MiB = 1024, 1024 * 1024
PKEY = b"p"
SEED = {b"a": b"1", b"b": b"2", b"c": b"3"}


@pytest.fixture
def seeded(made):
    """The tenant's dataset with SEED under PKEY; yields (made, dataset, check_unchanged)."""
    with made.client() as client:
        ds = client.dataset(made.dataset)
        ds.put_many([Put(PKEY, lk, v) for lk, v in SEED.items()])
        before = ds.scan(PKEY, limit=1000)
        assert {r.lkey: r.value for r in before} == SEED

        def unchanged(*other_pkeys: bytes) -> None:
            assert ds.scan(PKEY, limit=1000) == before
            for pkey in other_pkeys:
                assert ds.scan(pkey, limit=1000) == []

        yield made, ds, unchanged


def expect(exc_type, field: str, call) -> Exception:
    """``call`` raises exactly ``exc_type`` and its message names ``field``."""
    with pytest.raises(exc_type) as info:
        call()
    assert type(info.value) is exc_type
    assert field in str(info.value), f"message {str(info.value)!r} does not name {field!r}"
    return info.value


# -- keys, values, batches ------------------------------------------------------------------


def test_empty_pkey_is_rejected_naming_pkey(seeded) -> None:
    _, ds, unchanged = seeded
    expect(InvalidRequest, "pkey", lambda: ds.put(b"", b"a", b"x"))
    expect(InvalidRequest, "pkey", lambda: ds.get(b"", b"a"))
    expect(InvalidRequest, "pkey", lambda: ds.delete(b"", b"a"))
    expect(InvalidRequest, "pkey", lambda: ds.scan(b""))
    expect(InvalidRequest, "mutations[0].pkey", lambda: ds.put_many([(b"", b"a", b"x")]))
    expect(InvalidRequest, "keys[1].pkey", lambda: ds.get_many([(PKEY, b"a"), (b"", b"a")]))
    unchanged()


def test_key_over_4_kib_is_rejected_naming_key(seeded) -> None:
    _, ds, unchanged = seeded
    # exactly at the limit is fine
    ds.put(b"k" * 2048, b"l" * 2048, b"ok")
    assert ds.get(b"k" * 2048, b"l" * 2048).value == b"ok"
    long_lkey = b"x" * (4 * KiB)  # + 1-byte pkey = 4097 bytes
    expect(InvalidRequest, "key", lambda: ds.put(PKEY, long_lkey, b"x"))
    expect(InvalidRequest, "key", lambda: ds.put(b"q" * (4 * KiB + 1), b"", b"x"))
    expect(InvalidRequest, "key", lambda: ds.put(b"q" * 2049, b"l" * 2048, b"x"))
    expect(InvalidRequest, "mutations[1].key",
           lambda: ds.put_many([(PKEY, b"new", b"x"), (PKEY, long_lkey, b"x")]))
    expect(InvalidRequest, "key", lambda: ds.get(PKEY, long_lkey))
    expect(InvalidRequest, "key", lambda: ds.delete(PKEY, long_lkey))
    unchanged()


def test_value_over_1_mib_is_rejected_naming_value(seeded) -> None:
    _, ds, unchanged = seeded
    ds.put(b"max", b"v", b"x" * MiB)  # exactly at the limit is fine
    assert len(ds.get(b"max", b"v").value) == MiB
    expect(InvalidRequest, "value", lambda: ds.put(PKEY, b"a", b"x" * (MiB + 1)))
    expect(InvalidRequest, "mutations[0].value",
           lambda: ds.put_many([(PKEY, b"b", b"x" * (MiB + 1))]))
    unchanged()


def test_multiput_of_1001_records_is_rejected_naming_mutations(seeded) -> None:
    _, ds, unchanged = seeded
    expect(InvalidRequest, "mutations",
           lambda: ds.put_many([(b"batch", b"%04d" % i, b"x") for i in range(1001)]))
    unchanged(b"batch")
    ds.put_many([(b"batch", b"%04d" % i, b"x") for i in range(1000)])  # the limit itself is fine
    assert len(ds.scan(b"batch", limit=2000)) == 1000


def test_multiput_over_16_mib_in_total_is_rejected_though_each_value_is_legal(seeded) -> None:
    _, ds, unchanged = seeded
    value = b"v" * MiB  # each value is within its own limit
    message = expect(InvalidRequest, "mutations",
                     lambda: ds.put_many([(b"huge", b"%02d" % i, value) for i in range(17)]))
    assert "bytes" in str(message)
    unchanged(b"huge")


def test_batch_with_only_the_last_mutation_bad_writes_nothing(seeded) -> None:
    _, ds, unchanged = seeded
    good = [Put(PKEY, b"a", b"changed"), Delete(PKEY, b"b"), Put(b"fresh", b"k", b"v")]
    for bad, field in [
        (Put(b"", b"k", b"v"), "mutations[3].pkey"),
        (Put(PKEY, b"z" * 5000, b"v"), "mutations[3].key"),
        (Put(PKEY, b"z", b"v" * (MiB + 1)), "mutations[3].value"),
    ]:
        expect(InvalidRequest, field, lambda: ds.put_many([*good, bad]))
        unchanged(b"fresh")
    assert ds.get(PKEY, b"a").value == b"1"


def test_ttl_over_the_limit_is_rejected_naming_ttl(seeded) -> None:
    _, ds, unchanged = seeded
    expect(InvalidRequest, "ttl", lambda: ds.put(PKEY, b"a", b"x", ttl=100 * 365 * 24 * 3600))
    unchanged()


def test_multiget_of_1001_keys_is_rejected_naming_keys(seeded) -> None:
    _, ds, unchanged = seeded
    expect(InvalidRequest, "keys", lambda: ds.get_many([(PKEY, b"%04d" % i) for i in range(1001)]))
    assert len(ds.get_many([(PKEY, b"%04d" % i) for i in range(1000)])) == 1000
    unchanged()


# -- datasets, cursors, limits, enums -----------------------------------------------------


def test_unknown_dataset_is_not_found_naming_it(made, node) -> None:
    with made.client() as client:
        missing = client.dataset("no-such-dataset")
        expect(NotFound, "no-such-dataset", lambda: missing.get(b"p", b"k"))
        expect(NotFound, "no-such-dataset", lambda: missing.put(b"p", b"k", b"v"))
        expect(NotFound, "no-such-dataset", lambda: missing.scan(b"p"))
        expect(NotFound, "no-such-dataset", lambda: missing.put_many([(b"p", b"k", b"v")]))


def test_empty_dataset_name_is_invalid_naming_dataset(made) -> None:
    with made.client() as client:
        nameless = client.dataset("")
        expect(InvalidRequest, "dataset", lambda: nameless.get(b"p", b"k"))
        expect(InvalidRequest, "dataset", lambda: nameless.put(b"p", b"k", b"v"))
        expect(InvalidRequest, "dataset", lambda: nameless.get_many([(b"p", b"k")]))


def test_malformed_cursor_is_invalid_naming_cursor(seeded) -> None:
    _, ds, unchanged = seeded
    for cursor in (b"\x02garbage", b"not-ours", b"\xff"):
        expect(InvalidRequest, "cursor", lambda: ds.scan_page(PKEY, cursor=cursor))
    unchanged()


def test_scan_limit_over_10000_is_invalid_naming_limit(seeded) -> None:
    _, ds, unchanged = seeded
    expect(InvalidRequest, "limit", lambda: ds.scan_page(PKEY, limit=10_001))
    assert len(ds.scan_page(PKEY, limit=10_000).records) == len(SEED)
    expect(InvalidRequest, "limit", lambda: ds.scan_page(PKEY, limit=-1))  # checked by the SDK
    unchanged()


def raw_code(call) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.RpcError) as info:
        call()
    return info.value.code(), info.value.details()


@pytest.mark.parametrize("field, value", [("consistency", 5), ("consistency", 99),
                                          ("durability", 3), ("durability", 1234)])
def test_unknown_enum_values_are_invalid_argument(seeded, channel, field, value) -> None:
    made, ds, unchanged = seeded
    stub = data_pb2_grpc.DataStub(channel)
    md = made.metadata
    calls = {
        "Put": lambda extra: stub.Put(data_pb2.PutRequest(
            dataset=made.dataset, pkey=PKEY, lkey=b"a", value=b"bad", **extra), metadata=md),
        "Delete": lambda extra: stub.Delete(data_pb2.DeleteRequest(
            dataset=made.dataset, pkey=PKEY, lkey=b"a", **extra), metadata=md),
        "MultiPut": lambda extra: stub.MultiPut(data_pb2.MultiPutRequest(
            dataset=made.dataset, mutations=[data_pb2.Mutation(pkey=PKEY, lkey=b"z", value=b"x")],
            **extra), metadata=md),
    }
    if field == "consistency":
        calls |= {
            "Get": lambda extra: stub.Get(data_pb2.GetRequest(
                dataset=made.dataset, pkey=PKEY, lkey=b"a", **extra), metadata=md),
            "Scan": lambda extra: stub.Scan(data_pb2.ScanRequest(
                dataset=made.dataset, pkey=PKEY, **extra), metadata=md),
            "MultiGet": lambda extra: stub.MultiGet(data_pb2.MultiGetRequest(
                dataset=made.dataset, keys=[types_pb2.Key(pkey=PKEY, lkey=b"a")], **extra),
                metadata=md),
        }
    for name, call in calls.items():
        code, details = raw_code(lambda: call({field: value}))
        assert code == grpc.StatusCode.INVALID_ARGUMENT, name
        assert field in details and str(value) in details, (name, details)
    unchanged()


@pytest.mark.parametrize("field", ["read_consistency", "write_consistency", "durability"])
def test_dataset_with_unknown_enum_value_is_invalid_argument(node, channel, made, field) -> None:
    stub = admin_pb2_grpc.AdminStub(channel)
    name = f"ds-{uuid.uuid4().hex[:12]}"
    spec = admin_pb2.DatasetSpec(name=name, tenant=made.tenant, **{field: 7})
    code, details = raw_code(lambda: stub.CreateDataset(
        admin_pb2.CreateDatasetRequest(spec=spec),
        metadata=(("authorization", f"Bearer {node.admin_token()}"),)))
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert field in details
    with Client([node.address], token=node.admin_token()) as admin_client:
        assert name not in [d.name for d in admin_client.admin.list_datasets()]


# -- tenants and datasets -----------------------------------------------------------------


@pytest.mark.parametrize("bad", ["", "Upper", "1digit", "has space", "dot.ted", "x" * 64,
                                 "-dash", "ünï", "a/b"])
def test_invalid_tenant_and_dataset_names_are_rejected_naming_the_kind(admin, made, bad) -> None:
    expect(InvalidRequest, "tenant name", lambda: admin.admin.create_tenant(bad))
    expect(InvalidRequest, "dataset name",
           lambda: admin.admin.create_dataset(bad, tenant=made.tenant))
    assert bad not in [t.name for t in admin.admin.list_tenants()]
    assert [d.name for d in admin.admin.list_datasets(made.tenant)] == [made.dataset]


def test_replication_factor_too_large_is_rejected_naming_it(admin, made) -> None:
    for rf in (2, 9, 10, 1000):
        name = f"ds-{uuid.uuid4().hex[:12]}"
        expect(InvalidRequest, "replication_factor",
               lambda: admin.admin.create_dataset(name, tenant=made.tenant,
                                                  replication_factor=rf))
        assert name not in admin.admin.node_info().datasets
    assert [d.name for d in admin.admin.list_datasets(made.tenant)] == [made.dataset]


def test_dataset_for_unknown_tenant_is_not_found(admin) -> None:
    expect(NotFound, "nobody-here",
           lambda: admin.admin.create_dataset("ds-orphan", tenant="nobody-here"))


def test_duplicate_tenant_and_dataset_are_already_exists(admin, made) -> None:
    with made.client() as client:
        client.dataset(made.dataset).put(b"p", b"k", b"kept")
    expect(AlreadyExists, made.tenant, lambda: admin.admin.create_tenant(made.tenant))
    expect(AlreadyExists, made.dataset,
           lambda: admin.admin.create_dataset(made.dataset, tenant=made.tenant))
    # a dataset name is global: another tenant cannot take it either
    other = f"t-{uuid.uuid4().hex[:12]}"
    admin.admin.create_tenant(other)
    expect(AlreadyExists, made.dataset,
           lambda: admin.admin.create_dataset(made.dataset, tenant=other))
    assert admin.admin.list_datasets(other) == []
    # the duplicate creates replaced nothing: same owner, same token, same data
    assert [d.name for d in admin.admin.list_datasets(made.tenant)] == [made.dataset]
    with made.client() as client:
        assert client.dataset(made.dataset).get(b"p", b"k").value == b"kept"


# -- bytes that are not a message ------------------------------------------------------------


GARBAGE = [b"\xff\xff\xff\xff", b"\x0a\xff", b"\x0a\x05ab", b"\x12" + b"\xff" * 12]


@pytest.mark.parametrize("method", ["/manhattan.v1.Data/Put", "/manhattan.v1.Data/MultiPut",
                                    "/manhattan.v1.Data/Get", "/manhattan.v1.Admin/CreateTenant"])
def test_undecodable_request_bytes_are_invalid_argument_and_node_stays_healthy(
    seeded, channel, node: NodeProcess, method
) -> None:
    made, ds, unchanged = seeded
    raw = channel.unary_unary(method, request_serializer=None, response_deserializer=None)
    for garbage in GARBAGE:
        code, details = raw_code(lambda: raw(garbage, metadata=made.metadata, timeout=5))
        assert code == grpc.StatusCode.INVALID_ARGUMENT, (garbage, code, details)
        assert "not a valid message" in details
    health = health_pb2_grpc.HealthStub(channel)
    status = health.Check(health_pb2.HealthCheckRequest(service=""), timeout=5).status
    assert status == health_pb2.HealthCheckResponse.SERVING
    assert node.pid is not None
    unchanged()
    ds.put(PKEY, b"after", b"ok")
    assert ds.get(PKEY, b"after").value == b"ok"


# -- replies and requests too large for one message -------------------------------------------


def test_multiget_over_the_response_limit_is_paged_by_the_sdk_and_refused_unpaged(
        seeded, node, made) -> None:
    _, ds, unchanged = seeded
    for first in range(0, 17, 8):
        ds.put_many([(b"blob", b"%02d" % i, b"b" * MiB) for i in range(first, min(first + 8, 17))])
    wanted = [(b"blob", b"%02d" % i) for i in range(17)]
    # 17 MiB is over limits.max_response_bytes (4 MiB): the SDK follows the pages.
    assert [(r.lkey, len(r.value)) for r in ds.get_many(wanted)] == [(k, MiB) for _, k in wanted]
    with grpc.insecure_channel(node.address) as channel:
        stub = data_pb2_grpc.DataStub(channel)
        keys = [types_pb2.Key(pkey=p, lkey=l) for p, l in wanted]
        page = stub.MultiGet(data_pb2.MultiGetRequest(dataset=made.dataset, keys=keys, paged=True),
                             metadata=made.metadata, timeout=30)
        assert 0 < page.next_index < 17 and len(page.results) == page.next_index
        assert sum(len(r.record.value) for r in page.results) <= 4 * MiB
        code, details = raw_code(lambda: stub.MultiGet(
            data_pb2.MultiGetRequest(dataset=made.dataset, keys=keys),
            metadata=made.metadata, timeout=30))
    # A caller that does not page is told what to do, not sent a partial answer.
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert "keys" in details and "max_response_bytes" in details and "page" in details
    unchanged()


def test_request_over_the_grpc_message_cap_is_invalid_at_once_not_a_quota(seeded) -> None:
    _, ds, unchanged = seeded
    value = b"v" * MiB
    started = time.monotonic()
    message = expect(InvalidRequest, "too large",
                     lambda: ds.put_many([(b"huge", b"%02d" % i, value) for i in range(65)]))
    assert "larger than max" in str(message)
    assert time.monotonic() - started < 5.0
    unchanged(b"huge")


def test_node_refuses_an_oversized_message_and_stays_healthy(seeded, node, made) -> None:
    _, ds, unchanged = seeded
    options = [("grpc.max_send_message_length", 128 * MiB)]
    with grpc.insecure_channel(node.address, options=options) as wide:
        stub = data_pb2_grpc.DataStub(wide)
        request = data_pb2.MultiPutRequest(dataset=made.dataset, mutations=[
            data_pb2.Mutation(pkey=b"huge", lkey=b"%02d" % i, value=b"v" * MiB)
            for i in range(65)])
        code, details = raw_code(lambda: stub.MultiPut(request, metadata=made.metadata, timeout=30))
    # grpc itself refuses it before any handler runs: a status the SDK maps to InvalidRequest
    assert code == grpc.StatusCode.RESOURCE_EXHAUSTED and "larger than max" in details
    unchanged(b"huge")
    ds.put(PKEY, b"after", b"ok")
    assert ds.get(PKEY, b"after").value == b"ok"
