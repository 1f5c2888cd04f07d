"""The SDK's outcome matrix against real node processes on loopback.

``Unavailable`` (nothing was done) only where the SDK knows it: it never had a
connection, or the node named ``ReplicasUnavailable`` in its structured trailer.
Everything else that fails after the request went out is ``Timeout`` (outcome
unknown), and a write stays unknown once any of its attempts was.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import pytest

from manhattan.client import (
    AsyncClient, Client, ConnectionLost, Consistency, MultiPartError, NodeUnreachable,
    ReplicasUnavailable, RetryPolicy, RoutingPolicy, Timeout, Unavailable,
)
from manhattan.client.operations import Operation
from manhattan.node.local_cluster import LocalCluster
from manhattan.node.process import NodeProcess
from tests.client.conftest import ClusterTenant, unique

QUORUM, ONE = Consistency.QUORUM, Consistency.ONE


class Fixed(RoutingPolicy):
    """Routing that always tries the given endpoints in this order."""

    def __init__(self, endpoints: Sequence[str]) -> None:
        self.endpoints = list(endpoints)

    def query_plan(self, op: Operation[Any]) -> Sequence[str]:
        return self.endpoints


def pinned(nodes: Sequence[NodeProcess], token: str, *, attempts: int = 1,
           timeout: float = 5.0, **retry: Any) -> Client:
    """A client that tries exactly ``nodes``, in order."""
    endpoints = [n.address for n in nodes]
    return Client(endpoints, token=token, timeout=timeout, routing=Fixed(endpoints),
                  retry=RetryPolicy(max_attempts=attempts, **retry))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def sees_down(local: LocalCluster, observer: int, *node_ids: int, timeout: float = 20.0) -> None:
    """Until ``observer``'s failure detector reports every one of ``node_ids`` down."""
    with pinned([local.node(observer)], local.admin_token) as client:
        deadline = time.monotonic() + timeout
        while True:
            alive = {m.id for m in client.admin.topology().members if m.alive}
            if not alive & set(node_ids):
                return
            assert time.monotonic() < deadline, f"node {observer} still sees {alive} alive"
            time.sleep(0.1)


@contextmanager
def stopped(node: NodeProcess) -> Iterator[None]:
    """SIGSTOP ``node`` for the block (SIGCONT after, unless it was killed meanwhile)."""
    assert node.pid is not None
    os.kill(node.pid, signal.SIGSTOP)
    try:
        yield
    finally:
        if node.pid is not None:
            os.kill(node.pid, signal.SIGCONT)


def in_thread(call: Any) -> tuple[threading.Thread, list[BaseException]]:
    """Run ``call`` in a thread; what it raised lands in the returned list."""
    raised: list[BaseException] = []

    def run() -> None:
        try:
            call()
        except BaseException as exc:  # noqa: BLE001 - the test inspects it
            raised.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, raised


# -- never connected ------------------------------------------------------------------------


def test_never_connected_is_node_unreachable_and_fails_fast() -> None:
    endpoint = f"127.0.0.1:{free_port()}"  # nobody listens
    with Client([endpoint], token="t", timeout=5, retry=RetryPolicy(max_attempts=1)) as client:
        started = time.monotonic()
        with pytest.raises(NodeUnreachable):
            client.dataset("d").put("p", "k", "v")
        assert time.monotonic() - started < 4  # refused, not waited out

    async def main() -> None:
        async with AsyncClient([endpoint], token="t", timeout=5,
                               retry=RetryPolicy(max_attempts=1)) as aclient:
            with pytest.raises(NodeUnreachable):
                await aclient.dataset("d").put("p", "k", "v")

    asyncio.run(main())


# -- connected, then the node stops answering or dies -------------------------------------


def test_a_stopped_node_past_the_deadline_is_a_timeout(
        sdk_cluster: LocalCluster, cluster_tenant: ClusterTenant) -> None:
    victim = sdk_cluster.node(3)
    with pinned([victim], cluster_tenant.token) as client:
        ds = client.dataset(cluster_tenant.dataset)
        ds.get("p", "k")  # connected
        with stopped(victim):
            with pytest.raises(Timeout) as raised:
                ds.put("p", "k", "v", timeout=1.0)
            # A new connection to a stopped process is accepted by its kernel, so the
            # request sits in the node's socket and runs when it resumes: unknown too.
            with pinned([victim], cluster_tenant.token) as fresh:
                with pytest.raises(Timeout):
                    fresh.dataset(cluster_tenant.dataset).put("p", "k", "v", timeout=1.0)
    assert type(raised.value) is Timeout  # the deadline, not a broken connection


def test_a_connection_lost_mid_call_is_an_unknown_outcome(
        restart_killed: LocalCluster, cluster_tenant: ClusterTenant) -> None:
    victim = restart_killed.node(3)
    with pinned([victim], cluster_tenant.token, timeout=15) as client:
        ds = client.dataset(cluster_tenant.dataset)
        ds.get("p", "k")  # connected
        with stopped(victim):
            thread, raised = in_thread(lambda: ds.put("p", "k", "lost?", consistency=QUORUM))
            time.sleep(0.5)  # the request is on the wire, unanswered
            victim.kill()
            thread.join(20)
    assert len(raised) == 1 and type(raised[0]) is ConnectionLost
    assert isinstance(raised[0], Timeout) and not isinstance(raised[0], Unavailable)


def test_a_connection_lost_mid_call_is_an_unknown_outcome_on_the_async_client(
        restart_killed: LocalCluster, cluster_tenant: ClusterTenant) -> None:
    victim = restart_killed.node(3)

    async def main() -> BaseException | None:
        async with AsyncClient([victim.address], token=cluster_tenant.token, timeout=15,
                               routing=Fixed([victim.address]),
                               retry=RetryPolicy(max_attempts=1)) as aclient:
            ds = aclient.dataset(cluster_tenant.dataset)
            await ds.get("p", "k")  # connected
            with stopped(victim):
                put = asyncio.ensure_future(ds.put("p", "k", "lost?", consistency=QUORUM))
                await asyncio.sleep(0.5)
                victim.kill()
                try:
                    await asyncio.wait_for(put, 20)
                except BaseException as exc:  # noqa: BLE001 - the test inspects it
                    return exc
        return None

    raised = asyncio.run(main())
    assert type(raised) is ConnectionLost


# -- the node refuses: too few live replicas ----------------------------------------------


def test_too_few_live_replicas_is_replicas_unavailable_on_both_clients(
        restart_killed: LocalCluster, cluster_tenant: ClusterTenant) -> None:
    local = restart_killed
    local.node(2).kill()
    local.node(3).kill()
    sees_down(local, 1, 2, 3)
    with pinned([local.node(1)], cluster_tenant.token) as client:
        ds = client.dataset(cluster_tenant.dataset)
        with pytest.raises(ReplicasUnavailable):
            ds.put("p", "k", "v", consistency=QUORUM)
        with pytest.raises(ReplicasUnavailable):
            ds.get("p", "k", consistency=QUORUM)
        ds.put("p", "k", "v", consistency=ONE)  # one live replica is enough for ONE

    async def main() -> None:
        endpoint = local.node(1).address
        async with AsyncClient([endpoint], token=cluster_tenant.token, routing=Fixed([endpoint]),
                               retry=RetryPolicy(max_attempts=1)) as aclient:
            with pytest.raises(ReplicasUnavailable):
                await aclient.dataset(cluster_tenant.dataset).put("p", "k", "v",
                                                                   consistency=QUORUM)

    asyncio.run(main())


# -- retries: a write stays unknown once an attempt was --------------------------------------


def test_a_lost_first_attempt_then_too_few_replicas_on_the_retry_is_unknown(
        restart_killed: LocalCluster, cluster_tenant: ClusterTenant) -> None:
    local = restart_killed
    first, second = local.node(2), local.node(1)
    local.node(3).kill()
    sees_down(local, 1, 3)
    with pinned([first, second], cluster_tenant.token, attempts=2, timeout=20,
                retry_non_idempotent=True) as client:
        ds = client.dataset(cluster_tenant.dataset)
        ds.get("p", "k")  # connected to the first node
        with stopped(first):
            sees_down(local, 1, 2, 3)  # the retry's coordinator will refuse
            thread, raised = in_thread(lambda: ds.put("p", "k", "twice?", consistency=QUORUM))
            time.sleep(0.5)
            first.kill()  # attempt 1: the connection breaks under the request
            thread.join(25)
        assert len(raised) == 1
        error = raised[0]
        assert type(error) is Timeout, error  # attempt 2's "too few replicas" undoes nothing
        assert isinstance(error.__cause__, ReplicasUnavailable)

        # Nothing unknown before: the same refusal is an honest Unavailable.
        with pytest.raises(ReplicasUnavailable):
            ds.put("p", "k", "v", consistency=QUORUM)  # attempt 1 unreachable, 2 refused


# -- multi-key calls: one error, every part's outcome ----------------------------------------


def test_split_calls_raise_one_error_with_every_part_and_never_hide_a_timeout(
        restart_killed: LocalCluster) -> None:
    local = restart_killed
    a, b, c = local.node(1), local.node(2), local.node(3)
    tenant, dataset = unique("mp"), unique("mpds")
    with pinned([a], local.admin_token) as admin:
        token = admin.admin.create_tenant(tenant)
        admin.admin.create_dataset(dataset, tenant=tenant, replication_factor=1)
    with pinned([a], token, timeout=1.5) as client:
        client.refresh_topology()
        owner = {}
        for i in range(200):  # one pkey owned by each node
            member = client.topology.replicas(dataset, f"k{i}".encode())[0]
            owner.setdefault(member.id, f"k{i}")
        assert set(owner) == {1, 2, 3}
        ka, kb, kc = owner[1], owner[2], owner[3]
        ds = client.dataset(dataset)
        ds.put_many([(k, "l", "0") for k in (ka, kb, kc)], timeout=10)  # all parts work
        c.kill()
        sees_down(local, 1, 3)

        with pytest.raises(MultiPartError) as raised:
            ds.put_many([(ka, "l", "1"), (kc, "l", "1")])
        error = raised.value  # part a applied: not "nothing was done"
        assert not isinstance(error, (Unavailable, Timeout))
        assert [p.ok for p in error.parts] == [True, False]
        assert isinstance(error.parts[1].error, ReplicasUnavailable)
        assert error.parts[0].result[0].timestamp > 0

        with stopped(b):  # a forwards b's part to b, which never answers
            with pytest.raises(Timeout) as unknown:
                ds.put_many([(ka, "l", "2"), (kb, "l", "2"), (kc, "l", "2")])
            with pytest.raises(Timeout) as unknown_read:
                ds.get_many([(ka, "l"), (kb, "l"), (kc, "l")])
        for caught in (unknown, unknown_read):
            assert isinstance(caught.value, MultiPartError)
            outcomes = {p.indices: p for p in caught.value.parts}
            assert outcomes[(0,)].ok
            assert isinstance(outcomes[(1,)].error, Timeout)
            assert isinstance(outcomes[(2,)].error, ReplicasUnavailable)
