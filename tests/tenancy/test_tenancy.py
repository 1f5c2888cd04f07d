"""Tenant isolation, authentication, admin-only calls and token storage."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from rocksdict import AccessType, Options, Rdict

from manhattan.client import (
    Client, Delete, NotFound, PermissionDenied, Put, Unauthenticated,
)
from manhattan.node.process import NodeProcess
from manhattan.tenancy import split_token


@pytest.fixture
def two(node, make_tenant_on):
    """Tenants A and B on the session node; B's dataset holds one record."""
    a, b = make_tenant_on(node), make_tenant_on(node)
    with b.client() as client:
        client.dataset(b.dataset).put(b"secret", b"k", b"b-data")
    return a, b


def assert_b_untouched(b) -> None:
    with b.client() as client:
        ds = client.dataset(b.dataset)
        records = ds.scan(b"secret", limit=100)
        assert [(r.lkey, r.value) for r in records] == [(b"k", b"b-data")]
        assert ds.scan(b"a-was-here", limit=100) == []


def test_a_tenant_never_reaches_another_tenants_dataset_and_is_not_told_it_exists(two) -> None:
    a, b = two
    with a.client() as client:
        foreign = client.dataset(b.dataset)
        calls = {
            "get": lambda: foreign.get(b"secret", b"k"),
            "put": lambda: foreign.put(b"a-was-here", b"k", b"x"),
            "delete": lambda: foreign.delete(b"secret", b"k"),
            "scan": lambda: foreign.scan(b"secret"),
            "scan_page": lambda: foreign.scan_page(b"secret"),
            "get_many": lambda: foreign.get_many([(b"secret", b"k")]),
            "put_many": lambda: foreign.put_many([Put(b"a-was-here", b"k", b"x"),
                                                  Delete(b"secret", b"k")]),
        }
        # Dataset names are per tenant: A owns no dataset of that name, whoever else does,
        # and the refusal never names B (nor hints that the name is taken).
        for name, call in calls.items():
            with pytest.raises(NotFound) as info:
                call()
            assert b.dataset in str(info.value) and b.tenant not in str(info.value), name
        # A's own dataset still works
        client.dataset(a.dataset).put(b"mine", b"k", b"v")
    assert_b_untouched(b)


def test_list_datasets_shows_a_tenant_only_its_own(two, admin: Client) -> None:
    a, b = two
    with a.client() as client:
        assert [d.name for d in client.admin.list_datasets()] == [a.dataset]
        # asking for another tenant's datasets still yields only one's own
        assert [d.name for d in client.admin.list_datasets(b.tenant)] == [a.dataset]
    everything = {d.name for d in admin.admin.list_datasets()}
    assert {a.dataset, b.dataset} <= everything


@pytest.mark.parametrize("token", [
    None, "", "garbage", "mh_", "mh__", "mh_abc_def", "Bearer", "mh_000000000000_secret",
])
def test_missing_or_unknown_token_is_unauthenticated(two, token) -> None:
    a, b = two
    with Client([a.endpoint], token=token) as client:
        for call in (lambda: client.dataset(a.dataset).get(b"p", b"k"),
                     lambda: client.dataset(b.dataset).put(b"a-was-here", b"k", b"x"),
                     lambda: client.admin.list_datasets(),
                     lambda: client.admin.create_tenant("intruder")):
            with pytest.raises(Unauthenticated):
                call()
    assert_b_untouched(b)


def test_right_token_id_with_wrong_secret_is_unauthenticated(two) -> None:
    a, b = two
    token_id, secret = split_token(b.token)
    forged = f"mh_{token_id}_{secret[:-1]}{'A' if secret[-1] != 'A' else 'B'}"
    with Client([b.endpoint], token=forged) as client:
        with pytest.raises(Unauthenticated):
            client.dataset(b.dataset).get(b"secret", b"k")
    # another tenant's id with one's own secret is no better
    a_id, a_secret = split_token(a.token)
    with Client([b.endpoint], token=f"mh_{token_id}_{a_secret}") as client:
        with pytest.raises(Unauthenticated):
            client.dataset(b.dataset).get(b"secret", b"k")
    assert_b_untouched(b)


def test_tenant_token_cannot_make_admin_calls(two, admin: Client) -> None:
    a, b = two
    with a.client() as client:
        calls = {
            "create_tenant": lambda: client.admin.create_tenant("t-made-by-a"),
            "list_tenants": lambda: client.admin.list_tenants(),
            "create_dataset": lambda: client.admin.create_dataset("ds-made-by-a", tenant=a.tenant),
            "drop own dataset": lambda: client.admin.drop_dataset(a.dataset),
            "drop other dataset": lambda: client.admin.drop_dataset(b.dataset),
            "node_info": lambda: client.admin.node_info(),
        }
        for name, call in calls.items():
            with pytest.raises(PermissionDenied, match="admin"):
                call()
    assert "t-made-by-a" not in [t.name for t in admin.admin.list_tenants()]
    names = {d.name for d in admin.admin.list_datasets()}
    assert {a.dataset, b.dataset} <= names and "ds-made-by-a" not in names
    assert_b_untouched(b)


# -- token storage, on a node of the test's own ----------------------------------------------


def _files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()]


def _logical_dump(db: Path) -> bytes:
    """Every key and value of every column family, decompressed, read through RocksDB."""
    families = [name for name in Rdict.list_cf(str(db)) if name != "default"]
    store = Rdict(str(db), Options(raw_mode=True),
                  column_families={name: Options(raw_mode=True) for name in families},
                  access_type=AccessType.read_only())
    try:
        parts = []
        for family in [store, *(store.get_column_family(name) for name in families)]:
            for k, v in family.items():
                parts += [k, v]
        return b"\n".join(parts)
    finally:
        store.close()


def test_stored_tokens_are_hashed_never_plaintext(fresh_node: NodeProcess, make_tenant_on) -> None:
    made = make_tenant_on(fresh_node)
    with made.client() as client:
        client.dataset(made.dataset).put(b"p", b"k", b"v")
    token_id, secret = split_token(made.token)
    admin_secret = split_token(fresh_node.admin_token())[1]
    secret_hash = hashlib.sha256(secret.encode()).hexdigest().encode()
    # SIGKILL: nothing is flushed into (compressed) table files, so everything the node
    # stored is in the write-ahead log, uncompressed, where a byte grep sees it all.
    fresh_node.kill()
    db = fresh_node.data_dir / "db"
    raw = b"".join(p.read_bytes() for p in _files(db))
    logical = _logical_dump(db)
    for everything in (raw, logical):
        # the grep can see what the node stored ...
        assert made.tenant.encode() in everything
        assert secret_hash in everything
        # ... and no secret is among it, neither the tenant's nor the admin's
        for needle in (secret, made.token, admin_secret):
            assert needle.encode() not in everything
    # after a graceful stop the records sit in table files: still only the hash
    fresh_node.start()
    assert fresh_node.stop() == 0
    logical = _logical_dump(db)
    assert secret_hash in logical and secret.encode() not in logical
    # nor did the node log a token
    log = fresh_node.log_path.read_bytes()
    assert secret.encode() not in log and admin_secret.encode() not in log


def test_tenant_token_survives_a_restart(fresh_node: NodeProcess, make_tenant_on) -> None:
    made = make_tenant_on(fresh_node)
    other = make_tenant_on(fresh_node)
    with made.client() as client:
        client.dataset(made.dataset).put(b"p", b"k", b"before")
    assert fresh_node.stop() == 0
    fresh_node.start()
    with made.client() as client:
        ds = client.dataset(made.dataset)
        assert ds.get(b"p", b"k").value == b"before"
        ds.put(b"p", b"k", b"after")
        assert ds.get(b"p", b"k").value == b"after"
        # isolation survives the restart as well
        with pytest.raises(NotFound):
            client.dataset(other.dataset).get(b"p", b"k")
    with Client([fresh_node.address], token=fresh_node.admin_token()) as admin_client:
        names = {t.name for t in admin_client.admin.list_tenants()}
        assert {made.tenant, other.tenant} <= names
    # a crash is survived too
    fresh_node.kill()
    fresh_node.start()
    with made.client() as client:
        assert client.dataset(made.dataset).get(b"p", b"k").value == b"after"
