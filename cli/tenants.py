"""``manhattan tenant create|list|drop`` and ``manhattan dataset create|list|drop``.

Dataset names are per tenant: where a cluster admin names a dataset that several
tenants own, ``--tenant`` says whose."""

from __future__ import annotations

import click

from manhattan.cli.context import (
    connect, consistency_option, durability_option, output_option, render, utc_ms,
)
from manhattan.client import Consistency, DatasetInfo, Durability


@click.group()
def tenant() -> None:
    """Manage tenants (admin token)."""


@tenant.command("create")
@click.argument("name")
@output_option
@click.pass_context
def tenant_create(ctx: click.Context, name: str, output: str) -> None:
    """Create tenant NAME and print its token (shown only this once)."""
    with connect(ctx) as client:
        token = client.admin.create_tenant(name)
    if output == "json":
        render([{"tenant": name, "token": token}], output)
    else:
        click.echo(f"created tenant {name}")
        click.echo(f"token (store it now, it is not shown again): {token}")


@tenant.command("list")
@output_option
@click.pass_context
def tenant_list(ctx: click.Context, output: str) -> None:
    """List tenants."""
    with connect(ctx) as client:
        tenants = client.admin.list_tenants()
    render([{"name": t.name, "created_at_ms": t.created_at_ms, "incarnation": t.incarnation}
            for t in tenants], output, empty="no tenants")


@tenant.command("drop")
@click.argument("name")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.pass_context
def tenant_drop(ctx: click.Context, name: str, yes: bool) -> None:
    """Drop tenant NAME: its tokens stop working, its datasets and records are gone."""
    if not yes:
        click.confirm(f"Drop tenant {name!r}, its tokens, datasets and records?", abort=True)
    with connect(ctx) as client:
        dropped = client.admin.drop_tenant(name)
    click.echo(f"dropped tenant {name}"
               + (f" and datasets {', '.join(d.name for d in dropped)}" if dropped else ""))


@click.group()
def dataset() -> None:
    """Manage datasets."""


def dataset_row(info: DatasetInfo) -> dict[str, object]:
    """One dataset as a table/JSON row."""
    return {
        "name": info.name, "tenant": info.tenant, "replication_factor": info.replication_factor,
        "read_consistency": info.read_consistency.name.lower(),
        "write_consistency": info.write_consistency.name.lower(),
        "durability": info.durability.name.lower(), "default_ttl_ms": info.default_ttl_ms,
        "kind": info.kind,
        "incarnation": info.incarnation, "storage_id": info.storage_id,
    }


@dataset.command("create")
@click.argument("name")
@click.option("--tenant", "tenant_name", required=True, help="Owning tenant.")
@click.option("--replication-factor", "--rf", type=click.IntRange(min=0), default=0,
              help="Replicas per record (0 = cluster default).")
@consistency_option("--read-consistency", "Default consistency of reads")
@consistency_option("--write-consistency", "Default consistency of writes")
@durability_option("Default durability of writes")
@click.option("--default-ttl", type=click.FloatRange(min=0, min_open=True),
              help="Seconds until records expire unless a write says otherwise.")
@click.option("--kind", type=click.Choice(["kv", "counter"]), default="kv", show_default=True,
              help="kv: last-writer-wins records; counter: 64-bit counters "
                   "(`manhattan counter add|get`).")
@output_option
@click.pass_context
def dataset_create(ctx: click.Context, name: str, tenant_name: str, replication_factor: int,
                   read_consistency: Consistency, write_consistency: Consistency,
                   durability: Durability, default_ttl: float | None, kind: str,
                   output: str) -> None:
    """Create dataset NAME owned by a tenant."""
    with connect(ctx) as client:
        info = client.admin.create_dataset(
            name, tenant=tenant_name, replication_factor=replication_factor,
            read_consistency=read_consistency, write_consistency=write_consistency,
            durability=durability, default_ttl=default_ttl, kind=kind,
        )
    render([dataset_row(info)], output, record=True)


@dataset.command("list")
@click.option("--tenant", "tenant_name", help="Only this tenant's datasets (admin).")
@output_option
@click.pass_context
def dataset_list(ctx: click.Context, tenant_name: str | None, output: str) -> None:
    """List datasets (a tenant token sees only its own)."""
    with connect(ctx) as client:
        infos = client.admin.list_datasets(tenant_name)
    render([dataset_row(i) for i in infos], output, empty="no datasets")


_owner_option = click.option(
    "--tenant", "tenant_name", default=None,
    help="Owning tenant (needed when several tenants own a dataset of this name).")


@dataset.command("drop")
@click.argument("name")
@_owner_option
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.pass_context
def dataset_drop(ctx: click.Context, name: str, tenant_name: str | None, yes: bool) -> None:
    """Drop dataset NAME and every record in it."""
    if not yes:
        click.confirm(f"Drop dataset {name!r} and all its records?", abort=True)
    with connect(ctx) as client:
        client.admin.drop_dataset(name, tenant=tenant_name)
    click.echo(f"dropped dataset {name}" + (f" of tenant {tenant_name}" if tenant_name else ""))


def _limit_options(func):
    """--ops-per-second, --bytes-per-second, --storage-quota, --burst-seconds (each optional)."""
    for flag, kind, help_text in reversed((
        ("--ops-per-second", click.FloatRange(min=0), "Operations per second, cluster-wide "
         "(0 = unlimited)."),
        ("--bytes-per-second", click.FloatRange(min=0), "Bytes per second, cluster-wide "
         "(0 = unlimited)."),
        ("--storage-quota", click.IntRange(min=0), "Bytes stored, one copy (0 = unlimited)."),
        ("--burst-seconds", click.FloatRange(min=0, min_open=True),
         "Seconds' worth of the rate that may be spent at once (default 1)."),
    )):
        func = click.option(flag, type=kind, default=None, help=help_text)(func)
    return func


def limits_row(scope: str, limits) -> dict[str, object]:
    """Limits as a table/JSON row (0 shown as unlimited in tables)."""
    return {"scope": scope, "ops_per_second": limits.ops_per_second,
            "bytes_per_second": limits.bytes_per_second,
            "storage_quota_bytes": limits.storage_quota_bytes,
            "burst_seconds": limits.burst_seconds}


def _set_limits(ctx: click.Context, output: str, **kwargs) -> None:
    changes = {k: kwargs.pop(k) for k in ("ops_per_second", "bytes_per_second",
                                          "storage_quota", "burst_seconds")}
    if all(v is None for v in changes.values()):
        raise click.UsageError("give at least one of --ops-per-second, --bytes-per-second, "
                               "--storage-quota, --burst-seconds")
    with connect(ctx) as client:
        limits = client.admin.set_limits(
            **kwargs, ops_per_second=changes["ops_per_second"],
            bytes_per_second=changes["bytes_per_second"],
            storage_quota_bytes=changes["storage_quota"], burst_seconds=changes["burst_seconds"])
    scope = (f"dataset {kwargs['dataset']}" if kwargs.get("dataset")
             else f"tenant {kwargs['tenant']}")
    render([limits_row(scope, limits)], output, record=True)


@tenant.command("limits")
@click.argument("name")
@_limit_options
@output_option
@click.pass_context
def tenant_limits(ctx: click.Context, name: str, ops_per_second: float | None,
                  bytes_per_second: float | None, storage_quota: int | None,
                  burst_seconds: float | None, output: str) -> None:
    """Set rate limits and the storage quota of tenant NAME (unnamed limits stay)."""
    _set_limits(ctx, output, tenant=name, ops_per_second=ops_per_second,
                bytes_per_second=bytes_per_second, storage_quota=storage_quota,
                burst_seconds=burst_seconds)


@dataset.command("limits")
@click.argument("name")
@_owner_option
@_limit_options
@output_option
@click.pass_context
def dataset_limits(ctx: click.Context, name: str, tenant_name: str | None,
                   ops_per_second: float | None, bytes_per_second: float | None,
                   storage_quota: int | None, burst_seconds: float | None, output: str) -> None:
    """Set rate limits and the storage quota of dataset NAME (unnamed limits stay)."""
    _set_limits(ctx, output, dataset=name, tenant=tenant_name, ops_per_second=ops_per_second,
                bytes_per_second=bytes_per_second, storage_quota=storage_quota,
                burst_seconds=burst_seconds)


@tenant.command("show")
@click.argument("name")
@output_option
@click.pass_context
def tenant_show(ctx: click.Context, name: str, output: str) -> None:
    """Tenant NAME: its limits, its datasets' limits and its tokens."""
    with connect(ctx) as client:
        info = client.admin.describe_tenant(name)
    rows = [limits_row(f"tenant {name}", info.limits)]
    rows += [limits_row(f"dataset {d}", lim) for d, lim in sorted(info.dataset_limits.items())]
    tokens = [{"token_id": t.token_id, "read_only": t.read_only,
               "datasets": ",".join(t.datasets) if t.datasets else "*",
               "created_at_ms": t.created_at_ms, "expires_at_ms": t.expires_at_ms}
              for t in info.tokens]
    if output == "json":
        render([{"tenant": name, "created_at_ms": info.tenant.created_at_ms, "limits": rows,
                 "tokens": tokens}], output)
        return
    render(rows, output, title=f"tenant {name} (created {utc_ms(info.tenant.created_at_ms)} UTC)")
    click.echo()
    render(tokens, output, title="tokens", empty="no tokens")
