"""Counter datasets through the SDK against a real node: add and read, op-id
deduplication, scans of counters, and every validation error (sync and asyncio)."""

from __future__ import annotations

import asyncio

import pytest

from manhattan.client import AsyncClient, Client, Consistency, CounterAdded, InvalidRequest
from manhattan.node.process import NodeProcess
from tests.tenants import Made, make_on

INT64_MAX = (1 << 63) - 1


@pytest.fixture
def counters(node: NodeProcess) -> Made:
    """A tenant with one counter dataset on the session node."""
    return make_on(node, kind="counter")


def test_adds_sum_up_and_a_new_counter_reads_zero(counters: Made) -> None:
    with counters.client() as client:
        ds = client.dataset(counters.dataset)
        assert ds.counter("user-1", "followers") == 0
        first = ds.add("user-1", "followers", 5)
        assert isinstance(first, CounterAdded) and first.counted and first.value == 5
        assert ds.add("user-1", "followers", -2).value == 3
        assert ds.add("user-1", "followers").value == 4  # delta defaults to 1
        assert ds.counter("user-1", "followers", consistency=Consistency.ALL) == 4
        assert ds.counter("user-1", "following") == 0


def test_a_retried_op_id_counts_once(counters: Made) -> None:
    with counters.client() as client:
        ds = client.dataset(counters.dataset)
        first = ds.add("p", "c", 7, op_id="retry-me")
        again = ds.add("p", "c", 7, op_id=b"retry-me")
        assert first.counted and not again.counted
        assert again.value == 7 and again.op_id == b"retry-me"
        assert ds.counter("p", "c") == 7
        made = ds.add("p", "c", 1)  # the SDK made an op id, and says which
        assert len(made.op_id) == 16 and not ds.add("p", "c", 1, op_id=made.op_id).counted
        assert ds.counter("p", "c") == 8


def test_get_and_scan_return_counter_values(counters: Made) -> None:
    with counters.client() as client:
        ds = client.dataset(counters.dataset)
        ds.add("user-2", "followers", 12)
        ds.add("user-2", "tweets", -3)
        assert ds.get("user-2", "followers").value == b"12"
        assert [(r.lkey, int(r.value)) for r in ds.scan("user-2")] == [
            (b"followers", 12), (b"tweets", -3)]


def test_the_signed_64_bit_range_holds(counters: Made) -> None:
    with counters.client() as client:
        ds = client.dataset(counters.dataset)
        assert ds.add("p", "big", INT64_MAX).value == INT64_MAX
        with pytest.raises(InvalidRequest, match="counter overflow"):
            ds.add("p", "big", 1)
        assert ds.counter("p", "big") == INT64_MAX  # the refused add changed nothing
        with pytest.raises(InvalidRequest, match="64-bit"):
            ds.add("p", "other", INT64_MAX + 1)


@pytest.mark.parametrize("args, match", [
    ((("p", "l", 1.5), {}), "delta must be an int"),
    ((("p", "l", True), {}), "delta must be an int"),
    ((("p", "l", 1), {"op_id": ""}), "op_id must be 1 to 64 bytes"),
    ((("p", "l", 1), {"op_id": "x" * 65}), "op_id must be 1 to 64 bytes"),
    ((("", "l", 1), {}), "pkey"),
])
def test_bad_adds_are_refused_precisely(counters: Made, args, match: str) -> None:
    positional, keywords = args
    with counters.client() as client:
        with pytest.raises(InvalidRequest, match=match):
            client.dataset(counters.dataset).add(*positional, **keywords)


def test_kinds_do_not_mix(counters: Made, made: Made) -> None:
    with counters.client() as client:
        ds = client.dataset(counters.dataset)
        for call in (lambda: ds.put("p", "l", "1"), lambda: ds.delete("p", "l"),
                     lambda: ds.put_many([("p", "l", "1")]),
                     lambda: ds.put("p", "l", "1", if_absent=True),
                     lambda: ds.get("p", "l", consistency=Consistency.SERIAL)):
            with pytest.raises(InvalidRequest, match="is a counter dataset"):
                call()
        for call in (lambda: ds.add("p", "l", 1, consistency=Consistency.SERIAL),
                     lambda: ds.counter("p", "l", consistency=Consistency.SERIAL)):
            with pytest.raises(InvalidRequest, match="SERIAL is not supported here"):
                call()
    with made.client() as client:
        plain = client.dataset(made.dataset)
        with pytest.raises(InvalidRequest, match="is a kv dataset"):
            plain.add("p", "l", 1)
        with pytest.raises(InvalidRequest, match="is a kv dataset"):
            plain.counter("p", "l")


def test_the_kind_is_validated_and_listed(admin: Client, counters: Made) -> None:
    with pytest.raises(InvalidRequest, match="kind must be one of kv, counter"):
        admin.admin.create_dataset("ds-never", tenant=counters.tenant, kind="gauge")
    with pytest.raises(InvalidRequest, match="cannot have a default_ttl"):
        admin.admin.create_dataset("ds-never", tenant=counters.tenant, kind="counter",
                                   default_ttl=60)
    [info] = admin.admin.list_datasets(counters.tenant)
    assert info.kind == "counter"


def test_dropping_the_dataset_drops_its_counters(node: NodeProcess, admin: Client) -> None:
    made = make_on(node, kind="counter")
    with made.client() as client:
        client.dataset(made.dataset).add("p", "l", 9)
    admin.admin.drop_dataset(made.dataset)
    admin.admin.create_dataset(made.dataset, tenant=made.tenant, kind="counter")
    with made.client() as client:
        assert client.dataset(made.dataset).counter("p", "l") == 0


def test_the_asyncio_client_has_the_same_calls(counters: Made) -> None:
    async def main() -> tuple[CounterAdded, int]:
        async with AsyncClient([counters.endpoint], token=counters.token) as client:
            ds = client.dataset(counters.dataset)
            added = await ds.add("a", "b", 3, op_id="once")
            await ds.add("a", "b", 3, op_id="once")
            return added, await ds.counter("a", "b")

    added, value = asyncio.run(main())
    assert added.counted and value == 3
