"""The ``manhattan`` command against a real node."""

from __future__ import annotations

import itertools
import json

import pytest
from click.testing import CliRunner

from manhattan.cli.main import cli
from manhattan.node.cluster_file import write_cluster_file

_n = itertools.count(1)


@pytest.fixture
def run(node, monkeypatch, tmp_path):
    """Invoke the CLI from an empty directory with the admin token and no env."""
    for var in ("MANHATTAN_ENDPOINTS", "MANHATTAN_TOKEN", "MANHATTAN_CLUSTER_FILE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()

    def invoke(*args: str, token: str | None = None, input: str | None = None, flags=True):
        prefix = ["--endpoints", node.address, "--token", token or node.admin_token()]
        return runner.invoke(cli, [*(prefix if flags else []), *args], input=input)

    return invoke


@pytest.fixture
def tenant_ds(run):
    """A fresh tenant (json-created) with one dataset: (tenant, token, dataset)."""
    n = next(_n)
    tenant, ds = f"cli-tenant-{n}", f"cli-ds-{n}"
    result = run("tenant", "create", tenant, "-o", "json")
    assert result.exit_code == 0, result.output
    token = json.loads(result.output)[0]["token"]
    result = run("dataset", "create", ds, "--tenant", tenant, "--rf", "1",
                 "--write-consistency", "one", "--durability", "buffered", "-o", "json")
    assert result.exit_code == 0, result.output
    [row] = json.loads(result.output)
    assert (row["write_consistency"], row["durability"]) == ("one", "buffered")
    return tenant, token, ds


def test_tenant_create_prints_a_token_once_and_list_shows_the_tenant(run):
    result = run("tenant", "create", "cli-plain")
    assert result.exit_code == 0, result.output
    assert "token" in result.output and "mh_" in result.output
    listed = json.loads(run("tenant", "list", "-o", "json").output)
    assert "cli-plain" in [t["name"] for t in listed]


def test_kv_put_get_scan_delete_round_trip_as_a_tenant(run, tenant_ds):
    _, token, ds = tenant_ds
    for lkey, value in (("b", "two"), ("a", "one"), ("c", "three")):
        assert run("kv", "put", ds, "user1", lkey, value, token=token).exit_code == 0
    got = json.loads(run("kv", "get", ds, "user1", "a", "-o", "json", token=token).output)
    assert got[0]["value"] == "one"
    scanned = json.loads(run("kv", "scan", ds, "user1", "--reverse", "--limit", "2", "-o", "json",
                             token=token).output)
    assert [r["lkey"] for r in scanned] == ["c", "b"]
    bounded = json.loads(run("kv", "scan", ds, "user1", "--start", "b", "--end", "c", "-o", "json",
                             token=token).output)
    assert [r["value"] for r in bounded] == ["two"]
    assert run("kv", "delete", ds, "user1", "a", token=token).exit_code == 0
    missing = run("kv", "get", ds, "user1", "a", token=token)
    assert missing.exit_code == 1 and "not found" in missing.output


def test_ttl_option_is_applied(run, tenant_ds):
    _, token, ds = tenant_ds
    assert run("kv", "put", ds, "p", "l", "v", "--ttl", "60", token=token).exit_code == 0
    [row] = json.loads(run("kv", "get", ds, "p", "l", "-o", "json", token=token).output)
    assert row["expires_at_ms"] > 0


def test_dataset_list_as_tenant_shows_only_its_own(run, tenant_ds):
    _, token, ds = tenant_ds
    other = run("tenant", "create", f"cli-other-{next(_n)}", "-o", "json")
    other_token = json.loads(other.output)[0]["token"]
    mine = json.loads(run("dataset", "list", "-o", "json", token=token).output)
    assert [d["name"] for d in mine] == [ds]
    theirs = json.loads(run("dataset", "list", "-o", "json", token=other_token).output)
    assert theirs == []


def test_dataset_drop_asks_for_confirmation_and_then_drops(run, tenant_ds):
    _, token, ds = tenant_ds
    refused = run("dataset", "drop", ds, input="n\n")
    assert refused.exit_code != 0
    assert run("kv", "put", ds, "p", "l", "v", token=token).exit_code == 0
    assert run("dataset", "drop", ds, "--yes").exit_code == 0
    gone = run("kv", "get", ds, "p", "l", token=token)
    assert gone.exit_code == 1 and "NotFound" in gone.output


def test_dataset_names_are_per_tenant_and_the_admin_names_the_owner(run):
    n = next(_n)
    owners = [f"cli-owner-{n}-{side}" for side in ("a", "b")]
    name = f"cli-shared-{n}"
    tokens = {}
    for owner in owners:
        tokens[owner] = json.loads(run("tenant", "create", owner, "-o", "json").output)[0]["token"]
        assert run("dataset", "create", name, "--tenant", owner, "--rf", "1").exit_code == 0
    ambiguous = run("dataset", "drop", name, "--yes")
    assert ambiguous.exit_code == 1 and "name the tenant" in ambiguous.output
    assert run("dataset", "drop", name, "--tenant", owners[1], "--yes").exit_code == 0
    listed = [d for d in json.loads(run("dataset", "list", "-o", "json").output)
              if d["name"] == name]
    assert [d["tenant"] for d in listed] == [owners[0]]
    assert listed[0]["storage_id"] == f"{name}@{listed[0]['incarnation']}"
    dropped = run("tenant", "drop", owners[0], "--yes")
    assert dropped.exit_code == 0 and name in dropped.output
    refused = run("kv", "get", name, "p", "l", token=tokens[owners[0]])
    assert refused.exit_code == 1 and "Unauthenticated" in refused.output
    tenants = [t["name"] for t in json.loads(run("tenant", "list", "-o", "json").output)]
    assert owners[0] not in tenants and owners[1] in tenants


def test_errors_are_one_clean_line_with_the_error_kind(run, tenant_ds):
    _, token, ds = tenant_ds
    result = run("kv", "put", ds, "", "l", "v", token=token)
    assert result.exit_code == 1
    assert "InvalidRequest: pkey must not be empty" in result.output
    assert "Traceback" not in result.output
    denied = run("tenant", "create", "sneaky", token=token)
    assert denied.exit_code == 1 and "PermissionDenied" in denied.output
    bad = run("kv", "put", ds, "p", "l", "v", "--consistency", "most", token=token)
    assert bad.exit_code == 2 and "unknown consistency" in bad.output


def test_without_endpoints_the_cli_says_how_to_find_a_cluster(run):
    result = run("tenant", "list", flags=False)
    assert result.exit_code == 1
    assert "MANHATTAN_ENDPOINTS" in result.output


def test_cluster_file_in_data_dir_makes_flags_unnecessary(run, node, tmp_path):
    made = run("tenant", "create", f"cli-file-{next(_n)}", "-o", "json")
    assert made.exit_code == 0, made.output
    write_cluster_file(tmp_path / "data", [node.address], node.admin_token())
    result = run("tenant", "list", "-o", "json", flags=False)
    assert result.exit_code == 0, result.output
    # The admin token came from the file: the tenant just made is listed.
    assert json.loads(made.output)[0]["tenant"] in [t["name"] for t in json.loads(result.output)]


def test_environment_variables_supply_endpoints_and_token(run, node, tenant_ds, monkeypatch):
    _, token, ds = tenant_ds
    monkeypatch.setenv("MANHATTAN_ENDPOINTS", node.address)
    monkeypatch.setenv("MANHATTAN_TOKEN", token)
    assert run("kv", "put", ds, "env", "l", "v", flags=False).exit_code == 0
    got = run("kv", "get", ds, "env", "l", "-o", "json", flags=False)
    assert json.loads(got.output)[0]["value"] == "v"


def test_kv_put_if_absent_and_if_version_are_compare_and_set(run, tenant_ds):
    _, token, ds = tenant_ds
    created = run("kv", "put", ds, "cas", "l", "v1", "--if-absent", "-o", "json", token=token)
    assert created.exit_code == 0, created.output
    [row] = json.loads(created.output)
    version = f"{row['timestamp']}:{row['writer']}"
    again = run("kv", "put", ds, "cas", "l", "v2", "--if-absent", token=token)
    assert again.exit_code == 1 and f"ConditionFailed: not written, the current version is " \
                                     f"{version}" in again.output
    swapped = run("kv", "put", ds, "cas", "l", "v2", "--if-version", version, token=token)
    assert swapped.exit_code == 0, swapped.output
    stale = run("kv", "delete", ds, "cas", "l", "--if-version", version, token=token)
    assert stale.exit_code == 1 and "ConditionFailed" in stale.output
    [now] = json.loads(run("kv", "get", ds, "cas", "l", "--consistency", "serial", "-o", "json",
                           token=token).output)
    assert now["value"] == "v2"
    gone = run("kv", "delete", ds, "cas", "l", "--if-version",
               f"{now['timestamp']}:{now['writer']}", token=token)
    assert gone.exit_code == 0, gone.output
    assert run("kv", "get", ds, "cas", "l", token=token).exit_code == 1
    both = run("kv", "put", ds, "cas", "l", "v", "--if-absent", "--if-version", "5:1",
               token=token)
    assert both.exit_code == 2 and "not both" in both.output
    bad = run("kv", "put", ds, "cas", "l", "v", "--if-version", "five", token=token)
    assert bad.exit_code == 2 and "TIMESTAMP:WRITER" in bad.output
