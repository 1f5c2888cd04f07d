"""Rate limits, quotas, scoped tokens, rotation, revocation and the audit log on a real node."""

from __future__ import annotations

import json
import os

import pytest
from click.testing import CliRunner

from manhattan.cli.main import cli
from manhattan.client import (
    Client, Limits, PermissionDenied, Put, QuotaExceeded, RetryPolicy, Unauthenticated,
)
from manhattan.client import Consistency, Durability, RetryDecision
from manhattan.client.operations import put
from manhattan.errors import InvalidRequest
from tests.conftest import make_tenant


def no_retry(handle, token=None) -> Client:
    """A client of the tenant that makes one attempt per call."""
    return Client([handle.endpoint], token=token or handle.token,
                  retry=RetryPolicy(max_attempts=1))


def test_over_the_ops_limit_is_resource_exhausted_with_a_retry_after(admin, node):
    handle = make_tenant(admin, node.address)
    admin.admin.set_limits(tenant=handle.name, ops_per_second=5, burst_seconds=1)
    with no_retry(handle) as client:
        ds = client.dataset(handle.dataset)
        served = 0
        with pytest.raises(QuotaExceeded) as caught:
            for i in range(50):
                ds.put("p", str(i), b"v")
                served += 1
    assert 1 <= served <= 6                      # the burst (5), plus what refilled meanwhile
    assert caught.value.retry_after is not None and 0 < caught.value.retry_after <= 1.0
    assert "ops/s limit 5" in caught.value.message


def test_a_refused_write_stores_nothing(admin, node):
    handle = make_tenant(admin, node.address)
    admin.admin.set_limits(tenant=handle.name, ops_per_second=1, burst_seconds=1)
    with no_retry(handle) as client:
        ds = client.dataset(handle.dataset)
        ds.put("p", "first", b"v")
        with pytest.raises(QuotaExceeded):
            ds.put("p", "refused", b"v")
    assert admin.dataset(handle.dataset).get("p", "refused") is None
    assert admin.dataset(handle.dataset).get("p", "first") is not None


def test_the_byte_rate_counts_values(admin, node):
    handle = make_tenant(admin, node.address)
    admin.admin.set_limits(dataset=handle.dataset, bytes_per_second=10_000, burst_seconds=1)
    with no_retry(handle) as client:
        ds = client.dataset(handle.dataset)
        ds.put("p", "a", b"x" * 9_000)
        with pytest.raises(QuotaExceeded, match="bytes/s"):
            ds.put("p", "b", b"x" * 9_000)
        ds.put("p", "c", b"x")                     # what is left still serves small writes


def test_sdk_retries_wait_at_least_the_servers_retry_after(admin, node, monkeypatch):
    handle = make_tenant(admin, node.address)
    admin.admin.set_limits(tenant=handle.name, ops_per_second=2, burst_seconds=1)
    waits: list[float] = []
    hints: list[float] = []
    real_decide = RetryPolicy.on_error

    def decide(self, op, error, attempts, remaining):
        decision = real_decide(self, op, error, attempts, remaining)
        if isinstance(error, QuotaExceeded) and decision.retry:
            hints.append(error.retry_after or 0.0)
            waits.append(decision.delay)
        return decision

    monkeypatch.setattr(RetryPolicy, "on_error", decide)
    with handle.client(timeout=10) as client:
        ds = client.dataset(handle.dataset)
        for i in range(5):                         # past the burst: every call must wait
            ds.put("p", str(i), b"v")
    assert hints and all(h > 0 for h in hints)
    assert all(w >= h for w, h in zip(waits, hints))


def test_retry_after_longer_than_the_deadline_stops_at_once():
    error = QuotaExceeded("slow down", details={"retry-after": "30"})
    op = put("ds", "p", "k", "v", None, Consistency.DEFAULT, Durability.DEFAULT)
    policy = RetryPolicy()
    assert not policy.on_error(op, error, 1, remaining=1.0).retry
    assert policy.on_error(op, error, 1, remaining=60.0) == RetryDecision(True, 30.0)


def test_storage_quota_refuses_growth_and_still_allows_deletes(admin, node):
    """The size is RocksDB's estimate (memtables count in 1 MiB arena blocks), so the
    quota holds to within about a MiB: 4 MiB here, written 64 KiB at a time. The values
    are random: a repeated byte compresses to almost nothing once flushed, and how much
    had been flushed when the quota was met would decide the result."""
    handle = make_tenant(admin, node.address)
    quota, value = 4 * 1024 * 1024, os.urandom(65536)
    admin.admin.set_limits(dataset=handle.dataset, storage_quota_bytes=quota)
    with no_retry(handle) as client:
        ds = client.dataset(handle.dataset)
        written = 0
        with pytest.raises(QuotaExceeded, match="storage quota"):
            for i in range(200):
                ds.put("p", f"{i:04}", value)
                written += 1
        assert quota // 2 <= written * len(value) <= quota + 2 * 1024 * 1024
        ds.delete("p", "0000")


def test_read_only_token_reads_but_cannot_write(admin, node):
    handle = make_tenant(admin, node.address)
    with handle.client() as writer:
        writer.dataset(handle.dataset).put("p", "l", b"v")
    token, info = admin.admin.create_token(handle.name, read_only=True)
    assert info.read_only and info.tenant == handle.name
    with no_retry(handle, token) as client:
        ds = client.dataset(handle.dataset)
        assert ds.get("p", "l").value == b"v"
        assert len(ds.scan("p")) == 1
        for write in (lambda: ds.put("p", "x", b"v"), lambda: ds.delete("p", "l"),
                      lambda: ds.put_many([Put("p", "y", b"v")])):
            with pytest.raises(PermissionDenied, match="read-only"):
                write()
    assert admin.dataset(handle.dataset).get("p", "l").value == b"v"
    assert admin.dataset(handle.dataset).get("p", "x") is None


def test_dataset_scoped_token_reaches_only_its_datasets(admin, node):
    handle = make_tenant(admin, node.address)
    other = f"{handle.dataset}-other"
    admin.admin.create_dataset(other, tenant=handle.name)
    token, info = admin.admin.create_token(handle.name, datasets=[handle.dataset])
    assert info.datasets == [handle.dataset]
    with no_retry(handle, token) as client:
        client.dataset(handle.dataset).put("p", "l", b"v")
        with pytest.raises(PermissionDenied, match="scoped"):
            client.dataset(other).get("p", "l")
        assert [d.name for d in client.admin.list_datasets()] == [handle.dataset]


def test_token_for_another_tenants_dataset_is_refused(admin, node):
    one = make_tenant(admin, node.address)
    two = make_tenant(admin, node.address)
    with pytest.raises(InvalidRequest, match="has no dataset") as refused:
        admin.admin.create_token(one.name, datasets=[two.dataset])
    assert two.name not in str(refused.value)  # no error names another tenant


def test_revoked_token_is_refused_and_rotation_swaps_tokens(admin, node):
    handle = make_tenant(admin, node.address)
    token, info = admin.admin.create_token(handle.name)
    with no_retry(handle, token) as client:
        client.dataset(handle.dataset).put("p", "l", b"v")
        admin.admin.revoke_token(info.token_id)
        with pytest.raises(Unauthenticated):
            client.dataset(handle.dataset).get("p", "l")
    token2, info2 = admin.admin.create_token(handle.name, read_only=True)
    token3, info3 = admin.admin.rotate_token(info2.token_id)
    assert info3.read_only and info3.token_id != info2.token_id
    with no_retry(handle, token2) as old, no_retry(handle, token3) as new:
        with pytest.raises(Unauthenticated):
            old.dataset(handle.dataset).get("p", "l")
        assert new.dataset(handle.dataset).get("p", "l").value == b"v"
    ids = {t.token_id for t in admin.admin.list_tokens(handle.name)}
    assert info3.token_id in ids and info2.token_id not in ids and info.token_id not in ids


def test_rotation_with_grace_keeps_the_old_token_until_it_expires(admin, node):
    handle = make_tenant(admin, node.address)
    token, info = admin.admin.create_token(handle.name)
    _, new_info = admin.admin.rotate_token(info.token_id, grace=3600)
    with no_retry(handle, token) as old:
        old.dataset(handle.dataset).put("p", "l", b"v")   # still inside its grace
    [kept] = [t for t in admin.admin.list_tokens(handle.name) if t.token_id == info.token_id]
    assert kept.expires_at_ms > 0 and new_info.expires_at_ms == 0


def test_tenant_tokens_cannot_make_admin_calls(admin, node):
    handle = make_tenant(admin, node.address)
    with no_retry(handle) as client:
        for call in (lambda: client.admin.create_token(handle.name),
                     lambda: client.admin.set_limits(tenant=handle.name, ops_per_second=1e6),
                     lambda: client.admin.list_tokens(),
                     lambda: client.admin.audit_log()):
            with pytest.raises(PermissionDenied):
                call()


def test_admin_token_cannot_be_revoked_through_the_api(admin, node):
    admin_ids = [t.token_id for t in admin.admin.list_tokens()]
    token_id = node.admin_token().split("_")[1]
    assert token_id not in admin_ids               # listing shows tenant tokens only
    with pytest.raises(InvalidRequest, match="configuration"):
        admin.admin.revoke_token(token_id)


def test_admin_actions_are_audited_with_the_actor(admin, node):
    handle = make_tenant(admin, node.address)
    _, info = admin.admin.create_token(handle.name)
    admin.admin.revoke_token(info.token_id)
    admin.admin.set_limits(tenant=handle.name, ops_per_second=100)
    entries = admin.admin.audit_log(limit=1000)
    actions = {(e.action, e.target) for e in entries}
    assert ("create_tenant", handle.name) in actions
    assert ("create_dataset", handle.dataset) in actions
    assert ("create_token", info.token_id) in actions
    assert ("revoke_token", info.token_id) in actions
    assert ("set_limits", f"tenant:{handle.name}") in actions
    admin_id = node.admin_token().split("_")[1]
    assert all(e.actor == admin_id for e in entries)
    assert [e.at_ms for e in entries] == sorted((e.at_ms for e in entries), reverse=True)


def test_describe_tenant_shows_limits_and_tokens(admin, node):
    handle = make_tenant(admin, node.address)
    admin.admin.set_limits(tenant=handle.name, ops_per_second=7, storage_quota_bytes=10**6)
    admin.admin.set_limits(tenant=handle.name, bytes_per_second=100)   # others stay
    admin.admin.set_limits(dataset=handle.dataset, ops_per_second=3)
    described = admin.admin.describe_tenant(handle.name)
    assert described.limits == Limits(7, 100, 10**6, 1.0)
    assert described.dataset_limits[handle.dataset].ops_per_second == 3
    assert len(described.tokens) == 1


@pytest.mark.parametrize("kwargs", [
    {"tenant": "x", "dataset": "y", "ops_per_second": -1}, {"ops_per_second": 1},
    {"tenant": "t", "ops_per_second": -1}, {"tenant": "t", "burst_seconds": float("inf")},
])
def test_bad_limit_requests_are_refused_by_the_sdk(admin, kwargs):
    with pytest.raises(InvalidRequest):
        admin.admin.set_limits(**kwargs)


def test_limits_for_unknown_tenants_or_datasets_are_not_found(admin):
    from manhattan.client import NotFound
    with pytest.raises(NotFound):
        admin.admin.set_limits(tenant="no-such-tenant", ops_per_second=1)
    with pytest.raises(NotFound):
        admin.admin.set_limits(dataset="no-such-dataset", ops_per_second=1)


# -- the CLI --------------------------------------------------------------------


@pytest.fixture
def run(node, monkeypatch, tmp_path):
    """The CLI with the admin token, from an empty directory."""
    for var in ("MANHATTAN_ENDPOINTS", "MANHATTAN_TOKEN", "MANHATTAN_CLUSTER_FILE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()

    def invoke(*args: str):
        result = runner.invoke(cli, ["--endpoints", node.address, "--token", node.admin_token(),
                                     *args])
        return result

    return invoke


def test_cli_sets_and_shows_limits_and_manages_tokens(run, admin, node):
    handle = make_tenant(admin, node.address)
    result = run("tenant", "limits", handle.name, "--ops-per-second", "50",
                 "--storage-quota", "1000000", "-o", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)[0]["ops_per_second"] == 50
    assert run("tenant", "limits", handle.name).exit_code != 0      # nothing to set
    result = run("token", "create", handle.name, "--read-only", "--dataset", handle.dataset,
                 "-o", "json")
    assert result.exit_code == 0, result.output
    created = json.loads(result.output)[0]
    assert created["token"].startswith("mh_") and created["read_only"] is True
    shown = json.loads(run("tenant", "show", handle.name, "-o", "json").output)[0]
    assert shown["limits"][0]["ops_per_second"] == 50
    assert shown["limits"][0]["storage_quota_bytes"] == 1_000_000
    assert created["token_id"] in {t["token_id"] for t in shown["tokens"]}
    result = run("token", "rotate", created["token_id"], "-o", "json")
    assert result.exit_code == 0, result.output
    rotated = json.loads(result.output)[0]
    listed = json.loads(run("token", "list", "--tenant", handle.name, "-o", "json").output)
    assert rotated["token_id"] in {t["token_id"] for t in listed}
    assert run("token", "revoke", rotated["token_id"]).exit_code == 0
    result = run("token", "revoke", rotated["token_id"])
    assert result.exit_code != 0 and "NotFound" in result.output
    audit = json.loads(run("audit", "--limit", "500", "-o", "json").output)
    assert {"revoke_token", "rotate_token", "set_limits"} <= {a["action"] for a in audit}


def test_tokens_per_tenant_are_capped_by_configuration(tmp_path):
    from manhattan.node.process import NodeProcess
    with NodeProcess(tmp_path / "data", env={"MANHATTAN_LIMITS_MAX_TOKENS_PER_TENANT": "2"}) \
            as node, Client([node.address], token=node.admin_token()) as admin:
        admin.admin.create_tenant("capped")              # its first token
        admin.admin.create_token("capped")
        with pytest.raises(InvalidRequest, match="max_tokens_per_tenant"):
            admin.admin.create_token("capped")
        assert len(admin.admin.list_tokens("capped")) == 2
