"""``python -m manhattan.cli``."""

from manhattan.cli.main import cli

cli()
