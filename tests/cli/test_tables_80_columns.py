"""Every command's table at 80 columns against a real node: nothing cut, nothing
past the edge, the columns that matter first; -o wide has them all; a single
record reads as ``key: value`` lines; -o json is unchanged."""

from __future__ import annotations

import itertools
import json

import pytest
from click.testing import CliRunner

from manhattan.cli.main import LAZY_COMMANDS, cli, load_command
from tests.cli.tables import read_table, same_text

WIDTH = 80
_n = itertools.count(1)


@pytest.fixture
def run(node, monkeypatch, tmp_path):
    """The CLI at 80 columns as the admin (or ``token``); fails the test on a non-zero exit."""
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()

    def invoke(*args: str, token: str | None = None) -> str:
        result = runner.invoke(cli, ["--endpoints", node.address, "--token",
                                     token or node.admin_token(), *args],
                               env={"COLUMNS": str(WIDTH), "MANHATTAN_CLUSTER_FILE": None})
        assert result.exit_code == 0, result.output
        return result.output

    return invoke


def _fits(text: str) -> None:
    assert "…" not in text, text
    assert all(len(line) <= WIDTH for line in text.splitlines()), text


@pytest.fixture
def tenant(run):
    """A tenant with a dataset, a limit, a token and a few records: (name, token, dataset)."""
    n = next(_n)
    name, ds = f"wide-tenant-{n}", f"wide-ds-{n}"
    token = json.loads(run("tenant", "create", name, "-o", "json"))[0]["token"]
    run("dataset", "create", ds, "--tenant", name, "--rf", "1", "--default-ttl", "3600")
    run("tenant", "limits", name, "--ops-per-second", "500")
    run("token", "create", name, "--read-only", "--dataset", ds)
    for lkey in ("profile:name", "visit:2026-11-01"):
        run("kv", "put", ds, "alice", lkey, "a value with several words " * 3, token=token)
    return name, token, ds


def test_status_fits_with_the_columns_an_operator_scans_first(run, node):
    text = run("status")
    _fits(text)
    [row] = read_table(text, ["id", "state", "address", "own %", "keys"], title=True)
    assert row[:4] == ["1", "up", node.address, "100.0"]
    wide = run("status", "-o", "wide")
    header = [line for line in wide.splitlines() if line.startswith("id")][0].split()
    assert {"repair", "stream", "zone", "repaired", "hints"} <= set(header)
    assert "more column" not in wide
    [js] = json.loads(run("status", "-o", "json"))
    assert {"status", "state", "address", "zone", "ownership", "node"} <= set(js)


def test_ring_tenant_dataset_and_token_lists_fit(run, tenant):
    name, _, ds = tenant
    text = run("ring")
    _fits(text)
    assert read_table(text, ["id", "address", "points", "primary %", "rf 3 %"],
                      title=True)[0][0] == "1"
    text = run("tenant", "list")
    _fits(text)
    assert [name, ] == [r[0] for r in read_table(text, ["name", "created (UTC)"])
                        if r[0] == name]
    text = run("dataset", "list", "--tenant", name)
    _fits(text)
    [row] = read_table(text, ["name", "tenant", "rf", "read", "write", "durability",
                              "ttl (s)"])
    assert row == [ds, name, "1", row[3], row[4], row[5], "3600"]
    text = run("token", "list", "--tenant", name)
    _fits(text)
    rows = read_table(text, ["token", "tenant", "read-only", "datasets"])
    assert ["yes", ds] in [r[2:4] for r in rows]
    text = run("tenant", "show", name)
    _fits(text)
    assert read_table(text.split("\n\n")[0], ["scope", "ops/s", "bytes/s"],
                      title=True)[0] == [f"tenant {name}", "500", "unlimited"]


def test_scan_wraps_long_values_instead_of_cutting_them(run, tenant):
    _, token, ds = tenant
    text = run("kv", "scan", ds, "alice", token=token)
    _fits(text)
    rows = read_table(text, ["pkey", "lkey", "value"])
    assert [r[1] for r in rows] == ["profile:name", "visit:2026-11-01"]
    assert all(same_text(r[2], "a value with several words " * 3) for r in rows)


def test_a_single_record_prints_as_key_value_lines_and_json_is_unchanged(run, tenant):
    _, token, ds = tenant
    text = run("kv", "get", ds, "alice", "profile:name", token=token)
    _fits(text)
    lines = text.splitlines()
    assert lines[0].split() == ["pkey:", "alice"] and lines[1].split() == ["lkey:", "profile:name"]
    [record] = json.loads(run("kv", "get", ds, "alice", "profile:name", "-o", "json",
                              token=token))
    assert set(record) == {"pkey", "lkey", "value", "timestamp", "writer", "expires_at_ms"}
    created = run("dataset", "create", f"one-{next(_n)}", "--tenant", tenant[0])
    assert [line.split(":")[0] for line in created.splitlines()][:3] == ["name", "tenant", "rf"]


def test_audit_snapshots_and_certs_fit(run, tenant, tmp_path):
    text = run("audit", "--limit", "20")
    _fits(text)
    assert read_table(text, ["time (UTC)", "node", "actor", "action"])
    name = f"wide-snap-{next(_n)}"
    _fits(run("snapshot", "create", name))
    text = run("snapshot", "list")
    _fits(text)
    rows = read_table(text, ["name", "node", "created", "size MB", "complete"])
    assert [name, "1", "yes"] in [[r[0], r[1], r[4]] for r in rows]
    run("snapshot", "delete", name)
    text = run("certs", "init", "--dir", str(tmp_path / "certs"), "--nodes", "1")
    _fits(text)
    # Long paths: wrapped (folded) in place; the key paths wait for -o wide.
    rows = read_table(text, ["name", "cert"])
    assert {"ca", "node1", "client"} <= {r[0] for r in rows}
    certs = str(tmp_path / "certs")
    paths = ["".join(r[1].split()) for r in rows]
    assert all(p.startswith(certs) and p.endswith(".pem") for p in paths), paths
    assert "key; -o wide shows them" in text


def test_help_lists_each_command_with_its_own_short_help():
    for name, (_, short) in LAZY_COMMANDS.items():
        assert load_command(name).get_short_help_str(limit=1000) == short, name
    text = CliRunner().invoke(cli, ["--help"], env={"COLUMNS": "80"}).output
    assert all(f"  {name} " in text for name in LAZY_COMMANDS)


def test_ycsb_results_fit_with_a_bar_per_phase(run, tenant):
    name = tenant[0]
    text = run("bench", "ycsb", "--dataset", f"ycsb-wide-{next(_n)}", "--create", "--tenant",
               name, "--records", "200", "--operations", "30", "-w", "A", "-w", "E")
    _fits(text)
    table = text[text.index("\nphase "):]
    phases = read_table(table, ["phase", "count", "rate /s", "p50 µs", "p99 µs"])
    assert [p[0] for p in phases] == ["load (per batch)", "A", "E"]
    assert [p[1] for p in phases] == ["200", "30", "30"]
    assert "ycsb: done in" in text
