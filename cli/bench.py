"""``manhattan bench ycsb``: YCSB workloads against your own cluster.

The same operation streams as ``make bench`` (manhattan.bench.workloads), run by one
client thread through the SDK, so numbers are comparable with BENCHMARKS.md.
The dataset must exist (or pass ``--create --tenant T`` with the admin token);
records are written to it, so use a scratch dataset, never one holding real data.
"""

from __future__ import annotations

import json
import math

import click
from rich.console import Console
from rich.table import Table

from manhattan.bench.driver import PhaseResult, load_phase, run_phase
from manhattan.bench.manhattan_store import ManhattanStore
from manhattan.bench.workloads import (
    WORKLOADS, KeyMap, OperationStream, default_buckets, load_items, parse_value_size,
)
from manhattan.cli.context import connect
from manhattan.client import AlreadyExists, Client, Consistency, Durability


@click.group()
def bench() -> None:
    """Benchmark your cluster (YCSB core workloads)."""


def _value_size(_ctx: click.Context, _param: click.Parameter, value: str) -> tuple[int, int]:
    try:
        low, high = parse_value_size(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    if high > 1024 * 1024:
        raise click.BadParameter("values are at most 1 MiB (1048576 bytes)")
    return low, high


def _workloads(_ctx: click.Context, _param: click.Parameter, value: tuple[str, ...]
               ) -> list[str]:
    names = [w.strip().upper() for item in value for w in item.split(",") if w.strip()]
    unknown = [n for n in names if n not in WORKLOADS]
    if unknown:
        raise click.BadParameter(f"unknown workload {', '.join(unknown)}; choose from "
                                 f"{', '.join(WORKLOADS)}")
    return list(dict.fromkeys(names)) or ["A"]


@bench.command("ycsb")
@click.option("-w", "--workload", "workloads", multiple=True, callback=_workloads,
              help="A..F, repeatable or comma-separated (default A). D and E insert records.")
@click.option("--dataset", required=True, help="The dataset to write (a scratch one).")
@click.option("--records", type=click.IntRange(min=1), default=10_000, show_default=True,
              help="Records loaded before the run phase.")
@click.option("--operations", type=click.IntRange(min=1), default=10_000, show_default=True,
              help="Operations per workload in the run phase.")
@click.option("--consistency", type=click.Choice(["one", "quorum"], case_sensitive=False),
              default="quorum", show_default=True, help="Read and write consistency.")
@click.option("--durability", type=click.Choice(["buffered", "sync"], case_sensitive=False),
              default="buffered", show_default=True, help="Write durability.")
@click.option("--value-size", default="100-1000", show_default=True, callback=_value_size,
              help="Value bytes: N, or MIN-MAX (uniform).")
@click.option("--seed", type=int, default=42, show_default=True,
              help="Same seed, same keys, values and operations.")
@click.option("--buckets", type=click.IntRange(min=1), default=None,
              help="pkeys the records spread over (default records/1000, at least 1).")
@click.option("--no-load", is_flag=True,
              help="Skip the load phase (the dataset already holds these records).")
@click.option("--create", is_flag=True,
              help="Create the dataset first (needs the admin token and --tenant).")
@click.option("--tenant", help="Owner of the dataset made by --create (created if missing).")
@click.option("--rf", type=click.IntRange(min=0), default=0,
              help="Replication factor for --create (0: the cluster's default).")
@click.option("-o", "--output", type=click.Choice(["table", "json"]), default="table",
              show_default=True, help="Output format.")
@click.pass_context
def ycsb(ctx: click.Context, workloads: list[str], dataset: str, records: int, operations: int,
         consistency: str, durability: str, value_size: tuple[int, int], seed: int,
         buckets: int | None, no_load: bool, create: bool, tenant: str | None, rf: int,
         output: str) -> None:
    """Load RECORDS records into DATASET, then run each workload's operations.

    Keys: pkey = a bucket of about 1,000 records, lkey = the record's key, so that
    workload E's scans are real scans of one pkey. One client thread, one call at a
    time; the rate is what one sequential client gets.
    """
    if create and not tenant:
        raise click.UsageError("--create needs --tenant (the dataset's owner)")
    if tenant and not create:
        raise click.UsageError("--tenant is only used with --create")
    level = Consistency.parse(consistency)
    store_durability = Durability.parse(durability)
    keys = KeyMap(buckets or default_buckets(records))
    low, high = value_size
    rows: list[dict[str, object]] = []
    with connect(ctx) as client:
        if create:
            _create(client, dataset, tenant or "", rf)
        store = ManhattanStore(client.dataset(dataset), consistency=level,
                               durability=store_durability)
        if not no_load:
            result = load_phase(store, load_items(records, seed, keys, low, high))
            rows.append(_row("load", result, "records"))
        key_count = records
        for name in workloads:
            stream = OperationStream(WORKLOADS[name], key_count, seed, keys=keys,
                                     value_min=low, value_max=high,
                                     expected_inserts=operations)
            result = run_phase(store, stream.take(operations))
            key_count = stream.key_count
            rows.append(_row(name, result, "ops"))
    settings = {"dataset": dataset, "records": records, "operations": operations,
                "consistency": level.name, "durability": store_durability.name,
                "value_bytes": f"{low}-{high}", "seed": seed, "buckets": keys.buckets}
    if output == "json":
        click.echo(json.dumps({"settings": settings, "results": rows}, indent=2))
        return
    _table(rows, settings)


def _create(client: Client, dataset: str, tenant: str, rf: int) -> None:
    admin = client.admin
    if tenant not in {t.name for t in admin.list_tenants()}:
        admin.create_tenant(tenant)
    try:
        admin.create_dataset(dataset, tenant=tenant, replication_factor=rf)
    except AlreadyExists:
        pass  # benchmarking into it again is fine


def _row(phase: str, result: PhaseResult, unit: str) -> dict[str, object]:
    latency = result.latencies().summary()
    return {
        "phase": phase, "unit": unit, "count": result.operations,
        "seconds": round(result.elapsed_s, 3), "rate_per_s": round(result.rate, 1),
        **{k: (None if math.isnan(v) else v) for k, v in latency.items()},
        "mix": dict(sorted(result.counts.items())), "read_misses": result.misses,
    }


def _table(rows: list[dict[str, object]], settings: dict[str, object]) -> None:
    title = ", ".join(f"{k} {v}" for k, v in settings.items())
    table = Table(title=f"YCSB — {title}", title_justify="left")
    for column in ("phase", "count", "rate /s", "p50 µs", "p95 µs", "p99 µs", "p99.9 µs",
                   "mix", "misses"):
        table.add_column(column, justify="left" if column in ("phase", "mix") else "right")
    for row in rows:
        per = " /batch" if row["unit"] == "records" else ""
        table.add_row(
            str(row["phase"]), f"{row['count']:,}",
            f"{row['rate_per_s']:,.0f}" + (" rec" if row["unit"] == "records" else ""),
            *(_num(row[k]) + per for k in ("p50_us", "p95_us", "p99_us", "p999_us")),
            " ".join(f"{k} {v}" for k, v in row["mix"].items()),  # type: ignore[attr-defined]
            str(row["read_misses"]),
        )
    Console().print(table)


def _num(value: object) -> str:
    return "-" if value is None else f"{value:,.0f}"
