"""The ``manhattan`` command: one group per noun."""

from __future__ import annotations

import click

from manhattan import __version__
from manhattan.cli.node import node


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="manhattan")
def cli() -> None:
    """Manhattan: a multi-tenant, distributed key-value store."""


cli.add_command(node)


if __name__ == "__main__":
    cli()
