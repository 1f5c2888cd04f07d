"""A hypothesis state machine drives admin commands through random nodes of a real
3-node cluster while random nodes are paused (SIGSTOP), against a plain model; at the end
every node's applied metadata must be one history: the same tenants, datasets and
number of applied commands everywhere, and what the model knows for sure."""

from __future__ import annotations

import os
import signal
import time

import grpc
import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, precondition, rule, run_state_machine_as_test

from manhattan.client import AlreadyExists, NotFound, Timeout, Unavailable
from manhattan.node.local_cluster import LocalCluster
from manhattan.proto.v1 import admin_pb2, admin_pb2_grpc

from tests.metadata.test_metadata_log import eventually, majority_seen, only

NAMES = st.sampled_from(["t-a", "t-b", "t-c"])
DATASETS = st.sampled_from(["d-x", "d-y"])
NODES = st.sampled_from([1, 2, 3])


class MetadataMachine(RuleBasedStateMachine):
    """Admin commands and pauses; the model keeps what must (and may) exist."""

    cluster: LocalCluster

    def __init__(self) -> None:
        super().__init__()
        self.paused: int | None = None
        self.tenants: set[str] = set()
        self.maybe_tenants: set[str] = set()  # outcome unknown (Timeout)
        # (tenant, name): dataset names are per tenant
        self.datasets: set[tuple[str, str]] = set()
        self.maybe_datasets: set[tuple[str, str]] = set()
        self.prefix = f"m{os.urandom(3).hex()}"  # examples share the cluster, not names

    def _via(self, node_id: int) -> int:
        return node_id if node_id != self.paused else node_id % 3 + 1

    def _admin(self, node_id: int):
        return only(self.cluster.node(self._via(node_id)).address, self.cluster.admin_token)

    @rule(node=NODES)
    @precondition(lambda self: self.paused is None)
    def pause(self, node: int) -> None:
        os.kill(self.cluster.node(node).pid, signal.SIGSTOP)
        self.paused = node

    @rule()
    @precondition(lambda self: self.paused is not None)
    def resume(self) -> None:
        os.kill(self.cluster.node(self.paused).pid, signal.SIGCONT)
        self.paused = None

    @rule(name=NAMES, node=NODES)
    def create_tenant(self, name: str, node: int) -> None:
        name = f"{self.prefix}-{name}"
        with self._admin(node) as client:
            try:
                client.admin.create_tenant(name, timeout=8)
            except AlreadyExists:
                assert name in self.tenants | self.maybe_tenants
                self.tenants.add(name)
                return
            except (Unavailable, Timeout):
                self.maybe_tenants.add(name)
                return
        assert name not in self.tenants, f"{name} created twice"
        self.tenants.add(name)

    @rule(dataset=DATASETS, name=NAMES, node=NODES)
    def create_dataset(self, dataset: str, name: str, node: int) -> None:
        dataset, name = f"{self.prefix}-{dataset}", f"{self.prefix}-{name}"
        key = (name, dataset)
        with self._admin(node) as client:
            try:
                client.admin.create_dataset(dataset, tenant=name, replication_factor=1,
                                            timeout=8)
            except AlreadyExists:
                assert key in self.datasets or key in self.maybe_datasets
                return
            except NotFound:
                assert name not in self.tenants
                return
            except (Unavailable, Timeout):
                self.maybe_datasets.add(key)
                return
        assert key not in self.datasets, f"{key} created twice"
        self.datasets.add(key)
        self.tenants.add(name)  # it exists for sure now

    @rule(dataset=DATASETS, name=NAMES, node=NODES)
    def drop_dataset(self, dataset: str, name: str, node: int) -> None:
        dataset, name = f"{self.prefix}-{dataset}", f"{self.prefix}-{name}"
        key = (name, dataset)
        with self._admin(node) as client:
            try:
                client.admin.drop_dataset(dataset, tenant=name, timeout=8)
            except NotFound:
                assert key not in self.datasets
                return
            except (Unavailable, Timeout):
                self.maybe_datasets.add(key)
                self.datasets.discard(key)
                return
        self.datasets.discard(key)
        self.maybe_datasets.discard(key)

    def _view(self, address: str) -> tuple[set[str], set[tuple[str, str]]]:
        """One node's tenants and datasets; asked again (bounded) while a leader election
        that the last resume set off makes the admin read's barrier answer Unavailable."""
        deadline = time.monotonic() + 30
        while True:
            try:
                with only(address, self.cluster.admin_token) as client:
                    tenants = {t.name for t in client.admin.list_tenants(timeout=10)
                               if t.name.startswith(self.prefix)}
                    datasets = {(d.tenant, d.name)
                                for d in client.admin.list_datasets(timeout=10)
                                if d.name.startswith(self.prefix)}
                    return tenants, datasets
            except (Unavailable, Timeout):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)

    def teardown(self) -> None:
        if self.paused is not None:
            self.resume()
        views = []
        for node in self.cluster.nodes:
            assert eventually(lambda: majority_seen(self.cluster, node.node_id), 30)
        for node in self.cluster.nodes:
            views.append(self._view(node.address))
        assert all(view == views[0] for view in views), views  # one history everywhere
        tenants, datasets = views[0]
        assert self.tenants <= tenants <= self.tenants | self.maybe_tenants
        assert self.datasets <= datasets <= self.datasets | self.maybe_datasets
        def applied() -> set[int]:
            # Raw NodeInfo: the SDK's own topology refresh would read ListDatasets, itself
            # a barrier through the log, and move the count it is measuring.
            metadata = (("authorization", f"Bearer {self.cluster.admin_token}"),)
            counts = set()
            for node in self.cluster.nodes:
                with grpc.insecure_channel(node.address) as channel:
                    info = admin_pb2_grpc.AdminStub(channel).NodeInfo(
                        admin_pb2.NodeInfoRequest(), metadata=metadata, timeout=5)
                counts.add(info.metadata.applied_commands)
            return counts
        # With nothing more submitted, every node reaches the same position of the log.
        assert eventually(lambda: len(applied()) == 1, 10), applied()

@pytest.mark.slow
def test_every_node_applies_one_metadata_history_under_random_pauses(tmp_path):
    config = {"cluster": {"ping_interval_s": 0.2}, "repair": {"enabled": False},
              "metadata": {"connection_timeout_s": 1.0, "election_timeout_s": 0.3}}
    local = LocalCluster(tmp_path / "c", nodes=3, base_port=None, extra_config=config).start()
    try:
        for node in local.nodes:
            assert eventually(lambda: majority_seen(local, node.node_id))
        MetadataMachine.cluster = local
        run_state_machine_as_test(MetadataMachine, settings=settings(
            max_examples=3, stateful_step_count=12, deadline=None,
            phases=[Phase.explicit, Phase.generate],  # shrinking real clusters takes hours
            suppress_health_check=list(HealthCheck)))
    finally:
        for node in local.nodes:
            if node.pid:
                os.kill(node.pid, signal.SIGCONT)
        local.stop()
