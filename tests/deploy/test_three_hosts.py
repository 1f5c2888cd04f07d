"""deploy/README.md followed on three "hosts" (network namespaces), checked from a fourth;
then the social service's unit on host 1, asked for its stats from the fourth.

The guide's own commands (``manhattan certs init ...``, the admin-token one-liner)
and files (node.toml, node.env, operator.env, the systemd unit's EnvironmentFile
and ExecStart) are used as written; only the install paths (/etc/manhattan,
/var/lib/manhattan, /opt/manhattan) move under the test's temp dir, and each
host's node.env gets its id and address as the guide tells the operator to.
Nodes run as the unit would run them and are stopped by PID; the namespaces
(and the bridge, which lives in a namespace of its own) are deleted afterwards.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shlex
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.cli.tables import read_table
from tests.deploy.netns import Hosts, namespaces_permitted

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
GUIDE = (DEPLOY / "README.md").read_text()
ADDRESSES = {"h1": "10.88.0.11", "h2": "10.88.0.12", "h3": "10.88.0.13", "op": "10.88.0.20"}
MANHATTAN = str(Path(sys.executable).with_name("manhattan"))
START_TIMEOUT_S = 90.0
SOCIAL_TOKEN = secrets.token_urlsafe(32)  # what the guide's one-liner makes

pytestmark = pytest.mark.slow


def _guide_command(prefix: str) -> str:
    """The one command line of the guide that starts with ``prefix``."""
    lines = [line.strip() for line in GUIDE.splitlines() if line.strip().startswith(prefix)]
    assert len(lines) == 1, f"the guide should have one `{prefix} ...` line, has {lines}"
    return lines[0]


def _env_file(text: str) -> dict[str, str]:
    """KEY=VALUE lines of an environment file (systemd's EnvironmentFile=)."""
    pairs = (line.split("=", 1) for line in text.splitlines()
             if line.strip() and not line.lstrip().startswith("#"))
    return {key.strip(): value.strip() for key, value in pairs}


def _unit(name: str) -> dict[str, str]:
    """The [Service] settings of a unit file (the last of each key)."""
    return _env_file((DEPLOY / "systemd" / name).read_text().split("[Service]")[1]
                     .split("[Install]")[0])


def _install(text: str, root: Path) -> str:
    """A file's text with the install paths moved under ``root``."""
    return (text.replace("/opt/manhattan/.venv/bin/manhattan", MANHATTAN)
            .replace("/etc/manhattan", str(root / "etc" / "manhattan"))
            .replace("/var/lib/manhattan", str(root / "var" / "lib" / "manhattan")))


def _host_env(node_id: int, address: str, token: str) -> str:
    """deploy/node.env edited for host ``node_id``, as step 3 of the guide says."""
    text = (DEPLOY / "node.env").read_text()
    text = re.sub(r"(?m)^MANHATTAN_NODE_ID=.*$", f"MANHATTAN_NODE_ID={node_id}", text)
    return (text.replace(ADDRESSES["h1"], address)
            .replace("paste-the-admin-token-here", token))


def _base_env() -> dict[str, str]:
    keep = ("PATH", "LANG", "LC_ALL", "PYTHONPATH", "VIRTUAL_ENV")
    return {k: os.environ[k] for k in keep if k in os.environ} | {"HOME": "/nonexistent"}


def _start_social(hosts: Hosts, root: Path, certs: Path, token: str) -> subprocess.Popen:
    """deploy/social.env and the social unit on ``root``'s host (host 1)."""
    etc = root / "etc" / "manhattan"
    for name in ("client.pem", "client.key"):
        (etc / "certs" / name).write_bytes((certs / name).read_bytes())
    (etc / "social.env").write_text(_install((DEPLOY / "social.env").read_text(), root)
                                    .replace("paste-the-admin-token-here", token)
                                    .replace("paste-the-social-api-token-here", SOCIAL_TOKEN))
    unit = _unit("manhattan-social.service")
    env = _base_env() | _env_file(Path(_install(unit["EnvironmentFile"], root)).read_text())
    workdir = Path(_install(unit["WorkingDirectory"], root))
    workdir.mkdir(parents=True)
    command = _install(unit["ExecStart"], root)
    for key, value in env.items():  # systemd expands ${VAR} from the environment file
        command = command.replace("${" + key + "}", value)
    with open(root / "social.log", "wb") as log:
        return subprocess.Popen(hosts.command("h1", shlex.split(command)), env=env, cwd=workdir,
                                stdout=log, stderr=subprocess.STDOUT)


@pytest.fixture
def hosts():
    permitted, why = namespaces_permitted()
    if not permitted:
        pytest.skip(f"network namespaces unavailable: {why}")
    with Hosts(ADDRESSES) as made:
        yield made


def test_three_hosts_from_the_guide_answer_status_from_a_fourth(hosts: Hosts,
                                                              tmp_path: Path):
    # Step 1: certificates, with the guide's command, on the "operator's machine".
    init = shlex.split(_guide_command("manhattan certs init"))
    subprocess.run([MANHATTAN, *init[1:]], cwd=tmp_path, check=True, capture_output=True,
                   timeout=120)
    certs = tmp_path / "certs"
    # Step 2: the admin token, with the guide's one-liner.
    token_cmd = shlex.split(_guide_command("python3 -c"))
    token = subprocess.run([sys.executable, *token_cmd[1:]], check=True, capture_output=True,
                           text=True, timeout=30).stdout.strip()
    assert len(token) > 30
    unit = _unit("manhattan-node.service")
    processes: list[subprocess.Popen] = []
    try:
        for node_id, host in enumerate(("h1", "h2", "h3"), start=1):
            root = tmp_path / host
            etc = root / "etc" / "manhattan"
            (etc / "certs").mkdir(parents=True)
            (root / "var" / "lib" / "manhattan").mkdir(parents=True)
            # Step 1 (copy): ca.pem, nodeN.pem/.key as node.pem/.key.
            (etc / "certs" / "ca.pem").write_bytes((certs / "ca.pem").read_bytes())
            (etc / "certs" / "node.pem").write_bytes((certs / f"node{node_id}.pem").read_bytes())
            (etc / "certs" / "node.key").write_bytes((certs / f"node{node_id}.key").read_bytes())
            # Step 3: node.toml as is, node.env edited for this host.
            (etc / "node.toml").write_text(_install((DEPLOY / "node.toml").read_text(), root))
            (etc / "node.env").write_text(_host_env(node_id, ADDRESSES[host], token))
            # Step 4: what systemd runs: ExecStart with EnvironmentFile's variables.
            env = _base_env() | _env_file(Path(_install(unit["EnvironmentFile"], root))
                                          .read_text())
            argv = shlex.split(_install(unit["ExecStart"], root))
            log = open(root / "node.log", "wb")
            processes.append(subprocess.Popen(hosts.command(host, argv), env=env,
                                              stdout=log, stderr=subprocess.STDOUT))
            log.close()
        # Step 5: the operator's machine, with operator.env.
        op = tmp_path / "op"
        (op / "etc" / "manhattan" / "certs").mkdir(parents=True)
        for name in ("ca.pem", "client.pem", "client.key"):
            (op / "etc" / "manhattan" / "certs" / name).write_bytes((certs / name).read_bytes())
        operator = _env_file(_install((DEPLOY / "operator.env").read_text(), op)
                             .replace("paste-the-admin-token-here", token)
                             .replace("paste-the-social-api-token-here", SOCIAL_TOKEN))
        env = _base_env() | operator | {"COLUMNS": "80"}

        def status(*args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(hosts.command("op", [MANHATTAN, "status", *args]), env=env,
                                  capture_output=True, text=True, timeout=60, cwd=op)

        deadline = time.monotonic() + START_TIMEOUT_S
        rows: list[dict] = []
        while time.monotonic() < deadline:
            for process, host in zip(processes, ("h1", "h2", "h3")):
                assert process.poll() is None, \
                    f"node on {host} exited: {(tmp_path / host / 'node.log').read_text()[-3000:]}"
            result = status("-o", "json")
            if result.returncode == 0:
                rows = json.loads(result.stdout)
                if len(rows) == 3 and all(r["status"] == "up" and r["node"] for r in rows):
                    break
            time.sleep(1.0)
        assert [(r["id"], r["address"], r["status"]) for r in rows] == [
            (1, "10.88.0.11:7100", "up"), (2, "10.88.0.12:7100", "up"),
            (3, "10.88.0.13:7100", "up")], rows
        assert all(abs(r["ownership"] - 1.0) < 1e-6 for r in rows)  # RF 3 on three nodes
        table = status()
        assert table.returncode == 0, table.stderr
        assert all(len(line) <= 80 for line in table.stdout.splitlines())
        shown = read_table(table.stdout, ["id", "state", "address", "own %"], title=True)
        assert shown == [["1", "up", "10.88.0.11:7100", "100.0"],
                         ["2", "up", "10.88.0.12:7100", "100.0"],
                         ["3", "up", "10.88.0.13:7100", "100.0"]]
        # TLS is on, as node.toml says: without the client certificate the operator is refused.
        bare = {k: v for k, v in env.items() if k not in ("MANHATTAN_CA_FILE",
                                                          "MANHATTAN_CERT_FILE",
                                                          "MANHATTAN_KEY_FILE")}
        refused = subprocess.run(hosts.command("op", [MANHATTAN, "--timeout", "3", "status"]),
                                 env=bare, capture_output=True, text=True, timeout=60)
        assert refused.returncode != 0

        # The social service on host 1, as its unit runs it, answering the operator.
        processes.append(_start_social(hosts, tmp_path / "h1", certs, token))
        stats = None
        deadline = time.monotonic() + START_TIMEOUT_S
        while stats is None and time.monotonic() < deadline:
            assert processes[-1].poll() is None, (tmp_path / "h1" / "social.log").read_text()
            asked = subprocess.run(
                hosts.command("op", [MANHATTAN, "social", "stats", "--social",
                                     _env_file((DEPLOY / "social.env").read_text())
                                     ["SOCIAL_LISTEN"], "-o", "json"]),
                env=env, capture_output=True, text=True, timeout=60, cwd=op)
            stats = json.loads(asked.stdout)[0] if asked.returncode == 0 else None
            time.sleep(0 if stats else 1.0)
        assert stats is not None and stats["fanout_pending"] == 0, \
            (tmp_path / "h1" / "social.log").read_text()[-3000:]
        # Without the social API token the operator is refused, with the reason.
        tokenless = {k: v for k, v in env.items() if k != "MANHATTAN_SOCIAL_TOKEN"}
        refused = subprocess.run(
            hosts.command("op", [MANHATTAN, "social", "stats", "--social", _env_file(
                (DEPLOY / "social.env").read_text())["SOCIAL_LISTEN"]]),
            env=tokenless, capture_output=True, text=True, timeout=60, cwd=op)
        assert refused.returncode != 0 and "no social API token" in refused.stderr
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
