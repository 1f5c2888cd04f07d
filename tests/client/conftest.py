"""Fixtures of the SDK tests: more tenants and datasets on the session node."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest

from manhattan.client import Client, ManhattanError, RoundRobinPolicy
from manhattan.node.local_cluster import LocalCluster
from manhattan.node.process import NodeProcess
from tests.tenants import Made


def unique(prefix: str) -> str:
    """A valid, unique tenant/dataset name."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def new_tenant(admin: Client, node: NodeProcess) -> Callable[..., Made]:
    """Make a tenant with one dataset (dataset options as keyword arguments)."""

    def make(**dataset_options) -> Made:
        tenant, dataset = unique("t"), unique("ds")
        token = admin.admin.create_tenant(tenant)
        admin.admin.create_dataset(dataset, tenant=tenant, **dataset_options)
        return Made(tenant, token, dataset, node.address)

    return make


# -- a real 3-node cluster (routing, breaker and split-batch tests) ---------------------


@pytest.fixture(scope="session")
def sdk_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    """Three node processes shared by the SDK's cluster tests; tests restart what they kill."""
    root = tmp_path_factory.mktemp("sdk-cluster")
    local = LocalCluster(root / "c", nodes=3, base_port=None,
                         extra_config={"cluster": {"ping_interval_s": 0.2}})
    local.start()
    try:
        yield local
    finally:
        local.stop()


@dataclass(frozen=True)
class ClusterTenant:
    """A tenant of the SDK cluster with one RF=3 dataset."""

    tenant: str
    token: str
    dataset: str
    seed: str


def _on_every_node(local: LocalCluster, check: Callable[[Client], bool],
                   timeout: float = 15.0) -> None:
    """Wait until ``check`` holds on each node asked on its own (bounded)."""
    for endpoint in local.endpoints:
        with Client([endpoint], token=local.admin_token,
                    routing=RoundRobinPolicy([endpoint])) as client:
            deadline = time.monotonic() + timeout
            while not check(client):
                assert time.monotonic() < deadline, f"{endpoint} did not catch up"
                time.sleep(0.1)


@pytest.fixture
def cluster_tenant(sdk_cluster: LocalCluster) -> ClusterTenant:
    """A fresh tenant with an RF=3 dataset on the SDK cluster, known to every node."""
    tenant, dataset = unique("ct"), unique("cds")
    seed = sdk_cluster.endpoints[0]
    with Client([seed], token=sdk_cluster.admin_token,
                routing=RoundRobinPolicy([seed])) as admin:
        # 30 s, not the SDK's 5: the previous test's restart may have set off a metadata
        # election, which a loaded box can stretch (Unavailable is retried until then)
        token = admin.admin.create_tenant(tenant, timeout=30)
        admin.admin.create_dataset(dataset, tenant=tenant, replication_factor=3, timeout=30)
    _on_every_node(sdk_cluster, lambda c: dataset in {d.name for d in c.admin.list_datasets()})
    return ClusterTenant(tenant, token, dataset, seed)


@pytest.fixture
def restart_killed(sdk_cluster: LocalCluster) -> Iterator[LocalCluster]:
    """The SDK cluster; any node the test killed is started again afterwards."""
    try:
        yield sdk_cluster
    finally:
        restarted = [node.start() for node in sdk_cluster.nodes if node.pid is None]
        if restarted:  # back only once every node sees every other alive again, steadily
            # ... and the metadata log has a leader again (an admin read takes a barrier
            # through it): the next test's fixture creates a tenant first.
            _steadily_on_every_node(sdk_cluster,
                                    lambda c: all(m.alive for m in c.admin.topology().members)
                                    and c.admin.list_datasets() is not None)


def _steadily_on_every_node(local: LocalCluster, check: Callable[[Client], bool],
                            steady: float = 1.5, timeout: float = 30.0) -> None:
    """Wait until ``check`` holds on every node at every poll for ``steady`` seconds in a
    row (bounded). Liveness flaps for up to a second after a restart: a peer's channel to
    the restarted node is still in reconnect backoff (cluster channels: at most 1 s), so
    its pings fail fast (dead at once) while the restarted node's own pings revive it; a
    single look can land on an alive moment, and the next test's first call on a dead one."""
    clients = [Client([e], token=local.admin_token, routing=RoundRobinPolicy([e]))
               for e in local.endpoints]
    try:
        deadline = time.monotonic() + timeout
        held_since = time.monotonic()
        while time.monotonic() - held_since < steady:
            assert time.monotonic() < deadline, "liveness did not settle on every node"
            try:
                held = all(check(client) for client in clients)
            except ManhattanError:  # e.g. this client's own channel still reconnecting
                held = False
            if not held:
                held_since = time.monotonic()
            time.sleep(0.1)
    finally:
        for client in clients:
            client.close()
