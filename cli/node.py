"""``manhattan node start``."""

from __future__ import annotations

from pathlib import Path

import click


@click.group()
def node() -> None:
    """Run and inspect storage nodes."""


@node.command("start")
@click.option("--config", "config_path", type=click.Path(dir_okay=False, path_type=Path),
              help="TOML config file (MANHATTAN_<SECTION>_<KEY> variables override it).")
@click.option("--id", "node_id", type=int, help="Node id (overrides node.id).")
@click.option("--listen", help="host:port to serve on (overrides node.listen).")
@click.option("--advertise", help="host:port others dial (overrides node.advertise).")
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path),
              help="Data directory (overrides node.data_dir).")
@click.option("--log-format", type=click.Choice(["text", "json"]),
              help="Log lines as text or JSON objects (overrides node.log_format).")
def start(config_path: Path | None, node_id: int | None, listen: str | None,
          advertise: str | None, data_dir: Path | None, log_format: str | None) -> None:
    """Run one storage node in the foreground until SIGTERM or Ctrl-C."""
    from manhattan.node import ConfigError, load_config
    from manhattan.node.daemon import run
    from manhattan.node.server import NodeIdentityMismatch

    flags = {"id": node_id, "listen": listen, "advertise": advertise, "data_dir": data_dir,
             "log_format": log_format}
    overrides = {"node": {k: v for k, v in flags.items() if v is not None}}
    try:
        config = load_config(config_path, overrides=overrides)
        run(config)
    except (ConfigError, NodeIdentityMismatch) as exc:
        raise click.ClickException(str(exc)) from None
    except OSError as exc:
        raise click.ClickException(f"cannot start node: {exc}") from None
