"""``manhattan demo`` (what ``make run`` starts): a local cluster with sample data.

Starts a 3-node cluster under ``<data-dir>`` (``cluster.toml`` there lets the
other commands run without flags), creates the ``demo`` tenant with a ``kv``
dataset (RF 3) and a few records, starts the social service (``social.toml``)
and loads a generated network: 1,000 users with power-law followings, a few
celebrities above the threshold and a few thousand tweets fanned out for real
(all once; a restart reuses them). Prints a home timeline and a short tour,
and stops every process (by PID) on Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import os
from pathlib import Path

import click

from manhattan.cli.cluster import wait_for_signal
from manhattan.client import AlreadyExists, Client, Put
from manhattan.node.local_cluster import LocalCluster
from manhattan.services.demo_network import SAMPLE_USERS, start_with_sample_network
from manhattan.services.process import SocialProcess

CELEBRITY_THRESHOLD = 200  # 1,000 sample users: a 10,000 threshold would make no celebrity
SAMPLE = [
    ("alice", "profile:name", "Alice Liddell"),
    ("alice", "profile:city", "Oxford"),
    ("alice", "visit:2026-11-01", "rabbit hole"),
    ("alice", "visit:2026-11-02", "tea party"),
    ("bob", "profile:name", "Bob Builder"),
]


def _seed(admin: Client, endpoints: list[str], data_dir: Path) -> str:
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
    with Client(endpoints, token=token) as tenant:
        tenant.dataset("kv").put_many([Put(*row) for row in SAMPLE])
    return token


def _tour(endpoints: list[str], token: str, data_dir: Path, social: str) -> str:
    address = endpoints[0]
    return f"""
Manhattan is running: {len(endpoints)} nodes at {", ".join(endpoints)}
(data and logs in {data_dir}/).
The admin token and endpoints are in {data_dir}/cluster.toml, so commands need no flags:

  manhattan status                               # nodes, load, hints, ownership
  manhattan kv scan kv alice                     # the demo tenant's sample records
  manhattan kv put kv alice visit:2026-11-03 croquet
  manhattan kv get kv alice profile:name -o json
  manhattan tenant create myapp                  # prints the new tenant's token
  manhattan dataset create events --tenant myapp --rf 3

The social service (tweets, follow graph, timelines) is at {social} with
{SAMPLE_USERS} generated users (alice, bob, ... and celebrities katy, barack, nasa):

  manhattan timeline home alice                  # alice's home timeline, newest first
  manhattan tweet post alice "hello, world"      # prints the new tweet's id
  manhattan follow alice bob                     # alice now sees bob's tweets too
  manhattan user show katy                       # a celebrity: merged at read, not pushed
  manhattan timeline user katy -o json
  manhattan id next -n 3 && manhattan social stats

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
@click.option("--nodes", type=click.IntRange(1, 31), default=3, show_default=True)
@click.option("--base-port", type=click.IntRange(1, 65000), default=7100, show_default=True)
@click.option("--host", default="127.0.0.1", show_default=True)
def demo(data_dir: Path, nodes: int, base_port: int, host: str) -> None:
    """Run a local cluster with a demo tenant and sample data until Ctrl-C."""
    local = LocalCluster(data_dir, nodes=nodes, base_port=base_port, host=host)
    social = SocialProcess(data_dir, host=host, port=base_port + 10 if base_port else None,
                           options=["--celebrity-threshold", str(CELEBRITY_THRESHOLD)])
    try:
        local.start()
    except RuntimeError as exc:
        raise click.ClickException(str(exc)) from None
    try:
        with Client(local.endpoints, token=local.admin_token) as admin:
            token = _seed(admin, local.endpoints, data_dir)
        click.echo("starting the social service and loading the sample network ...")
        sample = start_with_sample_network(local.endpoints, local.admin_token, data_dir, social,
                                           celebrity_threshold=CELEBRITY_THRESHOLD)
        click.echo(sample)
        click.echo(_tour(local.endpoints, token, data_dir, social.address))
        wait_for_signal(local)
    finally:
        click.echo("stopping the social service and the nodes ...")
        social.stop()
        local.stop()
