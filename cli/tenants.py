"""``manhattan tenant create|list`` and ``manhattan dataset create|list|drop``."""

from __future__ import annotations

import click

from manhattan.cli.context import (
    connect, consistency_option, durability_option, output_option, render,
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
    render([{"name": t.name, "created_at_ms": t.created_at_ms} for t in tenants], output,
           empty="no tenants")


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
@output_option
@click.pass_context
def dataset_create(ctx: click.Context, name: str, tenant_name: str, replication_factor: int,
                   read_consistency: Consistency, write_consistency: Consistency,
                   durability: Durability, default_ttl: float | None, output: str) -> None:
    """Create dataset NAME owned by a tenant."""
    with connect(ctx) as client:
        info = client.admin.create_dataset(
            name, tenant=tenant_name, replication_factor=replication_factor,
            read_consistency=read_consistency, write_consistency=write_consistency,
            durability=durability, default_ttl=default_ttl,
        )
    render([dataset_row(info)], output)


@dataset.command("list")
@click.option("--tenant", "tenant_name", help="Only this tenant's datasets (admin).")
@output_option
@click.pass_context
def dataset_list(ctx: click.Context, tenant_name: str | None, output: str) -> None:
    """List datasets (a tenant token sees only its own)."""
    with connect(ctx) as client:
        infos = client.admin.list_datasets(tenant_name)
    render([dataset_row(i) for i in infos], output, empty="no datasets")


@dataset.command("drop")
@click.argument("name")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.pass_context
def dataset_drop(ctx: click.Context, name: str, yes: bool) -> None:
    """Drop dataset NAME and every record in it."""
    if not yes:
        click.confirm(f"Drop dataset {name!r} and all its records?", abort=True)
    with connect(ctx) as client:
        client.admin.drop_dataset(name)
    click.echo(f"dropped dataset {name}")
