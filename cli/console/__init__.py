"""``manhattan console``: a local web page over the cluster (admin token required).

The ring as a picture, nodes with state, load, hints, repair and streaming
updating live, tenants with datasets, limits and rates, a timeline explorer when
the social service is configured, and forms that create tenants and datasets
and set limits through the CLI's own commands. Loopback by default.
"""

from __future__ import annotations

import ipaddress

import click

from manhattan.cli.context import CliSettings

DEFAULT_LISTEN = "127.0.0.1:7180"


def _listen(_ctx: click.Context, _param: click.Parameter, value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise click.BadParameter(f"expected HOST:PORT, got {value!r}")
    return host.strip("[]"), int(port)


def _social_configured(ctx: click.Context, endpoint: str | None) -> bool:
    if endpoint:
        return True
    from manhattan.cli.social import _social_file
    return _social_file(ctx.find_object(CliSettings)).exists()


@click.command("console")
@click.option("--listen", default=DEFAULT_LISTEN, show_default=True, callback=_listen,
              help="HOST:PORT to serve the page on (loopback unless you say otherwise).")
@click.option("--social", "social_endpoint", envvar="MANHATTAN_SOCIAL",
              help="Social service host:port for the timeline explorer [env MANHATTAN_SOCIAL; "
                   "default from data/social.toml].")
@click.pass_context
def console(ctx: click.Context, listen: tuple[str, int], social_endpoint: str | None) -> None:
    """A web console for the cluster on a local page (admin token required)."""
    from aiohttp import web

    from manhattan.cli.console.server import make_app

    host, port = listen
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = host == "localhost"
    if not loopback:
        click.echo(f"warning: serving on {host}, not loopback: anyone who can reach it and "
                   "knows the admin token can administer the cluster", err=True)
    settings: CliSettings = ctx.find_object(CliSettings)
    if social_endpoint:  # the timeline explorer's CLI calls find it in the environment
        import os
        os.environ["MANHATTAN_SOCIAL"] = social_endpoint
    try:
        app = make_app(settings, social=_social_configured(ctx, social_endpoint))
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"console on http://{host}:{port}/ (Ctrl-C stops it)", err=True)
    web.run_app(app, host=host, port=port, print=None, handle_signals=True)
