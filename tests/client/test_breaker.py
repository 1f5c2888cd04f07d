"""Per-endpoint circuit breakers: unit tests on a hand-moved clock, then a real node dying
and coming back."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

import pytest

from manhattan.client import (
    BreakerPolicy, Breakers, BreakerState, Client, Consistency, InvalidRequest, NotFound,
    ConnectionLost, NodeUnreachable, ReplicasUnavailable, RetryPolicy, RoutingPolicy, Timeout,
    Unavailable,
)
from manhattan.client.breaker import is_connection_failure
from manhattan.client.operations import Operation
from manhattan.node.local_cluster import LocalCluster

REFUSED = NodeUnreachable("failed to connect to all addresses; last error: UNKNOWN: "
                      "ipv4:127.0.0.1:1: Failed to connect to remote host: Connection refused")
TOO_FEW_REPLICAS = ReplicasUnavailable("QUORUM needs 2 of 3 replicas; only 1 are live "
                               "(nothing was sent)")


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def breakers(clock: FakeClock) -> Breakers:
    return Breakers(BreakerPolicy(failure_threshold=3, cooldown=5.0), clock=clock)


def test_only_unreachable_endpoints_count_as_connection_failures() -> None:
    # By class only: the same words in another class decide nothing.
    assert is_connection_failure(REFUSED)
    assert is_connection_failure(ConnectionLost("Socket closed"))
    assert not is_connection_failure(Unavailable("failed to connect to all addresses"))
    assert not is_connection_failure(TOO_FEW_REPLICAS)  # the node answered
    assert not is_connection_failure(Timeout("Deadline Exceeded"))
    assert not is_connection_failure(NotFound("dataset 'x' does not exist"))


def test_breaker_opens_after_consecutive_failures_only(breakers: Breakers) -> None:
    breakers.record("a", REFUSED)
    breakers.record("a", REFUSED)
    breakers.record("a", None)  # an answer resets the count
    breakers.record("a", REFUSED)
    breakers.record("a", REFUSED)
    assert breakers.state("a") is BreakerState.CLOSED
    breakers.record("a", TOO_FEW_REPLICAS)  # reachable: counts as an answer
    breakers.record("a", InvalidRequest("bad"))
    for _ in range(2):
        breakers.record("a", REFUSED)
    assert breakers.state("a") is BreakerState.CLOSED
    breakers.record("a", REFUSED)
    assert breakers.state("a") is BreakerState.OPEN
    assert breakers.state("never-seen") is BreakerState.CLOSED


def test_a_connection_lost_mid_call_counts_as_a_failure_not_a_timeout(
        breakers: Breakers) -> None:
    # ConnectionLost is a Timeout (the outcome is unknown) but the connection broke: a
    # node SIGKILLed under a call fails it this way, and must open its breaker.
    for _ in range(3):
        breakers.record("a", ConnectionLost("Socket closed"))
    assert breakers.state("a") is BreakerState.OPEN
    breakers.record("b", REFUSED)
    breakers.record("b", Timeout("Deadline Exceeded"))  # slow, maybe: neither way
    breakers.record("b", REFUSED)
    assert breakers.state("b") is BreakerState.CLOSED
    breakers.record("b", REFUSED)
    assert breakers.state("b") is BreakerState.OPEN


def test_open_endpoint_goes_to_the_end_of_every_plan(breakers: Breakers) -> None:
    for _ in range(3):
        breakers.record("b", REFUSED)
    assert breakers.order(["b", "a", "c"]) == ["a", "c", "b"]
    assert breakers.order(["a", "b", "c"]) == ["a", "c", "b"]
    assert breakers.order(["b"]) == ["b"]  # never refused: the last resort is still tried


def test_one_half_open_probe_after_the_cooldown_and_success_closes(
        breakers: Breakers, clock: FakeClock) -> None:
    for _ in range(3):
        breakers.record("b", REFUSED)
    clock.now += 4.9
    assert breakers.state("b") is BreakerState.OPEN
    clock.now += 0.1
    assert breakers.state("b") is BreakerState.HALF_OPEN
    assert breakers.order(["b", "a"]) == ["b", "a"]  # may be probed in its place
    breakers.sending("b")  # the probe is in flight
    assert breakers.order(["b", "a"]) == ["a", "b"]  # only one probe at a time
    breakers.record("b", None)
    assert breakers.state("b") is BreakerState.CLOSED
    assert breakers.order(["b", "a"]) == ["b", "a"]


def test_failed_probe_reopens_for_another_cooldown(breakers: Breakers, clock: FakeClock) -> None:
    for _ in range(3):
        breakers.record("b", REFUSED)
    clock.now += 5.0
    breakers.sending("b")
    breakers.record("b", REFUSED)
    assert breakers.state("b") is BreakerState.OPEN
    clock.now += 4.0
    assert breakers.state("b") is BreakerState.OPEN
    clock.now += 1.0
    assert breakers.state("b") is BreakerState.HALF_OPEN


def test_unanswered_probe_frees_the_slot_after_a_cooldown(breakers: Breakers,
                                                         clock: FakeClock) -> None:
    for _ in range(3):
        breakers.record("b", REFUSED)
    clock.now += 5.0
    breakers.sending("b")  # e.g. its plan succeeded on another endpoint first
    assert breakers.order(["b", "a"]) == ["a", "b"]
    clock.now += 5.0
    assert breakers.order(["b", "a"]) == ["b", "a"]
    breakers.sending("b")
    breakers.record("b", Timeout("slow"))  # inconclusive: slot freed, still half-open
    assert breakers.state("b") is BreakerState.HALF_OPEN
    assert breakers.order(["b", "a"]) == ["b", "a"]


def test_breakers_are_thread_safe() -> None:
    breakers = Breakers(BreakerPolicy(failure_threshold=1000, cooldown=1.0))
    errors: list[BaseException] = []

    def hammer(n: int) -> None:
        try:
            for i in range(2000):
                breakers.record(f"e{i % 4}", REFUSED if (i + n) % 3 else None)
                breakers.order(["e0", "e1", "e2", "e3"])
                breakers.sending(f"e{i % 4}")
        except BaseException as exc:  # pragma: no cover - the assertion reports it
            errors.append(exc)

    threads = [threading.Thread(target=hammer, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert all(breakers.state(f"e{i}") is BreakerState.CLOSED for i in range(4))


def test_policy_rejects_nonsense() -> None:
    with pytest.raises(ValueError):
        BreakerPolicy(failure_threshold=0)
    with pytest.raises(ValueError):
        BreakerPolicy(cooldown=0)


# -- a real node dies and comes back -------------------------------------------------------


class Fixed(RoutingPolicy):
    """Routing that always tries the given endpoints in this order."""

    def __init__(self, endpoints: Sequence[str]) -> None:
        self.endpoints = list(endpoints)

    def query_plan(self, op: Operation) -> Sequence[str]:
        return self.endpoints


def test_breaker_opens_on_a_killed_node_and_a_half_open_probe_closes_it_after_restart(
        restart_killed: LocalCluster, cluster_tenant) -> None:
    local, t = restart_killed, cluster_tenant
    victim, healthy = local.node(3), local.node(2)
    policy = BreakerPolicy(failure_threshold=3, cooldown=0.5)
    # A put on the victim's connection as it dies has an unknown outcome (ConnectionLost);
    # this test is about breakers, so its puts may be repeated.
    with Client([healthy.address], token=t.token, timeout=5, breaker=policy,
                routing=Fixed([victim.address, healthy.address]),
                retry=RetryPolicy(retry_non_idempotent=True)) as client:
        ds = client.dataset(t.dataset)
        sent: list[str] = []
        attempt = client._attempt

        def recording(op, endpoint, deadline):
            if op.service == "data":
                sent.append(endpoint)
            return attempt(op, endpoint, deadline)

        client._attempt = recording  # type: ignore[method-assign]
        ds.put("p", "k", "v0", consistency=Consistency.QUORUM)
        assert sent == [victim.address]
        victim.kill()
        for i in range(3):  # each fails over to the healthy node
            ds.put("p", "k", f"v{i + 1}", consistency=Consistency.QUORUM)
        assert client.breakers.state(victim.address) is BreakerState.OPEN
        sent.clear()
        assert ds.get("p", "k", consistency=Consistency.QUORUM).value == b"v3"
        assert sent == [healthy.address]  # open: the victim is not tried first any more

        victim.start()
        deadline = time.monotonic() + 20
        while (client.breakers.state(victim.address) is not BreakerState.CLOSED
               and time.monotonic() < deadline):
            time.sleep(0.1)
            ds.put("p", "k", "after", consistency=Consistency.QUORUM)
        assert client.breakers.state(victim.address) is BreakerState.CLOSED
        sent.clear()
        assert ds.get("p", "k", consistency=Consistency.QUORUM).value == b"after"
        assert sent == [victim.address]  # first in its plan again
