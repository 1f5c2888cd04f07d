"""SERIAL reads and conditional writes against a real 3-node cluster: the conditions,
ConditionFailed with the current record, LWW writes seen by the condition, deletes."""

from __future__ import annotations

import pytest

from manhattan.client import Client, ConditionFailed, Consistency, InvalidRequest
from tests.clusters import new_dataset


@pytest.fixture(scope="module")
def ds(cluster):
    token, name = new_dataset(cluster)
    with Client(cluster.endpoints, token=token) as client:
        yield client.dataset(name)


def test_if_absent_applies_once_and_then_fails_with_the_current_record(ds) -> None:
    version = ds.put("user", "alice", "v1", if_absent=True)
    with pytest.raises(ConditionFailed) as failed:
        ds.put("user", "alice", "v2", if_absent=True)
    assert failed.value.current is not None
    assert failed.value.current.value == b"v1"
    assert failed.value.current.version[:2] == version[:2]
    assert ds.get("user", "alice", consistency=Consistency.SERIAL).value == b"v1"


def test_if_version_is_compare_and_set(ds) -> None:
    first = ds.put("cas", "k", "a", if_absent=True)
    second = ds.put("cas", "k", "b", if_version=first)
    assert second[:2] > first[:2]
    with pytest.raises(ConditionFailed) as failed:
        ds.put("cas", "k", "c", if_version=first)  # stale version
    assert failed.value.current.value == b"b"
    record = ds.get("cas", "k", consistency=Consistency.SERIAL)
    assert (record.value, record.version[:2]) == (b"b", second[:2])
    # A record passed as the condition means its version.
    third = ds.put("cas", "k", "c", if_version=record)
    assert ds.get("cas", "k", consistency=Consistency.QUORUM).version[:2] == third[:2]


def test_conditional_delete_and_absent_current(ds) -> None:
    version = ds.put("del", "k", "x", if_absent=True)
    ds.delete("del", "k", if_version=version)
    assert ds.get("del", "k", consistency=Consistency.SERIAL) is None
    with pytest.raises(ConditionFailed) as failed:
        ds.delete("del", "k", if_version=version)
    assert failed.value.current is None
    ds.put("del", "k", "again", if_absent=True)  # absent again after the delete


def test_a_plain_lww_write_is_what_the_condition_sees(ds) -> None:
    ds.put("mix", "k", "serial", if_absent=True)
    lww = ds.put("mix", "k", "lww", consistency=Consistency.QUORUM)
    record = ds.get("mix", "k", consistency=Consistency.SERIAL)
    assert (record.value, record.version[:2]) == (b"lww", lww[:2])
    ds.put("mix", "k", "serial-again", if_version=lww)
    assert ds.get("mix", "k").value in (b"serial-again", b"lww")  # ONE may lag
    assert ds.get("mix", "k", consistency=Consistency.SERIAL).value == b"serial-again"


def test_unconditional_serial_write_and_ttl(ds) -> None:
    ds.put("plain", "k", "one", consistency=Consistency.SERIAL, ttl=3600)
    record = ds.get("plain", "k", consistency=Consistency.SERIAL)
    assert record.value == b"one" and record.expires_at_ms > 0


@pytest.mark.parametrize("call, needle", [
    (lambda ds: ds.put("p", "l", "v", if_version=(5, 1), if_absent=True), "not both"),
    (lambda ds: ds.put("p", "l", "v", if_absent=True, consistency=Consistency.QUORUM),
     "is SERIAL"),
    (lambda ds: ds.put("p", "l", "v", if_version="nope"), "if_version must be a Version"),
    (lambda ds: ds.put("p", "l", "v", if_version=(0, 1)), "if_version must be a version"),
    (lambda ds: ds.scan("p", consistency=Consistency.SERIAL), "not supported for scans"),
    (lambda ds: ds.get_many([("p", "l")], consistency=Consistency.SERIAL), "get_many"),
    (lambda ds: ds.put_many([("p", "l", "v")], consistency=Consistency.SERIAL), "put_many"),
    (lambda ds: ds.put("", "l", "v", if_absent=True), "pkey must not be empty"),
])
def test_bad_conditional_calls_are_refused_precisely(ds, call, needle) -> None:
    with pytest.raises(InvalidRequest, match=needle):
        call(ds)


def test_the_coordinating_node_counts_serial_outcomes_in_its_metrics(cluster) -> None:
    from tests.clusters import only
    from tests.ops.conftest import node_info, scrape, value

    token, name = new_dataset(cluster)
    address = node_info(cluster.node(1).address, cluster.admin_token).metrics_address
    before = scrape(address)
    with only(cluster.node(1).address, token) as client:  # node 1 coordinates every call
        ds = client.dataset(name)
        ds.put("m", "k", "a", if_absent=True)
        with pytest.raises(ConditionFailed):
            ds.put("m", "k", "b", if_absent=True)
        assert ds.get("m", "k", consistency=Consistency.SERIAL).value == b"a"
    after = scrape(address)

    def grew(event: str) -> float:
        return (value(after, "manhattan_paxos_total", event=event)
                - value(before, "manhattan_paxos_total", event=event))

    assert (grew("cas_applied"), grew("cas_condition_failed"), grew("serial_read")) == (1, 1, 1)
    assert grew("rounds") >= 2 and grew("cas_timeout") == 0
