"""The ``manhattan`` command: one group per noun, each imported only when it runs.

Why lazy: importing every command module pulls in gRPC, the SDK, the node
daemon, the benchmark driver and the social service, about a second of CPU
before any command starts. click's lazy-group pattern imports a command's module
when that command is asked for; ``--help`` lists the commands from the short
help kept here (a test checks it matches each command's own).
"""

from __future__ import annotations

import importlib
from pathlib import Path

import click

from manhattan import __version__
from manhattan.cli.context import CliSettings

# name -> ("module:attribute", short help shown by `manhattan --help`)
LAZY_COMMANDS: dict[str, tuple[str, str]] = {
    "node": ("manhattan.cli.ops:node", "Run and inspect storage nodes."),
    "cluster": ("manhattan.cli.cluster:cluster", "Run a local multi-node cluster."),
    "status": ("manhattan.cli.cluster:status",
               "Every node: state, address, load, hints, repair and streaming, ownership."),
    "ring": ("manhattan.cli.cluster:ring_command",
             "Ring points and primary/effective ownership of every node."),
    "tenant": ("manhattan.cli.tenants:tenant", "Manage tenants (admin token)."),
    "dataset": ("manhattan.cli.tenants:dataset", "Manage datasets."),
    "kv": ("manhattan.cli.kv:kv", "Read and write records."),
    "counter": ("manhattan.cli.counter:counter",
                "Add to and read counters (datasets created with --kind counter)."),
    "demo": ("manhattan.cli.demo:demo",
             "Run a local cluster with a demo tenant and sample data until Ctrl-C."),
    "token": ("manhattan.cli.security:token", "Manage tenant tokens (admin token)."),
    "audit": ("manhattan.cli.security:audit", "Admin actions of every node, newest first."),
    "certs": ("manhattan.cli.security:certs", "Development certificates for TLS."),
    "repair": ("manhattan.cli.ops:repair",
               "Anti-entropy now: every pair of replicas compares hash trees of the "
               "ranges they share and exchanges the records that differ."),
    "social": ("manhattan.cli.social:social",
               "Run and inspect the social service (tweets, graph, timelines)."),
    "user": ("manhattan.cli.social:user", "Create and show users of the social service."),
    "tweet": ("manhattan.cli.social:tweet", "Post, show and delete tweets."),
    "follow": ("manhattan.cli.social:follow", "FOLLOWER starts following FOLLOWEE (idempotent)."),
    "unfollow": ("manhattan.cli.social:unfollow",
                 "FOLLOWER stops following FOLLOWEE (idempotent)."),
    "followers": ("manhattan.cli.social:followers", "Who follows USER (paginated)."),
    "following": ("manhattan.cli.social:following", "Whom USER follows (paginated)."),
    "timeline": ("manhattan.cli.social:timeline", "Read home and user timelines."),
    "id": ("manhattan.cli.social:id_group",
           "Snowflake IDs: issue (from the service) and decode (locally)."),
    "snapshot": ("manhattan.cli.snapshot:snapshot",
                 "Snapshots of every node (RocksDB checkpoints): create, list, delete, "
                 "restore."),
    "metadata": ("manhattan.cli.metadata:metadata",
                 "The replicated metadata log (tenants, tokens, datasets, limits)."),
    "bench": ("manhattan.cli.bench:bench", "Benchmark your cluster (YCSB core workloads)."),
    "console": ("manhattan.cli.console:console",
                "A web console for the cluster on a local page (admin token required)."),
}


def load_command(name: str) -> click.Command:
    """Import the module of command ``name`` and return the command."""
    module_name, attribute = LAZY_COMMANDS[name][0].split(":")
    command = getattr(importlib.import_module(module_name), attribute)
    if not isinstance(command, click.Command):
        raise TypeError(f"{module_name}:{attribute} is not a click command")
    return command


class LazyGroup(click.Group):
    """A group whose subcommands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted([*super().list_commands(ctx), *LAZY_COMMANDS])

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in LAZY_COMMANDS:
            return load_command(cmd_name)
        return super().get_command(ctx, cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The command list from the kept short help, so ``--help`` imports nothing."""
        helps = {name: short for name, (_, short) in LAZY_COMMANDS.items()}
        helps.update((name, command.get_short_help_str(limit=formatter.width))
                     for name, command in self.commands.items())  # added eagerly, if any
        rows = sorted(helps.items())
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
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


if __name__ == "__main__":
    cli()
