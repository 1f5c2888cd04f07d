"""A revoke issued through a node whose clock runs behind takes effect on every node.

Before the metadata log, catalog items were merged by timestamp: a revoke stamped by a
slow clock lower than the token's issue was ignored by every other node while the admin
was told it succeeded. In the log, commands take effect in log order, whatever their
stamps; this drives the case with real processes and a real slow clock.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from manhattan.client import Client, Unauthenticated
from manhattan.node.local_cluster import LocalCluster

from tests.clusters import eventually, only, wait_until_up

SLOW_NODE, SLOW_BY_MS = 2, -3_000  # behind, within clock.max_drift_ms (5 s) of the others


@pytest.fixture(scope="module")
def slow_cluster(tmp_path_factory) -> Iterator[LocalCluster]:
    root = tmp_path_factory.mktemp("slow-clock")
    clock = root / f"clock{SLOW_NODE}"
    clock.write_text(str(SLOW_BY_MS))
    local = LocalCluster(root, nodes=3, base_port=None,
                         extra_config={"repair": {"enabled": False}},
                         node_config={SLOW_NODE: {"clock": {"offset_file": str(clock)}}})
    local.start()
    try:
        for node in local.nodes:
            wait_until_up(local, node.node_id)
        yield local
    finally:
        local.stop()


def _refused(client: Client, dataset: str) -> bool:
    try:
        client.dataset(dataset).get("k", "", timeout=2)
    except Unauthenticated:
        return True
    return False


def test_a_revoke_through_a_node_with_a_slow_clock_is_refused_by_every_node(
        slow_cluster: LocalCluster) -> None:
    normal = slow_cluster.node(1).address
    with only(normal, slow_cluster.admin_token) as admin:  # issued where the clock is right
        token = admin.admin.create_tenant("slow-revoke", timeout=30)
        admin.admin.create_dataset("events", tenant="slow-revoke", replication_factor=3,
                                   timeout=30)
        token_id = admin.admin.list_tokens(tenant="slow-revoke")[0].token_id
    for node in slow_cluster.nodes:  # the token works everywhere first
        with only(node.address, token) as tenant:
            tenant.dataset("events").put("k", "", "v", timeout=30)
    with only(slow_cluster.node(SLOW_NODE).address, slow_cluster.admin_token) as admin:
        admin.admin.revoke_token(token_id, timeout=30)  # stamped 3 s behind the issue
        assert all(t.token_id != token_id for t in admin.admin.list_tokens(tenant="slow-revoke"))
    for node in slow_cluster.nodes:
        with only(node.address, token) as tenant:
            assert eventually(lambda: _refused(tenant, "events"), timeout=10), \
                f"node {node.node_id} still accepts a token revoked through the slow node"
    # and a new token issued through the slow node works everywhere (nothing is ordered
    # by its stamps either way)
    with only(slow_cluster.node(SLOW_NODE).address, slow_cluster.admin_token) as admin:
        fresh, _ = admin.admin.create_token("slow-revoke", timeout=30)
    for node in slow_cluster.nodes:
        with only(node.address, fresh) as tenant:
            assert tenant.dataset("events").get("k", "", timeout=30).value == b"v"
