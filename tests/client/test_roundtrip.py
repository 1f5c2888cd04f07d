"""Every SDK call, sync and asyncio, against a real node on loopback."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest

from manhattan.client import (
    AsyncClient, Client, DatasetInfo, Delete, Durability, InvalidRequest, NodeInfo, NotFound,
    Put, Record, ScanPage, Tenant, Unavailable, Version,
)
from manhattan.node.process import NodeProcess, free_port


def unique(prefix: str) -> str:
    """A valid, unique tenant/dataset name."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def wait_until(predicate, timeout: float, interval: float = 0.05) -> bool:
    """Poll ``predicate`` until it holds or ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


# -- sync client ------------------------------------------------------------------------


def test_put_then_get_returns_value_and_version_with_str_and_bytes_keys(new_tenant) -> None:
    t = new_tenant()
    with t.client() as client:
        ds = client.dataset(t.dataset)
        v1 = ds.put("user", "name", "alice")
        assert isinstance(v1, Version) and v1.timestamp > 0
        record = ds.get(b"user", b"name")
        assert isinstance(record, Record)
        assert (record.pkey, record.lkey, record.value) == (b"user", b"name", b"alice")
        assert record.version == v1
        assert record.expires_at_ms == 0
        # str and bytes name the same key
        assert ds.get("user", "name") == record
        ds.put(b"\x00\xffbin", b"\x01", b"\x00\x01\x02")
        assert ds.get(b"\x00\xffbin", b"\x01").value == b"\x00\x01\x02"
        # lkey defaults to b""
        ds.put("solo", b"", "x")
        assert ds.get("solo").value == b"x"


def test_get_of_absent_key_returns_none(new_tenant) -> None:
    t = new_tenant()
    with t.client() as client:
        assert client.dataset(t.dataset).get("nobody", "home") is None


def test_versions_increase_with_every_write_of_a_key(new_tenant) -> None:
    t = new_tenant()
    with t.client() as client:
        ds = client.dataset(t.dataset)
        versions = [ds.put("p", "k", f"v{i}") for i in range(20)]
        versions.append(ds.delete("p", "k"))
        versions.append(ds.put("p", "k", "again"))
        assert versions == sorted(versions)
        assert len(set(versions)) == len(versions)
        assert ds.get("p", "k").version == versions[-1]


def test_delete_hides_record_and_returns_tombstone_version(new_tenant) -> None:
    t = new_tenant()
    with t.client() as client:
        ds = client.dataset(t.dataset)
        put_version = ds.put("p", "k", "v")
        tombstone = ds.delete("p", "k")
        assert tombstone > put_version
        assert ds.get("p", "k") is None
        assert ds.scan("p") == []
        # deleting an absent key is not an error
        assert isinstance(ds.delete("p", "never-there"), Version)


def test_scan_scan_page_and_iter_scan_agree(new_tenant) -> None:
    t = new_tenant()
    with t.client() as client:
        ds = client.dataset(t.dataset)
        ds.put_many([("p", f"k{i:02d}", f"v{i}") for i in range(25)])
        full = ds.scan("p", limit=1000)
        assert [r.lkey for r in full] == [f"k{i:02d}".encode() for i in range(25)]
        page = ds.scan_page("p", limit=10)
        assert isinstance(page, ScanPage)
        assert page.records == full[:10] and page.cursor is not None
        assert list(ds.iter_scan("p", page_size=4)) == full
        assert ds.scan("p", limit=3) == full[:3]


def test_put_many_accepts_put_delete_and_tuples_and_get_many_keeps_order(new_tenant) -> None:
    t = new_tenant()
    with t.client() as client:
        ds = client.dataset(t.dataset)
        ds.put("p", "doomed", "x")
        versions = ds.put_many([
            Put("p", "a", "1"),
            ("p", b"b", b"2"),
            Delete("p", "doomed"),
            Put(b"q", b"c", b"3", ttl=3600),
        ])
        assert len(versions) == 4 and all(isinstance(v, Version) for v in versions)
        assert versions == sorted(versions)
        got = ds.get_many([("p", "a"), ("p", "doomed"), (b"q", b"c"), ("p", "b"), ("zz", "")])
        assert [r.value if r else None for r in got] == [b"1", None, b"3", b"2", None]
        assert got[0].version == versions[0]
        assert got[2].expires_at_ms > 0
        assert ds.get_many([]) == []
        assert ds.put_many([]) == []


def test_ttl_record_is_visible_then_expires(new_tenant) -> None:
    t = new_tenant()
    with t.client() as client:
        ds = client.dataset(t.dataset)
        version = ds.put("p", "ephemeral", "v", ttl=0.3)
        record = ds.get("p", "ephemeral")
        assert record is not None and record.value == b"v"
        assert record.expires_at_ms > 0
        assert [r.lkey for r in ds.scan("p")] == [b"ephemeral"]
        assert wait_until(lambda: ds.get("p", "ephemeral") is None, timeout=2.0)
        assert ds.scan("p") == []
        assert ds.get_many([("p", "ephemeral")]) == [None]
        assert version.timestamp > 0


def test_dataset_default_ttl_applies_to_writes_without_ttl(new_tenant) -> None:
    t = new_tenant(default_ttl=0.3)
    with t.client() as client:
        ds = client.dataset(t.dataset)
        ds.put("p", "k", "v")
        assert ds.get("p", "k").expires_at_ms > 0
        assert wait_until(lambda: ds.get("p", "k") is None, timeout=2.0)


def test_timeout_parameter_is_accepted_everywhere(new_tenant) -> None:
    t = new_tenant()
    with t.client(timeout=3.0) as client:
        ds = client.dataset(t.dataset)
        ds.put("p", "k", "v", timeout=2.0, durability=Durability.BUFFERED)
        assert ds.get("p", "k", timeout=2.0).value == b"v"
        assert len(ds.scan("p", timeout=2.0)) == 1
        assert len(ds.scan_page("p", timeout=2.0).records) == 1
        assert len(list(ds.iter_scan("p", timeout=2.0))) == 1
        assert ds.get_many([("p", "k")], timeout=2.0)[0].value == b"v"
        ds.put_many([("p", "k2", "v2")], timeout=2.0)
        ds.delete("p", "k2", timeout=2.0, durability=Durability.SYNC)
        with pytest.raises(InvalidRequest, match="timeout"):
            ds.get("p", "k", timeout=0)
    with pytest.raises(InvalidRequest, match="timeout"):
        Client([t.endpoint], token=t.token, timeout=-1)


def test_closed_port_raises_unavailable_within_the_timeout() -> None:
    address = f"127.0.0.1:{free_port()}"
    with Client([address], token="mh_abc_def", timeout=0.5) as client:
        ds = client.dataset("anything")
        for call in (lambda: ds.get("p", "k"), lambda: ds.put("p", "k", "v")):
            started = time.monotonic()
            with pytest.raises(Unavailable):
                call()
            assert time.monotonic() - started < 2.0


def test_admin_creates_and_lists_tenants_and_datasets(admin: Client, node: NodeProcess) -> None:
    tenant, dataset = unique("t"), unique("ds")
    token = admin.admin.create_tenant(tenant)
    assert token.startswith("mh_")
    listed = admin.admin.list_tenants()
    assert all(isinstance(x, Tenant) for x in listed)
    assert tenant in [x.name for x in listed]
    info = admin.admin.create_dataset(dataset, tenant=tenant, durability=Durability.BUFFERED)
    assert isinstance(info, DatasetInfo)
    assert (info.name, info.tenant, info.replication_factor) == (dataset, tenant, 1)
    assert info.durability == Durability.BUFFERED and info.created_at_ms > 0
    assert [d.name for d in admin.admin.list_datasets(tenant)] == [dataset]
    assert dataset in [d.name for d in admin.admin.list_datasets()]
    with Client([node.address], token=token) as client:
        assert [d.name for d in client.admin.list_datasets()] == [dataset]
        client.dataset(dataset).put("p", "k", "v")


def test_dropped_dataset_is_not_found_afterwards(admin: Client, new_tenant) -> None:
    t = new_tenant()
    with t.client() as client:
        ds = client.dataset(t.dataset)
        ds.put("p", "k", "v")
        admin.admin.drop_dataset(t.dataset)
        with pytest.raises(NotFound, match=t.dataset):
            ds.get("p", "k")
        with pytest.raises(NotFound):
            ds.put("p", "k", "v")
        with pytest.raises(NotFound):
            admin.admin.drop_dataset(t.dataset)
        assert t.dataset not in [d.name for d in admin.admin.list_datasets()]
    # the name is free again, and the new dataset starts empty
    admin.admin.create_dataset(t.dataset, tenant=t.tenant)
    with t.client() as client:
        assert client.dataset(t.dataset).get("p", "k") is None


def test_node_info_describes_the_node(admin: Client, node: NodeProcess, new_tenant) -> None:
    t = new_tenant()
    info = admin.admin.node_info()
    assert isinstance(info, NodeInfo)
    assert info.node_id == node.node_id
    assert info.address == node.address
    assert info.version
    assert 0 < info.started_at_ms <= info.clock_ms
    assert abs(info.clock_ms - time.time() * 1000) < 60_000
    assert t.dataset in info.datasets
    assert info.disk_bytes > 0


# -- asyncio client ---------------------------------------------------------------------


def test_async_client_round_trips_every_call(admin: Client, node: NodeProcess) -> None:
    async def main() -> None:
        async with AsyncClient([node.address], token=node.admin_token()) as aadmin:
            tenant, dataset = unique("t"), unique("ds")
            token = await aadmin.admin.create_tenant(tenant)
            assert tenant in [x.name for x in await aadmin.admin.list_tenants()]
            info = await aadmin.admin.create_dataset(dataset, tenant=tenant)
            assert info.name == dataset
            assert [d.name for d in await aadmin.admin.list_datasets(tenant)] == [dataset]
            node_info = await aadmin.admin.node_info()
            assert node_info.node_id == node.node_id and dataset in node_info.datasets

            async with AsyncClient([node.address], token=token, timeout=3.0) as client:
                ds = client.dataset(dataset)
                v1 = await ds.put("user", "name", "alice")
                v2 = await ds.put(b"user", b"name", b"bob", timeout=2.0)
                assert v2 > v1
                record = await ds.get("user", "name")
                assert record.value == b"bob" and record.version == v2
                assert await ds.get(b"user", b"absent") is None
                tomb = await ds.delete("user", "name")
                assert tomb > v2 and await ds.get("user", "name") is None

                versions = await ds.put_many([
                    Put("p", "a", "1"), ("p", "b", "2"), ("p", "c", "3"), Delete("p", "b"),
                ])
                assert versions == sorted(versions) and len(versions) == 4
                got = await ds.get_many([("p", "c"), ("p", "b"), ("p", "a")])
                assert [r.value if r else None for r in got] == [b"3", None, b"1"]

                await ds.put_many([("q", f"{i:03d}", str(i)) for i in range(30)])
                full = await ds.scan("q", limit=1000)
                assert [r.lkey for r in full] == [f"{i:03d}".encode() for i in range(30)]
                assert [r async for r in ds.iter_scan("q", page_size=7)] == full
                rev = await ds.scan("q", reverse=True, start="010", end="020", limit=5)
                assert [r.lkey for r in rev] == [f"{i:03d}".encode() for i in range(19, 14, -1)]
                page = await ds.scan_page("q", limit=10)
                assert page.records == full[:10] and page.cursor
                rest = await ds.scan_page("q", limit=100, cursor=page.cursor)
                assert rest.records == full[10:] and rest.cursor is None

                await ds.put("t", "ttl", "v", ttl=0.3)
                assert (await ds.get("t", "ttl")) is not None
                deadline = time.monotonic() + 2.0
                while await ds.get("t", "ttl") is not None and time.monotonic() < deadline:
                    await asyncio.sleep(0.05)
                assert await ds.get("t", "ttl") is None

                # many concurrent calls on one client share its channel
                await asyncio.gather(*(ds.put("c", str(i), str(i)) for i in range(50)))
                assert len(await ds.scan("c", limit=100)) == 50

            await aadmin.admin.drop_dataset(dataset)
            async with AsyncClient([node.address], token=token) as client:
                with pytest.raises(NotFound):
                    await client.dataset(dataset).get("user", "name")

    asyncio.run(main())


def test_async_client_raises_unavailable_quickly_on_closed_port() -> None:
    async def main() -> None:
        async with AsyncClient([f"127.0.0.1:{free_port()}"], token="mh_a_b",
                               timeout=0.5) as client:
            started = time.monotonic()
            with pytest.raises(Unavailable):
                await client.dataset("x").put("p", "k", "v")
            assert time.monotonic() - started < 2.0
            with pytest.raises(Unavailable):
                await client.dataset("x").get("p", "k", timeout=0.3)

    asyncio.run(main())
