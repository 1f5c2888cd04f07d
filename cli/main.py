"""The ``manhattan`` command: one group per noun."""

from __future__ import annotations

from pathlib import Path

import click

from manhattan import __version__
from manhattan.cli.bench import bench
from manhattan.cli.cluster import cluster, ring_command, status
from manhattan.cli.context import CliSettings
from manhattan.cli.demo import demo
from manhattan.cli.kv import kv
from manhattan.cli.metadata import metadata
from manhattan.cli.social import COMMANDS as SOCIAL_COMMANDS
from manhattan.cli.node import node
from manhattan.cli.snapshot import snapshot
from manhattan.cli.ops import repair  # also adds node add|decommission|replace|remove
from manhattan.cli.tenants import dataset, tenant
from manhattan.cli.security import audit, certs, token


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="manhattan")
@click.option("--endpoints", envvar="MANHATTAN_ENDPOINTS",
              help="Comma-separated host:port list [env MANHATTAN_ENDPOINTS].")
@click.option("--token", envvar="MANHATTAN_TOKEN",
              help="Bearer token (tenant or admin) [env MANHATTAN_TOKEN].")
@click.option("--cluster-file", envvar="MANHATTAN_CLUSTER_FILE",
              type=click.Path(dir_okay=False, path_type=Path),
              help="cluster.toml with endpoints and admin_token [default ./data/cluster.toml].")
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True), default=10.0,
              show_default=True, help="Seconds per call.")
@click.option("--ca-file", envvar="MANHATTAN_CA_FILE",
              type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="Dial nodes over TLS trusting this CA (PEM) [env MANHATTAN_CA_FILE].")
@click.option("--cert-file", envvar="MANHATTAN_CERT_FILE",
              type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="Client certificate (PEM) for mutual TLS [env MANHATTAN_CERT_FILE].")
@click.option("--key-file", envvar="MANHATTAN_KEY_FILE",
              type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="Key of the client certificate [env MANHATTAN_KEY_FILE].")
@click.pass_context
def cli(ctx: click.Context, endpoints: str | None, token: str | None, cluster_file: Path | None,
        timeout: float, ca_file: Path | None, cert_file: Path | None,
        key_file: Path | None) -> None:
    """Manhattan: a multi-tenant, distributed key-value store."""
    ctx.obj = CliSettings(endpoints, token, cluster_file, timeout, ca_file, cert_file, key_file)


for command in (node, cluster, status, ring_command, tenant, dataset, kv, demo):
    cli.add_command(command)
for command in (token, audit, certs):
    cli.add_command(command)
cli.add_command(repair)
for command in SOCIAL_COMMANDS:
    cli.add_command(command)
cli.add_command(snapshot)
cli.add_command(metadata)
cli.add_command(bench)


if __name__ == "__main__":
    cli()
