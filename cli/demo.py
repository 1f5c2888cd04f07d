"""``manhattan demo`` (what ``make run`` starts): a local node with sample data.

Starts a node under ``<data-dir>/node1``, writes ``<data-dir>/cluster.toml`` so
the other commands need no flags, creates the ``demo`` tenant with a ``kv``
dataset and a few records (once; a restart reuses them), prints a short tour,
and stops the node (by PID) on Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path

import click

from manhattan.client import AlreadyExists, Client, Put
from manhattan.node.cluster_file import write_cluster_file
from manhattan.node.process import NodeProcess

SAMPLE = [
    ("alice", "profile:name", "Alice Liddell"),
    ("alice", "profile:city", "Oxford"),
    ("alice", "visit:2026-11-01", "rabbit hole"),
    ("alice", "visit:2026-11-02", "tea party"),
    ("bob", "profile:name", "Bob Builder"),
]


def _seed(admin: Client, data_dir: Path) -> str:
    """Create the demo tenant and dataset once; return the tenant's token."""
    token_file = data_dir / "demo.token"
    try:
        token = admin.admin.create_tenant("demo")
    except AlreadyExists:
        return token_file.read_text().strip() if token_file.exists() else ""
    fd = os.open(token_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(token + "\n")
    admin.admin.create_dataset("kv", tenant="demo")
    with Client(admin._core.endpoints, token=token) as tenant:
        tenant.dataset("kv").put_many([Put(*row) for row in SAMPLE])
    return token


def _tour(address: str, token: str, data_dir: Path) -> str:
    return f"""
Manhattan is running: node 1 at {address} (data and logs in {data_dir}/).
The admin token and endpoints are in {data_dir}/cluster.toml, so commands need no flags:

  manhattan kv scan kv alice                     # the demo tenant's sample records
  manhattan kv put kv alice visit:2026-11-03 croquet
  manhattan kv get kv alice profile:name -o json
  manhattan tenant create myapp                  # prints the new tenant's token
  manhattan dataset create events --tenant myapp --rf 1

(use .venv/bin/manhattan, or `source .venv/bin/activate` first)

From Python, as the demo tenant (token in {data_dir}/demo.token):

  from manhattan.client import Client
  with Client(["{address}"], token="{token}") as client:
      kv = client.dataset("kv")
      kv.put("alice", "visit:2026-11-04", "chess")
      print(kv.scan("alice", start="visit:"))

Press Ctrl-C to stop.
"""


@click.command()
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path),
              default=Path("data"), show_default=True)
@click.option("--port", type=click.IntRange(1, 65535), default=7100, show_default=True)
@click.option("--host", default="127.0.0.1", show_default=True)
def demo(data_dir: Path, port: int, host: str) -> None:
    """Run a local node with a demo tenant and sample data until Ctrl-C."""
    data_dir.mkdir(parents=True, exist_ok=True)
    node = NodeProcess(data_dir / "node1", node_id=1, port=port, host=host,
                       log_path=data_dir / "node1.log")
    try:
        node.start()
    except RuntimeError as exc:
        raise click.ClickException(str(exc)) from None
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        admin_token = node.admin_token()
        write_cluster_file(data_dir, [node.address], admin_token)
        with Client([node.address], token=admin_token) as admin:
            token = _seed(admin, data_dir)
        click.echo(_tour(node.address, token, data_dir))
        while not stop.is_set() and node.pid is not None:
            stop.wait(0.5)
        if node.pid is None:
            click.echo(f"node exited unexpectedly; see {node.log_path}", err=True)
    finally:
        click.echo("stopping node ...")
        node.stop()
