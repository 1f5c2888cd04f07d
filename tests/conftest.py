"""Fixtures that start real node processes on loopback (free ports, temp dirs).

Nodes are always torn down by PID. The session-wide node serves most tests;
each test gets its own tenant and dataset so tests never see each other's data.
Clusters: the module-scoped ``cluster`` fixture here, built with the helpers of
``tests/clusters.py`` (``start_cluster``, ``new_dataset``, ``wait_until_up`` ...).
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest

from manhattan.client import Client
from manhattan.node.local_cluster import LocalCluster
from manhattan.node.process import PORT_RANGE_ENV, NodeProcess
from tests.clusters import start_cluster
from tests.loop_thread import LoopThread
from tests.tenants import Made, make_on

_names = itertools.count(1)


def _claim_port_range() -> None:
    """Nodes started by the tests (and by the benchmark and harness processes the tests
    start, which inherit it) take ports from 16000-31999, below the kernel's ephemeral
    ports: no client connection takes a node's port between its pick and its bind. Every
    process, xdist workers included, shares one counter over the range (``free_port``)."""
    os.environ.setdefault(PORT_RANGE_ENV, "16000-31999")


_claim_port_range()

# Run on one xdist worker, one after another: each loads both cores by itself, and the
# bench files share one session-wide quick run.
HEAVY = ("tests/bench/test_bench_quick_", "tests/jepsen/test_jepsen_smoke")
# Session-wide clusters: the files using one run on one worker, so it starts once (an
# idle cluster per worker would burn CPU for the rest of the run).
SHARED_CLUSTERS = ("social_cluster", "sdk_cluster")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """``make test`` runs ``--dist loadgroup``: a file's tests stay on one worker (its
    module-scoped cluster starts once), the heavy files share a worker, and so do the
    files on one session-wide cluster."""
    def path_of(item: pytest.Item) -> str:
        return item.nodeid.split("::", 1)[0]

    shared: dict[str, str] = {}
    for item in items:
        for name in SHARED_CLUSTERS:
            if name in getattr(item, "fixturenames", ()):
                shared.setdefault(path_of(item), name)
    for item in items:
        path = path_of(item)
        group = "heavy" if path.startswith(HEAVY) else shared.get(path, path)
        item.add_marker(pytest.mark.xdist_group(group))


@dataclass
class TenantHandle:
    """A tenant made for one test: its name, token and one dataset."""

    name: str
    token: str
    dataset: str
    endpoint: str

    def client(self, **kwargs) -> Client:
        """A fresh client acting as this tenant."""
        return Client([self.endpoint], token=self.token, **kwargs)


@pytest.fixture(scope="session")
def social_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    """The 3-node cluster of the social service tests (services, cli, console): one per
    test process, each test in a namespace of its own."""
    local = start_cluster(tmp_path_factory.mktemp("social"))
    try:
        yield local
    finally:
        local.stop()


@pytest.fixture(scope="session")
def loop_thread() -> Iterator[LoopThread]:
    """The event loop the social service tests drive their services on."""
    runner = LoopThread()
    try:
        yield runner
    finally:
        runner.close()


@pytest.fixture(scope="session")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeProcess]:
    """One storage node shared by the session."""
    root = tmp_path_factory.mktemp("node")
    process = NodeProcess(root / "data", node_id=1)
    process.start()
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture
def fresh_node(tmp_path: Path) -> Iterator[NodeProcess]:
    """A node of the test's own (for crash and restart tests)."""
    process = NodeProcess(tmp_path / "data", node_id=1)
    process.start()
    try:
        yield process
    finally:
        process.kill()


@pytest.fixture(scope="session")
def admin(node: NodeProcess) -> Iterator[Client]:
    """A client holding the admin token of the session node."""
    with Client([node.address], token=node.admin_token()) as client:
        yield client


def make_tenant(admin_client: Client, endpoint: str, **dataset_options) -> TenantHandle:
    """Create a uniquely named tenant with one dataset."""
    n = next(_names)
    name, dataset = f"tenant-{n}", f"ds-{n}"
    token = admin_client.admin.create_tenant(name)
    admin_client.admin.create_dataset(dataset, tenant=name, **dataset_options)
    return TenantHandle(name, token, dataset, endpoint)


@pytest.fixture
def tenant(admin: Client, node: NodeProcess) -> TenantHandle:
    """A new tenant with one dataset on the session node."""
    return make_tenant(admin, node.address)


@pytest.fixture
def dataset(tenant: TenantHandle) -> Iterator:
    """A Dataset handle of a new tenant's dataset."""
    with tenant.client() as client:
        yield client.dataset(tenant.dataset)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    """A converged 3-node cluster for the module; tests restart whatever they kill."""
    local = start_cluster(tmp_path_factory.mktemp("cluster"))
    try:
        yield local
    finally:
        local.stop()


@pytest.fixture
def made(node: NodeProcess) -> Made:
    """A new tenant with one dataset on the session node."""
    return make_on(node)


@pytest.fixture
def channel(node: NodeProcess) -> Iterator[grpc.Channel]:
    """A raw gRPC channel to the session node."""
    with grpc.insecure_channel(node.address) as ch:
        yield ch


@pytest.fixture
def make_tenant_on():
    """The ``make_on(node, **dataset_options)`` helper, for tests that need several tenants."""
    return make_on
