"""The metadata log against real 3-node clusters: majority or Unavailable, revocation,
staleness, one winner among concurrent creates, status."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from manhattan.client import (
    AlreadyExists, Client, NotFound, RetryPolicy, RoundRobinPolicy, Timeout, Unauthenticated,
    Unavailable,
)
from manhattan.node.local_cluster import LocalCluster
from manhattan.proto.v1 import admin_pb2, admin_pb2_grpc

from tests.clusters import metadata_answers, paused


def only(endpoint: str, token: str, **kwargs) -> Client:
    """A client that talks to exactly one node."""
    kwargs.setdefault("retry", RetryPolicy(max_attempts=3, max_backoff=0.2))
    return Client([endpoint], token=token, routing=RoundRobinPolicy([endpoint]), **kwargs)


def eventually(check, timeout: float = 20.0, interval: float = 0.1) -> bool:
    """Poll ``check`` until it holds or ``timeout`` passes (bounded)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return True
        except (Unavailable, Timeout):
            pass
        time.sleep(interval)
    return bool(check())


def majority_seen(local: LocalCluster, node_id: int) -> bool:
    """Whether node ``node_id`` sees a metadata leader and majority."""
    with only(local.node(node_id).address, local.admin_token) as client:
        md = client.admin.node_info(timeout=2).metadata
    return md is not None and md.has_majority


@pytest.fixture(scope="module")
def cluster(tmp_path_factory) -> Iterator[LocalCluster]:
    """Three nodes; a node cut off from the majority refuses tenant calls after 3 s."""
    config = {"cluster": {"ping_interval_s": 0.2, "replica_timeout_s": 1.0,
                          "hint_replay_interval_s": 0.3},
              "repair": {"enabled": False},
              "metadata": {"max_staleness_s": 3.0, "connection_timeout_s": 1.0,
                           "election_timeout_s": 0.3}}
    local = LocalCluster(tmp_path_factory.mktemp("mdlog"), nodes=3, base_port=None,
                         extra_config=config).start()
    try:
        for node in local.nodes:
            assert eventually(lambda: majority_seen(local, node.node_id)), node.log_tail()
        yield local
    finally:
        local.stop()


def test_admin_changes_through_one_node_are_read_linearizably_through_every_other(cluster):
    with only(cluster.node(1).address, cluster.admin_token) as first:
        first.admin.create_tenant("lin")
        first.admin.create_dataset("lin-events", tenant="lin", replication_factor=3)
    for node in cluster.nodes:  # no waiting: an admin read goes through the log first
        with only(node.address, cluster.admin_token) as client:
            assert "lin" in [t.name for t in client.admin.list_tenants()]
            assert [d.name for d in client.admin.list_datasets(tenant="lin")] == ["lin-events"]


def test_minority_answers_unavailable_within_its_deadline_and_nothing_happens(cluster):
    lone = cluster.node(3)
    with only(cluster.node(1).address, cluster.admin_token) as admin:
        admin.admin.create_tenant("before-pause")
    with paused(cluster.node(1), cluster.node(2)):
        # no retries: the node's own answer is under test, not the SDK's last error
        with only(lone.address, cluster.admin_token,
                  retry=RetryPolicy(max_attempts=1)) as client:
            assert eventually(lambda: not client.admin.node_info(timeout=2).metadata.has_majority,
                              timeout=10)
            attempts = [
                lambda: client.admin.create_tenant("minority", timeout=2.0),
                lambda: client.admin.create_dataset("minority-ds", tenant="before-pause",
                                                    timeout=2.0),
                lambda: client.admin.create_token("before-pause", timeout=2.0),
                lambda: client.admin.list_tenants(timeout=2.0),
            ]
            for attempt in attempts:
                started = time.monotonic()
                with pytest.raises(Unavailable, match="no metadata majority"):
                    attempt()
                assert time.monotonic() - started < 3.0
    for node in cluster.nodes:
        assert eventually(lambda: majority_seen(cluster, node.node_id))
    time.sleep(1.0)  # anything in flight would have committed by now
    for node in cluster.nodes:
        with only(node.address, cluster.admin_token) as client:
            names = [t.name for t in client.admin.list_tenants(timeout=10)]
            assert "minority" not in names and "before-pause" in names
            assert [d.name for d in client.admin.list_datasets(tenant="before-pause")] == []
            assert len(client.admin.list_tokens(tenant="before-pause")) == 1


def _metadata_leader(local: LocalCluster) -> int:
    """The node id of the metadata leader, as node 1 sees it (once there is one)."""
    with only(local.node(1).address, local.admin_token) as client:
        assert eventually(lambda: metadata_answers(client), timeout=30)
        leader = client.admin.node_info().metadata.leader
    return local.metadata_addresses.index(leader) + 1


def test_an_admin_change_sent_as_its_leader_stalls_commits_once_without_an_error(cluster):
    # The call reaches the leader as it stalls: the follower's copy is lost with the
    # leader's office. It is sent again under its id once a new leader is elected, and
    # applied once (a stalled leader that took it cannot commit it, a new one can).
    leader = _metadata_leader(cluster)
    follower = cluster.node(1 if leader != 1 else 2)
    with only(follower.address, cluster.admin_token,
              retry=RetryPolicy(max_attempts=1), timeout=15) as client:
        with paused(cluster.node(leader)):
            client.admin.create_tenant("across-elections")
            client.admin.create_dataset("across-ds", tenant="across-elections",
                                        replication_factor=3)
            client.admin.create_token("across-elections")
    for node in cluster.nodes:
        assert eventually(lambda: majority_seen(cluster, node.node_id))
    for node in cluster.nodes:
        with only(node.address, cluster.admin_token) as reader:
            assert eventually(lambda: metadata_answers(reader), timeout=30)
            names = [t.name for t in reader.admin.list_tenants(timeout=10)]
            assert names.count("across-elections") == 1
            assert [d.name for d in reader.admin.list_datasets(
                tenant="across-elections")] == ["across-ds"]
            assert len(reader.admin.list_tokens(tenant="across-elections")) == 2


def test_the_sdks_dataset_listing_for_routing_costs_no_log_round_trip(cluster):
    """An admin listing is linearizable (a barrier through the log), so on a minority it
    answers Unavailable; the SDK's topology refresh asks for the node's applied copy
    (``local``), which a minority node still serves: no barrier per refresh."""
    with only(cluster.node(1).address, cluster.admin_token) as admin:
        admin.admin.create_tenant("routing")
        admin.admin.create_dataset("routed", tenant="routing", replication_factor=2)
    lone = cluster.node(3)
    header = (("authorization", f"Bearer {cluster.admin_token}"),)

    def local_listing(stub: admin_pb2_grpc.AdminStub) -> set[tuple[str, str, int]]:
        local = stub.ListDatasets(admin_pb2.ListDatasetsRequest(local=True), metadata=header,
                                  timeout=2)
        return {(d.tenant, d.name, d.replication_factor) for d in local.datasets}

    with grpc.insecure_channel(lone.address) as channel:  # node 3 applied the creation
        assert eventually(lambda: ("routing", "routed", 2)
                          in local_listing(admin_pb2_grpc.AdminStub(channel)))
    with paused(cluster.node(1), cluster.node(2)), grpc.insecure_channel(lone.address) as channel:
        stub = admin_pb2_grpc.AdminStub(channel)
        with only(lone.address, cluster.admin_token,
                  retry=RetryPolicy(max_attempts=1)) as client:
            assert eventually(lambda: not client.admin.node_info(timeout=2).metadata.has_majority,
                              timeout=10)
        assert ("routing", "routed", 2) in local_listing(stub)  # still served, cut off
        with pytest.raises(grpc.RpcError) as linearized:
            stub.ListDatasets(admin_pb2.ListDatasetsRequest(), metadata=header, timeout=2)
        assert linearized.value.code() in (grpc.StatusCode.UNAVAILABLE,
                                           grpc.StatusCode.DEADLINE_EXCEEDED)
    for node in cluster.nodes:
        assert eventually(lambda: majority_seen(cluster, node.node_id))


def test_concurrent_creates_of_one_name_on_two_nodes_have_one_winner(cluster):
    outcomes: list[object] = []

    def create(node_id: int) -> None:
        with only(cluster.node(node_id).address, cluster.admin_token) as client:
            try:
                outcomes.append(client.admin.create_tenant("contested", timeout=10))
            except AlreadyExists as exc:
                outcomes.append(exc)

    threads = [threading.Thread(target=create, args=(i,)) for i in (1, 2, 3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    tokens = [o for o in outcomes if isinstance(o, str)]
    assert len(outcomes) == 3 and len(tokens) == 1
    for node in cluster.nodes:  # the winner's token works everywhere, the tenant is one
        with only(node.address, tokens[0]) as tenant:
            assert eventually(lambda: tenant.admin.list_datasets() == [])


def test_a_revoked_token_is_refused_by_every_node_within_a_second(cluster):
    with only(cluster.node(1).address, cluster.admin_token) as admin:
        token = admin.admin.create_tenant("revoked")
        admin.admin.create_dataset("revoked-ds", tenant="revoked", replication_factor=3)
        token_id = admin.admin.list_tokens(tenant="revoked")[0].token_id
    for node in cluster.nodes:
        with only(node.address, token) as tenant:
            tenant.dataset("revoked-ds").put("k", "", "v")
    with only(cluster.node(2).address, cluster.admin_token) as admin:
        admin.admin.revoke_token(token_id)
    revoked_at = time.monotonic()
    for node in cluster.nodes:
        with only(node.address, token) as tenant:
            assert eventually(lambda: _refused(tenant, "revoked-ds"), timeout=1.0,
                              interval=0.05), f"node {node.node_id} still accepts the token"
    assert time.monotonic() - revoked_at < 1.5


def _refused(client: Client, dataset: str) -> bool:
    try:
        client.dataset(dataset).get("k", "", timeout=1)
    except Unauthenticated:
        return True
    return False


def test_a_node_cut_off_longer_than_max_staleness_refuses_tenant_calls(cluster):
    with only(cluster.node(1).address, cluster.admin_token) as admin:
        token = admin.admin.create_tenant("stale")
        admin.admin.create_dataset("stale-ds", tenant="stale", replication_factor=1)
    with only(cluster.node(3).address, token) as tenant:
        tenant.dataset("stale-ds").get("k", "")  # served while in contact
        with paused(cluster.node(1), cluster.node(2)):
            cut_at = time.monotonic()
            with pytest.raises(Unavailable, match="metadata stale"):
                deadline = time.monotonic() + 15
                while time.monotonic() < deadline:  # bounded: refused after ~3 s + detection
                    try:
                        tenant.dataset("stale-ds").get("k", "", timeout=1)
                    except (Timeout, NotFound):
                        pass
                    except Unavailable as exc:
                        if "metadata stale" in str(exc):
                            raise
                    time.sleep(0.2)
            # not before the bound, less the freshness it had from its last barrier
            # (taken every max_staleness_s / 4 = 0.75 s, so at most that long before the cut)
            assert time.monotonic() - cut_at >= 3.0 - 0.75
            with only(cluster.node(3).address, cluster.admin_token) as admin:
                md = admin.admin.node_info(timeout=2).metadata
                assert md.stale and not md.has_majority
            # health follows within one tick of the node's staleness check (0.1 s)
            assert eventually(lambda: _data_health(cluster.node(3).address) == "NOT_SERVING",
                              timeout=2)
        assert eventually(lambda: tenant.dataset("stale-ds").get("k", "", timeout=1) is None)
        assert eventually(lambda: _data_health(cluster.node(3).address) == "SERVING")


def _data_health(address: str) -> str:
    """The health status the node reports for its Data service."""
    with grpc.insecure_channel(address) as channel:
        reply = health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(service="manhattan.v1.Data"), timeout=2)
    return health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)


def test_metadata_status_names_one_leader_and_no_lag_at_rest(cluster):
    roles, commits = [], []
    for node in cluster.nodes:
        with only(node.address, cluster.admin_token) as client:
            # a barrier: this node has applied the commit index (once the election that
            # an earlier test's pause may have set off is over)
            assert eventually(lambda: metadata_answers(client), timeout=60), node.node_id
            md = client.admin.node_info().metadata
            roles.append(md.role)
            commits.append((md.commit_index, md.applied_index))
            assert len(md.voters) == 3 and not md.stale
    assert roles.count("leader") == 1 and roles.count("follower") == 2
    assert all(applied >= commit - 2 for commit, applied in commits)


def test_a_name_dropped_while_a_node_slept_and_reused_never_shows_old_rows(cluster):
    from manhattan.client import ClusterOps, Consistency
    with only(cluster.node(1).address, cluster.admin_token) as admin:
        owner = admin.admin.create_tenant("first-owner")
        first_info = admin.admin.create_dataset("reused", tenant="first-owner",
                                                replication_factor=3)
        with only(cluster.node(1).address, owner) as first:
            old = first.dataset("reused")
            assert eventually(lambda: old.put("p", "a", "old", consistency=Consistency.ALL)
                              is not None)
            with paused(cluster.node(3)):
                old.put("p", "b", "old-hinted", consistency=Consistency.QUORUM)  # a hint for 3
                time.sleep(1.5)  # past replica_timeout_s: node 1 holds it as a hint
                admin.admin.drop_dataset("reused")
                second = admin.admin.create_tenant("second-owner")
                second_info = admin.admin.create_dataset("reused", tenant="second-owner",
                                                         replication_factor=3)
                # The wire names each creation apart: nodes key storage by it.
                assert first_info.incarnation and second_info.incarnation
                assert second_info.storage_id != first_info.storage_id
                assert {d.storage_id for d in admin.admin.list_datasets()
                        if d.name == "reused"} == {second_info.storage_id}
                with only(cluster.node(1).address, second) as fresh:
                    fresh.dataset("reused").put("p", "c", "new", consistency=Consistency.QUORUM)
    with only(cluster.node(3).address, second) as returning:
        seen: set[bytes] = set()
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:  # bounded: hints replay, the log catches up
            for consistency in (Consistency.ONE, Consistency.ALL):
                try:
                    for lkey in ("a", "b", "c"):
                        record = returning.dataset("reused").get("p", lkey,
                                                                 consistency=consistency,
                                                                 timeout=1)
                        if record is not None:
                            seen.add(record.value)
                    seen |= {r.value for r in returning.dataset("reused").scan(
                        "p", consistency=consistency, timeout=1)}
                except (Unavailable, Timeout, NotFound, Unauthenticated):
                    pass
            time.sleep(0.1)
        with only(cluster.node(3).address, cluster.admin_token) as admin:
            for node in cluster.nodes:  # anti-entropy: nothing of the old owner to copy
                for _ in ClusterOps(admin).repair_node(node.address, "reused"):
                    pass
        for node in cluster.nodes:
            with only(node.address, second) as reader:
                seen |= {r.value for r in reader.dataset("reused").scan(
                    "p", consistency=Consistency.ALL)}
        assert seen <= {b"new"} and b"new" in seen
