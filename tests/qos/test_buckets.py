"""Token buckets and limits, in isolation (a fake clock: no sleeping, no timers)."""

from __future__ import annotations

import pytest

from manhattan.errors import InvalidRequest, QuotaExceeded
from manhattan.qos import Limits, LimitStore, QosGate, StorageMeter, TokenBucket
from manhattan.tenancy import VersionedItems


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class MemoryMeta:
    def __init__(self) -> None:
        self.data: dict[bytes, bytes] = {}

    def meta_get(self, key):
        return self.data.get(key)

    def meta_put(self, key, value):
        self.data[key] = value

    def meta_delete(self, key):
        self.data.pop(key, None)

    def meta_items(self, prefix, limit=None):
        return sorted((k, v) for k, v in self.data.items() if k.startswith(prefix))


def test_bucket_serves_burst_then_refills_at_rate_with_sub_second_granularity():
    clock = FakeClock()
    bucket = TokenBucket(10, clock)
    for _ in range(10):
        assert bucket.wait_time(1, 10, 10) == 0
        bucket.spend(1)
    assert bucket.wait_time(1, 10, 10) == pytest.approx(0.1)
    clock.now += 0.05                      # half a token
    assert bucket.wait_time(1, 10, 10) == pytest.approx(0.05)
    clock.now += 0.05
    assert bucket.wait_time(1, 10, 10) == 0


def test_a_request_dearer_than_the_bucket_passes_when_full_and_leaves_debt():
    clock = FakeClock()
    bucket = TokenBucket(10, clock)
    assert bucket.wait_time(50, 10, 10) == 0
    bucket.spend(50)
    assert bucket.wait_time(1, 10, 10) == pytest.approx(4.1)


def gate_with(limits: Limits, nodes: int = 1, used: int = 0) -> tuple[QosGate, FakeClock]:
    clock = FakeClock()
    store = LimitStore(VersionedItems(MemoryMeta()))
    store.set_tenant("t", limits, 1)
    meter = StorageMeter(lambda name: used, nodes=lambda: nodes, clock=clock)
    gate = QosGate(store, nodes=lambda: nodes, meter=meter,
                   datasets_of=lambda tenant: [("d", 1)], clock=clock)
    return gate, clock


def test_writes_admitted_between_two_size_readings_count_against_the_quota():
    # The size is read at most every 0.1 s: writes let through meanwhile are added to it,
    # so a fast writer stops at the quota, not 0.1 s of writes past it.
    clock = FakeClock()
    store = LimitStore(VersionedItems(MemoryMeta()))
    store.set_dataset("d", Limits(storage_quota_bytes=1000), 1)
    meter = StorageMeter(lambda name: 0, clock=clock)  # the engine has not seen them yet
    gate = QosGate(store, meter=meter, datasets_of=lambda tenant: [("d", 1)], clock=clock)
    admitted = 0
    with pytest.raises(QuotaExceeded, match="storage quota"):
        for _ in range(100):
            gate.admit("t", "d", 1, ops=1, nbytes=100, grows=True)
            admitted += 1
    assert admitted == 10


def test_gate_grants_each_node_its_share_and_says_when_to_retry():
    gate, clock = gate_with(Limits(ops_per_second=30, burst_seconds=1), nodes=3)
    served = 0
    with pytest.raises(QuotaExceeded) as caught:
        for _ in range(100):
            gate.admit("t", "d", 3, ops=1, nbytes=10, grows=False)
            served += 1
    assert served == 10                    # 30/s over 3 nodes, 1 s of burst
    assert caught.value.retry_after == pytest.approx(0.1, abs=0.002)
    clock.now += 0.1
    gate.admit("t", "d", 3, ops=1, nbytes=10, grows=False)


def test_a_refused_request_spends_nothing_from_any_bucket():
    gate, _ = gate_with(Limits(ops_per_second=100, bytes_per_second=100))
    gate.admit("t", "d", 1, ops=1, nbytes=100, grows=False)   # bytes bucket now empty
    for _ in range(5):
        with pytest.raises(QuotaExceeded):
            gate.admit("t", "d", 1, ops=1, nbytes=100, grows=False)
    ops_bucket = gate._buckets[("tenant", "t", "ops")]
    assert ops_bucket.tokens == pytest.approx(99)


def test_storage_quota_refuses_growth_but_not_deletes():
    gate, _ = gate_with(Limits(storage_quota_bytes=1000), used=1000)
    with pytest.raises(QuotaExceeded, match="storage quota"):
        gate.admit("t", "d", 1, ops=1, nbytes=10, grows=True)
    gate.admit("t", "d", 1, ops=1, nbytes=10, grows=False)


def test_unlimited_tenants_skip_every_check():
    gate, _ = gate_with(Limits())
    for _ in range(10_000):
        gate.admit("t", "d", 1, ops=1000, nbytes=10**9, grows=True)
    assert gate._buckets == {}


@pytest.mark.parametrize("bad", [
    {"ops_per_second": -1}, {"bytes_per_second": float("nan")}, {"burst_seconds": 0,
                                                                  "ops_per_second": 5},
    {"storage_quota_bytes": -5}, {"ops_per_second": float("inf")}, {"burst_seconds": 1e9},
])
def test_limits_out_of_range_are_refused_naming_the_field(bad):
    with pytest.raises(InvalidRequest, match=next(iter(bad))):
        Limits().merged(**bad)


def test_limits_survive_a_reload_from_the_items():
    items = VersionedItems(MemoryMeta())
    store = LimitStore(items)
    store.set_dataset("d", Limits(ops_per_second=5, storage_quota_bytes=7), 3)
    again = LimitStore(items)
    assert again.dataset("d") == Limits(ops_per_second=5, storage_quota_bytes=7)
    assert again.tenant("nobody").unlimited
