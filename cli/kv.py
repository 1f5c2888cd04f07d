"""``manhattan kv put|get|delete|scan``: records from the command line."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import click

from manhattan.cli.context import (
    connect, consistency_option, durability_option, output_option, render, text,
)
from manhattan.client import ConditionFailed, Consistency, Durability, Record, Version


def record_row(record: Record) -> dict[str, object]:
    """One record as a table/JSON row."""
    return {
        "pkey": text(record.pkey), "lkey": text(record.lkey), "value": text(record.value),
        "timestamp": record.version.timestamp, "writer": record.version.writer,
        "expires_at_ms": record.expires_at_ms,
    }


@click.group()
def kv() -> None:
    """Read and write records."""


def parse_version(_ctx: click.Context, _param: click.Parameter, value: str | None
                  ) -> Version | None:
    """``TIMESTAMP:WRITER`` (the columns ``kv get`` shows) as a Version."""
    if value is None:
        return None
    timestamp, sep, writer = value.partition(":")
    if not sep or not timestamp.isdigit() or not writer.isdigit() or int(timestamp) == 0:
        raise click.BadParameter(f"expected TIMESTAMP:WRITER as `kv get` shows them (e.g. "
                                 f"7279187230613438464:2), got {value!r}")
    return Version(int(timestamp), int(writer))


def if_version_option(func):
    """``--if-version TIMESTAMP:WRITER``: a compare-and-set at SERIAL."""
    return click.option("--if-version", callback=parse_version, metavar="TIMESTAMP:WRITER",
                        help="Only if the current record has this version (a SERIAL "
                             "compare-and-set; `kv get` shows timestamp and writer).")(func)


@contextmanager
def condition_reported() -> Iterator[None]:
    """A failed condition as a clean error naming the current record's version."""
    try:
        yield
    except ConditionFailed as failed:
        current = failed.current
        now = ("there is no record" if current is None else
               f"the current version is {current.version.timestamp}:{current.version.writer}")
        raise click.ClickException(f"ConditionFailed: not written, {now}") from None


@kv.command("put")
@click.argument("dataset")
@click.argument("pkey")
@click.argument("lkey")
@click.argument("value")
@click.option("--ttl", type=click.FloatRange(min=0, min_open=True), help="Seconds to live.")
@if_version_option
@click.option("--if-absent", is_flag=True,
              help="Only if there is no record (a SERIAL compare-and-set).")
@consistency_option()
@durability_option()
@output_option
@click.pass_context
def put(ctx: click.Context, dataset: str, pkey: str, lkey: str, value: str, ttl: float | None,
        if_version: Version | None, if_absent: bool, consistency: Consistency,
        durability: Durability, output: str) -> None:
    """Store VALUE at (PKEY, LKEY) in DATASET."""
    if if_version is not None and if_absent:
        raise click.UsageError("give --if-version or --if-absent, not both")
    with connect(ctx) as client, condition_reported():
        version = client.dataset(dataset).put(pkey, lkey, value, ttl=ttl,
                                              consistency=consistency, durability=durability,
                                              if_version=if_version, if_absent=if_absent)
    render([{"pkey": pkey, "lkey": lkey, "timestamp": version.timestamp,
             "writer": version.writer}], output, record=True)


def key_read(func):
    """DATASET PKEY [LKEY], --consistency and --output: a read of one key."""
    for decorator in reversed((click.argument("dataset"), click.argument("pkey"),
                               click.argument("lkey", default=""), consistency_option(),
                               output_option, click.pass_context)):
        func = decorator(func)
    return func


@kv.command("get")
@key_read
def get(ctx: click.Context, dataset: str, pkey: str, lkey: str, consistency: Consistency,
        output: str) -> None:
    """Print the record at (PKEY, LKEY); exit code 1 when there is none."""
    with connect(ctx) as client:
        record = client.dataset(dataset).get(pkey, lkey, consistency=consistency)
    if record is None:
        if output == "json":
            click.echo("null")
        else:
            click.echo(f"not found: ({pkey!r}, {lkey!r}) in {dataset}", err=True)
        ctx.exit(1)
    render([record_row(record)], output, record=True)


@kv.command("delete")
@click.argument("dataset")
@click.argument("pkey")
@click.argument("lkey", default="")
@if_version_option
@consistency_option()
@durability_option()
@click.pass_context
def delete(ctx: click.Context, dataset: str, pkey: str, lkey: str, if_version: Version | None,
           consistency: Consistency, durability: Durability) -> None:
    """Delete the record at (PKEY, LKEY)."""
    with connect(ctx) as client, condition_reported():
        client.dataset(dataset).delete(pkey, lkey, consistency=consistency,
                                       durability=durability, if_version=if_version)
    click.echo(f"deleted ({pkey!r}, {lkey!r}) from {dataset}")


@kv.command("scan")
@click.argument("dataset")
@click.argument("pkey")
@click.option("--start", help="First lkey (inclusive).")
@click.option("--end", help="Last lkey (exclusive).")
@click.option("--limit", type=click.IntRange(min=1), default=100, show_default=True)
@click.option("--reverse", is_flag=True, help="Descending lkey order.")
@consistency_option()
@output_option
@click.pass_context
def scan(ctx: click.Context, dataset: str, pkey: str, start: str | None, end: str | None,
         limit: int, reverse: bool, consistency: Consistency, output: str) -> None:
    """List the records of PKEY in lkey order."""
    with connect(ctx) as client:
        records = client.dataset(dataset).scan(pkey, start=start, end=end, limit=limit,
                                               reverse=reverse, consistency=consistency)
    render([record_row(r) for r in records], output, empty="no records")
