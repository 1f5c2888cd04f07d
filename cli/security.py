"""``manhattan token create|list|revoke|rotate``, ``manhattan audit`` (admin token) and
``manhattan certs init``."""

from __future__ import annotations

from pathlib import Path

import click

from manhattan.cli.context import connect, output_option, render
from manhattan.client import TokenInfo
from manhattan.security.certs import init_dev_certs


def token_row(info: TokenInfo) -> dict[str, object]:
    """One token as a table/JSON row."""
    return {"token_id": info.token_id, "tenant": info.tenant, "read_only": info.read_only,
            "datasets": ",".join(info.datasets) if info.datasets else "*",
            "created_at_ms": info.created_at_ms, "expires_at_ms": info.expires_at_ms}


def _show_new(token: str, info: TokenInfo, output: str, verb: str) -> None:
    if output == "json":
        render([{**token_row(info), "token": token}], output, record=True)
    else:
        click.echo(f"{verb} token {info.token_id} for tenant {info.tenant}")
        click.echo(f"token (store it now, it is not shown again): {token}")


@click.group()
def token() -> None:
    """Manage tenant tokens (admin token)."""


@token.command("create")
@click.argument("tenant")
@click.option("--read-only", is_flag=True, help="The token may read but not write.")
@click.option("--dataset", "datasets", multiple=True,
              help="Limit the token to this dataset (repeatable; default: all of the tenant's).")
@output_option
@click.pass_context
def token_create(ctx: click.Context, tenant: str, read_only: bool, datasets: tuple[str, ...],
                 output: str) -> None:
    """Create a token for TENANT and print it (shown only this once)."""
    with connect(ctx) as client:
        secret, info = client.admin.create_token(tenant, read_only=read_only,
                                                 datasets=list(datasets) or None)
    _show_new(secret, info, output, "created")


@token.command("list")
@click.option("--tenant", help="Only this tenant's tokens.")
@output_option
@click.pass_context
def token_list(ctx: click.Context, tenant: str | None, output: str) -> None:
    """List tokens (ids and scopes; never the secrets)."""
    with connect(ctx) as client:
        infos = client.admin.list_tokens(tenant)
    render([token_row(i) for i in infos], output, empty="no tokens")


@token.command("revoke")
@click.argument("token_id")
@click.pass_context
def token_revoke(ctx: click.Context, token_id: str) -> None:
    """Revoke token TOKEN_ID on every node."""
    with connect(ctx) as client:
        client.admin.revoke_token(token_id)
    click.echo(f"revoked token {token_id}")


@token.command("rotate")
@click.argument("token_id")
@click.option("--grace", type=click.FloatRange(min=0), default=0.0, show_default=True,
              help="Seconds the old token keeps working.")
@output_option
@click.pass_context
def token_rotate(ctx: click.Context, token_id: str, grace: float, output: str) -> None:
    """Replace token TOKEN_ID by a new one with the same scope."""
    with connect(ctx) as client:
        secret, info = client.admin.rotate_token(token_id, grace=grace)
    _show_new(secret, info, output, "rotated into")


@click.command()
@click.option("--limit", type=click.IntRange(1, 10_000), default=50, show_default=True)
@click.option("--since-ms", type=click.IntRange(min=0), default=0,
              help="Only actions at or after this time (ms since the epoch).")
@output_option
@click.pass_context
def audit(ctx: click.Context, limit: int, since_ms: int, output: str) -> None:
    """Admin actions of every node, newest first."""
    with connect(ctx) as client:
        entries = client.admin.audit_log(limit=limit, since_ms=since_ms)
    render([{"at_ms": e.at_ms, "node": e.node_id, "actor": e.actor, "action": e.action,
             "target": e.target, "detail": e.detail} for e in entries], output,
           empty="no admin actions recorded")


@click.group()
def certs() -> None:
    """Development certificates for TLS."""


@certs.command("init")
@click.option("--dir", "directory", type=click.Path(file_okay=False, path_type=Path),
              default=Path("data") / "certs", show_default=True)
@click.option("--nodes", type=click.IntRange(1, 31), default=3, show_default=True)
@click.option("--host", "hosts", multiple=True, default=("127.0.0.1",), show_default=True,
              help="Host name or IP the nodes are dialled at (repeatable).")
@output_option
def certs_init(directory: Path, nodes: int, hosts: tuple[str, ...], output: str) -> None:
    """A development CA, node1..nodeN certificates and a client certificate (existing
    files are kept). Point [tls] ca/cert/key of each node at them."""
    pairs = init_dev_certs(directory, nodes=nodes, hosts=list(hosts))
    render([{"name": name, "cert": str(pair.cert), "key": str(pair.key)}
            for name, pair in pairs.items()], output)
