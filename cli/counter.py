"""``manhattan counter add|get``: counters of a counter dataset from the command line."""

from __future__ import annotations

import click

from manhattan.cli.context import (
    connect, consistency_option, durability_option, output_option, render,
)
from manhattan.cli.kv import key_read
from manhattan.client import Consistency, Durability


@click.group()
def counter() -> None:
    """Add to and read counters (datasets created with --kind counter)."""


@counter.command("add")
@click.argument("dataset")
@click.argument("pkey")
@click.argument("lkey", default="")
@click.argument("delta", type=int, default=1)
@click.option("--op-id", help="Identifies this increment: run again with the same op id "
                              "and it is counted once (a retry of an unknown outcome).")
@consistency_option()
@durability_option()
@output_option
@click.pass_context
def add(ctx: click.Context, dataset: str, pkey: str, lkey: str, delta: int,
        op_id: str | None, consistency: Consistency, durability: Durability,
        output: str) -> None:
    """Add DELTA (default 1; negative subtracts) to the counter at (PKEY, LKEY).

    A negative DELTA goes after `--`: manhattan counter add DS PKEY LKEY -- -3"""
    with connect(ctx) as client:
        added = client.dataset(dataset).add(pkey, lkey, delta, op_id=op_id,
                                            consistency=consistency, durability=durability)
    render([{"pkey": pkey, "lkey": lkey, "value": added.value, "counted": added.counted,
             "op_id": added.op_id.hex() if op_id is None else op_id}], output, record=True)


@counter.command("get")
@key_read
def get(ctx: click.Context, dataset: str, pkey: str, lkey: str, consistency: Consistency,
        output: str) -> None:
    """Print the counter at (PKEY, LKEY) (0 when never added to)."""
    with connect(ctx) as client:
        value = client.dataset(dataset).counter(pkey, lkey, consistency=consistency)
    if output == "json":
        render([{"pkey": pkey, "lkey": lkey, "value": value}], output, record=True)
    else:
        click.echo(value)
