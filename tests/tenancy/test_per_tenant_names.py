"""Dataset names are per tenant, and tenants have incarnations (real 3-node cluster).

Two tenants each own ``events`` and never see each other's rows, through any node, on
any read path; a tenant dropped and created again under its name is a new tenant: the
old tokens are refused everywhere and none of the old rows come back. No error a tenant
gets names another tenant."""

from __future__ import annotations

import uuid

import pytest

from manhattan.client import (
    AlreadyExists, Client, Consistency, InvalidRequest, NotFound, Unauthenticated,
)
from tests.clusters import eventually, metadata_answers, only

PKEYS = [f"user-{i}" for i in range(6)]


def _tenant(admin: Client, prefix: str) -> tuple[str, str]:
    """(name, token) of a fresh tenant."""
    name = f"{prefix}-{uuid.uuid4().hex[:8]}"
    return name, admin.admin.create_tenant(name, timeout=30)


def _applied_everywhere(cluster) -> None:
    """Every node has applied what was committed so far (an admin read through each
    is a barrier): the test is about isolation, not about how fast followers apply."""
    for endpoint in cluster.endpoints:
        with only(endpoint, cluster.admin_token) as client:
            client.admin.list_tenants(timeout=30)


def _fill(endpoint: str, token: str, dataset: str, tag: str) -> None:
    with only(endpoint, token) as client:
        ds = client.dataset(dataset)
        for pkey in PKEYS:
            ds.put(pkey, "row", f"{tag}:{pkey}", consistency=Consistency.ALL)


def _seen(endpoint: str, token: str, dataset: str) -> set[str]:
    """Every value the token sees in ``dataset`` through ``endpoint``: get, scan and
    multi-get, each at ALL (every replica answers)."""
    with only(endpoint, token) as client:
        ds = client.dataset(dataset)
        values = set()
        for pkey in PKEYS:
            record = ds.get(pkey, "row", consistency=Consistency.ALL)
            if record is not None:
                values.add(record.value.decode())
            values |= {r.value.decode() for r in ds.scan(pkey, consistency=Consistency.ALL)}
        found = ds.get_many([(p, "row") for p in PKEYS], consistency=Consistency.ALL)
        values |= {r.value.decode() for r in found if r is not None}
        return values


@pytest.fixture
def admin(cluster):
    with Client(cluster.endpoints, token=cluster.admin_token) as client:
        assert eventually(lambda: metadata_answers(client), timeout=60), "no metadata leader"
        yield client


def test_two_tenants_each_own_events_and_never_see_each_others_rows(cluster, admin):
    (acme, acme_token), (globex, globex_token) = _tenant(admin, "acme"), _tenant(admin, "globex")
    made = [admin.admin.create_dataset("events", tenant=t, replication_factor=3, timeout=30)
            for t in (acme, globex)]
    assert made[0].storage_id != made[1].storage_id  # one column family each
    _applied_everywhere(cluster)
    _fill(cluster.endpoints[0], acme_token, "events", "acme")
    _fill(cluster.endpoints[1], globex_token, "events", "globex")
    for endpoint in cluster.endpoints:
        assert _seen(endpoint, acme_token, "events") == {f"acme:{p}" for p in PKEYS}
        assert _seen(endpoint, globex_token, "events") == {f"globex:{p}" for p in PKEYS}
    # each tenant lists only its own "events"; the admin sees both, told apart
    for token, owner in ((acme_token, acme), (globex_token, globex)):
        with Client(cluster.endpoints, token=token) as client:
            assert [(d.name, d.tenant) for d in client.admin.list_datasets()] == [
                ("events", owner)]
    listed = {(d.tenant, d.storage_id) for d in admin.admin.list_datasets()
              if d.name == "events"}
    assert {(acme, made[0].storage_id), (globex, made[1].storage_id)} <= listed


def test_errors_never_name_another_tenant(cluster, admin):
    (acme, acme_token), (globex, globex_token) = _tenant(admin, "acme"), _tenant(admin, "globex")
    private = f"private-{uuid.uuid4().hex[:8]}"
    admin.admin.create_dataset(private, tenant=acme, replication_factor=3, timeout=30)
    admin.admin.create_dataset("shared", tenant=acme, replication_factor=3, timeout=30)
    admin.admin.create_dataset("shared", tenant=globex, replication_factor=3, timeout=30)
    _applied_everywhere(cluster)
    with only(cluster.endpoints[2], globex_token) as client:
        # a name another tenant owns reads exactly like a name nobody owns
        for name in (private, "nobody-owns-this"):
            with pytest.raises(NotFound) as refused:
                client.dataset(name).get("p", "l")
            assert acme not in str(refused.value)
    with pytest.raises(AlreadyExists) as again:
        admin.admin.create_dataset("shared", tenant=globex, timeout=30)
    assert acme not in str(again.value)
    with pytest.raises(InvalidRequest) as scoped:
        admin.admin.create_token(globex, datasets=[private], timeout=30)
    assert acme not in str(scoped.value)
    # the cluster admin must say whose "shared" it means; tenant/name or --tenant does
    with pytest.raises(InvalidRequest, match="name the tenant"):
        admin.admin.drop_dataset("shared", timeout=30)
    admin.dataset(f"{globex}/shared").put("p", "l", "by-admin", consistency=Consistency.ALL)
    with only(cluster.endpoints[0], globex_token) as client:
        assert client.dataset("shared").get("p", "l").value == b"by-admin"
    with only(cluster.endpoints[0], acme_token) as client:
        assert client.dataset("shared").get("p", "l", consistency=Consistency.ALL) is None
    admin.admin.drop_dataset("shared", tenant=globex, timeout=30)
    assert [d.tenant for d in admin.admin.list_datasets() if d.name == "shared"] == [acme]


def test_a_tenant_dropped_and_created_again_is_a_new_tenant(cluster, admin):
    name, first_token = _tenant(admin, "reborn")
    admin.admin.create_dataset("events", tenant=name, replication_factor=3, timeout=30)
    scoped_token, _ = admin.admin.create_token(name, datasets=["events"], read_only=True,
                                               timeout=30)
    _applied_everywhere(cluster)
    _fill(cluster.endpoints[0], first_token, "events", "old")
    before = next(t for t in admin.admin.list_tenants() if t.name == name)

    dropped = admin.admin.drop_tenant(name, timeout=30)
    assert [d.name for d in dropped] == ["events"]
    assert name not in {t.name for t in admin.admin.list_tenants()}

    second_token = admin.admin.create_tenant(name, timeout=30)
    admin.admin.create_dataset("events", tenant=name, replication_factor=3, timeout=30)
    after = next(t for t in admin.admin.list_tenants() if t.name == name)
    _applied_everywhere(cluster)
    assert after.incarnation and after.incarnation != before.incarnation

    def refused(endpoint: str, token: str) -> bool:
        with Client([endpoint], token=token) as client:
            try:
                client.dataset("events").get(PKEYS[0], "row")
            except Unauthenticated:
                return True
        return False

    for endpoint in cluster.endpoints:  # followers apply the drop within a second or so
        for old in (first_token, scoped_token):
            assert eventually(lambda: refused(endpoint, old), timeout=10), endpoint
        # the new tenant's "events" starts empty on every replica, on every read path
        assert _seen(endpoint, second_token, "events") == set()
    _fill(cluster.endpoints[1], second_token, "events", "new")
    for endpoint in cluster.endpoints:
        assert _seen(endpoint, second_token, "events") == {f"new:{p}" for p in PKEYS}
        for old in (first_token, scoped_token):
            assert refused(endpoint, old)
