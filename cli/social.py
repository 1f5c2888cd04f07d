"""The social service from the command line: serve it, post, follow, read timelines, IDs.

Commands find the service from ``--social HOST:PORT``, then ``MANHATTAN_SOCIAL``,
then ``social.toml`` next to the cluster file (``manhattan social serve`` and
``make run`` write it), so local use needs no flags. Its API token likewise comes from
``--social-token``, then ``MANHATTAN_SOCIAL_TOKEN``, then ``api_token`` in social.toml.
"""

from __future__ import annotations

import asyncio
import base64
import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TypeVar

import click

from manhattan.cli.context import DEFAULT_CLUSTER_FILE, CliSettings, output_option, render
from manhattan.client import ManhattanError
from manhattan.services.client import SocialClient
from manhattan.services.snowflake import decode

F = TypeVar("F", bound=Callable[..., Any])


def _social_file(settings: CliSettings) -> Path:
    from manhattan.services.server import SOCIAL_FILE
    cluster_file = settings.cluster_file or DEFAULT_CLUSTER_FILE
    return cluster_file.parent / SOCIAL_FILE


def _keep_token(ctx: click.Context, _param: click.Parameter, value: str | None) -> None:
    ctx.meta["social_token"] = value


def social_option(func: F) -> F:
    func = click.option("--social-token", envvar="MANHATTAN_SOCIAL_TOKEN", expose_value=False,
                        callback=_keep_token,
                        help="The social service's API token [env MANHATTAN_SOCIAL_TOKEN; "
                             "default from data/social.toml].")(func)
    return click.option("--social", "social_endpoint", envvar="MANHATTAN_SOCIAL",
                        help="Social service host:port [env MANHATTAN_SOCIAL; default from "
                             "data/social.toml].")(func)


@contextmanager
def social_client(ctx: click.Context, endpoint: str | None) -> Iterator[SocialClient]:
    """A SocialClient for this command; service errors become clean CLI errors."""
    settings: CliSettings = ctx.find_object(CliSettings)
    token = ctx.meta.get("social_token")
    path = _social_file(settings)
    if (not endpoint or not token) and path.exists():
        from manhattan.services.server import read_social_file
        saved = read_social_file(path)
        endpoint = endpoint or str(saved.get("endpoint", "")) or None
        token = token or str(saved.get("api_token", "")) or None
    if not endpoint:
        raise click.ClickException(
            "no social service to talk to: pass --social HOST:PORT, set MANHATTAN_SOCIAL, or "
            "run where data/social.toml exists (make run / manhattan social serve write it)")
    if not token:
        raise click.ClickException(
            "no social API token: pass --social-token, set MANHATTAN_SOCIAL_TOKEN, or run "
            "where data/social.toml exists (it holds api_token)")
    try:
        with SocialClient(endpoint, token=token, timeout=settings.timeout) as client:
            yield client
    except ManhattanError as exc:
        raise click.ClickException(f"{type(exc).__name__}: {exc.message or exc}") from None


def _when(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def _tweet_row(tweet) -> dict[str, Any]:
    row = {"id": tweet.id, "author": tweet.author, "text": tweet.text,
           "time": _when(tweet.created_at_ms)}
    if tweet.reply_to:
        row["reply_to"] = tweet.reply_to
    return row


def _cursor(raw: str | None) -> bytes | None:
    if not raw:
        return None
    try:
        return base64.urlsafe_b64decode(raw.encode())
    except (ValueError, TypeError):
        raise click.BadParameter("not a cursor printed by this command", param_hint="--cursor")


def _cursor_text(cursor: bytes | None) -> str | None:
    """A page cursor as the user passes it back with --cursor."""
    return base64.urlsafe_b64encode(cursor).decode() if cursor else None


def _show_page(page, output: str, title: str) -> None:
    cursor = _cursor_text(page.cursor)
    if output == "json":
        render([{"tweets": [_tweet_row(t) for t in page.tweets], "next_cursor": cursor,
                 "status": "rebuilding" if page.rebuilding else "ready"}], output)
        return
    if page.rebuilding:
        click.echo("(timeline is being rebuilt after inactivity; this page is complete)")
    render([_tweet_row(t) for t in page.tweets], output, title=title, empty="(no tweets)")
    if cursor:
        click.echo(f"more: --cursor {cursor}")


# -- serving ----------------------------------------------------------------------------------

@click.group()
def social() -> None:
    """Run and inspect the social service (tweets, graph, timelines)."""


@social.command("serve")
@click.option("--listen", default="127.0.0.1:7110", show_default=True)
@click.option("--celebrity-threshold", type=click.IntRange(min=1), default=10_000,
              show_default=True, help="Followers above which tweets are merged at read.")
@click.option("--timeline-cap", type=click.IntRange(1, 10_000), default=800, show_default=True)
@click.option("--inactive-after", type=click.FloatRange(min=1), default=30 * 86400.0,
              show_default=True, help="Seconds unseen before a user's timeline is rebuilt.")
@click.option("--datacenter", type=click.IntRange(0, 31), default=0, show_default=True)
@click.option("--namespace", default="social", show_default=True,
              help="Dataset name prefix (and tenant name).")
@click.option("--fanout-batch", type=click.IntRange(1, 1000), default=500, show_default=True,
              help="Followers per fan-out batch (one checkpoint each).")
@click.option("--lease-validity", type=click.FloatRange(0.5, 60), default=10.0,
              show_default=True,
              help="Seconds a worker-id or queue-shard lease is trusted; a new holder waits "
                   "this long before using one (shorter: faster start, less clock-skew "
                   "margin).")
@click.option("--log-level", type=click.Choice(["debug", "info", "warning", "error"]),
              default="info", show_default=True, help="Log to stderr from this level on.")
@click.option("--api-token", envvar="MANHATTAN_SOCIAL_TOKEN", default=None,
              help="The token callers must present [env MANHATTAN_SOCIAL_TOKEN; default: the "
                   "one in data/social.toml, else a new random one, saved there].")
@click.pass_context
def serve_command(ctx: click.Context, listen: str, celebrity_threshold: int, timeline_cap: int,
                  inactive_after: float, datacenter: int, namespace: str,
                  fanout_batch: int, lease_validity: float, log_level: str,
                  api_token: str | None) -> None:
    """Serve the Social API and run the fan-out workers until Ctrl-C / SIGTERM."""
    from manhattan.node.logs import configure_logging
    from manhattan.services.config import SocialConfig
    from manhattan.services.leases import LeaseTiming
    from manhattan.services.server import serve

    settings: CliSettings = ctx.find_object(CliSettings)
    endpoints, token = settings.resolve()
    config = SocialConfig(tenant=namespace, namespace=namespace,
                          celebrity_threshold=celebrity_threshold, timeline_cap=timeline_cap,
                          inactive_after_s=inactive_after, datacenter=datacenter,
                          fanout_batch=fanout_batch,
                          lease=LeaseTiming(ttl_ms=int(lease_validity * 3000),
                                            validity_ms=int(lease_validity * 1000)))
    data_dir = _social_file(settings).parent
    configure_logging(0, level=log_level)  # (node id 0: the service, in structured logs)

    async def main() -> None:
        stopping = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stopping.set)
        await serve(endpoints, token, listen=listen, data_dir=data_dir, config=config,
                    stopping=stopping, tls=settings.tls(), api_token=api_token,
                    on_ready=lambda s: click.echo(f"social service on {s.address}", err=True))

    try:
        asyncio.run(main())
    except (ManhattanError, OSError, ValueError) as exc:
        raise click.ClickException(f"cannot serve: {exc}") from None


@social.command("stats")
@social_option
@output_option
@click.pass_context
def stats_command(ctx: click.Context, social_endpoint: str | None, output: str) -> None:
    """Fan-out backlog and lag, deliveries, the ID generator's worker."""
    with social_client(ctx, social_endpoint) as client:
        render([asdict(client.stats())], output, record=True, headers={
            "fanout_pending": "fan-out jobs pending", "fanout_lag_ms": "fan-out lag (ms)",
            "deliveries": "timeline deliveries", "jobs_done": "fan-out jobs done",
            "celebrity_threshold": "celebrity above (followers)",
            "worker": "id worker", "ids_issued": "ids issued",
            "clock_backward_errors": "clock-back errors", "fanout_paused": "fan-out paused"})


@social.command("fanout")
@click.argument("action", type=click.Choice(["pause", "resume"]))
@social_option
@click.pass_context
def fanout_command(ctx: click.Context, action: str, social_endpoint: str | None) -> None:
    """Pause or resume the service's fan-out workers (posts are still taken and queued;
    a resumed worker delivers what waits)."""
    with social_client(ctx, social_endpoint) as client:
        paused = client.set_fanout(paused=action == "pause")
    click.echo(f"fan-out {'paused' if paused else 'running'}")


# -- users, graph, tweets ---------------------------------------------------------------------

@click.group()
def user() -> None:
    """Create and show users of the social service."""


@user.command("create")
@click.argument("name")
@social_option
@output_option
@click.pass_context
def user_create(ctx: click.Context, name: str, social_endpoint: str | None, output: str) -> None:
    """Register NAME (1-15 letters, digits or '_')."""
    with social_client(ctx, social_endpoint) as client:
        render([asdict(client.create_user(name))], output, record=True)


@user.command("show")
@click.argument("name")
@social_option
@output_option
@click.pass_context
def user_show(ctx: click.Context, name: str, social_endpoint: str | None, output: str) -> None:
    """NAME's follower, following and tweet counts and celebrity flag."""
    with social_client(ctx, social_endpoint) as client:
        render([asdict(client.user(name))], output, record=True)


@click.group()
def tweet() -> None:
    """Post, show and delete tweets."""


@tweet.command("post")
@click.argument("author")
@click.argument("text")
@click.option("--reply-to", type=click.IntRange(min=1), help="Id of the tweet replied to.")
@social_option
@output_option
@click.pass_context
def tweet_post(ctx: click.Context, author: str, text: str, reply_to: int | None,
               social_endpoint: str | None, output: str) -> None:
    """Post TEXT (1-280 characters) as AUTHOR; prints the new tweet's id."""
    with social_client(ctx, social_endpoint) as client:
        render([_tweet_row(client.post(author, text, reply_to or 0))], output, record=True)


@tweet.command("get")
@click.argument("tweet_id", type=click.IntRange(min=1))
@social_option
@output_option
@click.pass_context
def tweet_get(ctx: click.Context, tweet_id: int, social_endpoint: str | None,
              output: str) -> None:
    """Show one tweet."""
    with social_client(ctx, social_endpoint) as client:
        render([_tweet_row(client.tweet(tweet_id))], output, record=True)


@tweet.command("delete")
@click.argument("tweet_id", type=click.IntRange(min=1))
@social_option
@click.pass_context
def tweet_delete(ctx: click.Context, tweet_id: int, social_endpoint: str | None) -> None:
    """Delete a tweet (timelines drop it in the background)."""
    with social_client(ctx, social_endpoint) as client:
        client.delete(tweet_id)
    click.echo(f"deleted {tweet_id}")


def _edge_command(name: str, doc: str) -> click.Command:
    @click.command(name, help=doc)
    @click.argument("follower")
    @click.argument("followee")
    @social_option
    @output_option
    @click.pass_context
    def command(ctx: click.Context, follower: str, followee: str,
                social_endpoint: str | None, output: str) -> None:
        with social_client(ctx, social_endpoint) as client:
            changed = getattr(client, name)(follower, followee)
        render([{"follower": follower, "followee": followee, "changed": changed}], output)
    return command


follow = _edge_command("follow", "FOLLOWER starts following FOLLOWEE (idempotent).")
unfollow = _edge_command("unfollow", "FOLLOWER stops following FOLLOWEE (idempotent).")


def _paged_command(name: str, doc: str, read: Callable[..., Any],
                   show: Callable[[Any, str, str], None], *, maximum: int,
                   default: int) -> click.Command:
    """A command that reads one page about USER (``read(client, user, limit, cursor)``)
    and prints it (``show(page, output, user)``), with --limit and --cursor."""
    @click.command(name, help=doc)
    @click.argument("user_name", metavar="USER")
    @click.option("--limit", type=click.IntRange(1, maximum), default=default,
                  show_default=True)
    @click.option("--cursor", help="Continue where the previous page ended.")
    @social_option
    @output_option
    @click.pass_context
    def command(ctx: click.Context, user_name: str, limit: int, cursor: str | None,
                social_endpoint: str | None, output: str) -> None:
        with social_client(ctx, social_endpoint) as client:
            page = read(client, user_name, limit, _cursor(cursor))
        show(page, output, user_name)
    return command


def _show_users(kind: str) -> Callable[[Any, str, str], None]:
    def show(page, output: str, _user: str) -> None:
        next_cursor = _cursor_text(page.cursor)
        if output == "json":
            render([{"users": page.users, "total": page.total, "next_cursor": next_cursor}],
                   output)
            return
        render([{kind: u} for u in page.users], output, title=f"{page.total} in all",
               empty="(none)")
        if next_cursor:
            click.echo(f"more: --cursor {next_cursor}")
    return show


followers = _paged_command("followers", "Who follows USER (paginated).",
                           lambda c, *a: c.followers(*a), _show_users("followers"),
                           maximum=1000, default=100)
following = _paged_command("following", "Whom USER follows (paginated).",
                           lambda c, *a: c.following(*a), _show_users("following"),
                           maximum=1000, default=100)


@click.group()
def timeline() -> None:
    """Read home and user timelines."""


timeline.add_command(_paged_command(
    "home", "USER's home timeline: followees' tweets, newest first.",
    lambda c, *a: c.home(*a),
    lambda page, output, user: _show_page(page, output, f"home timeline of {user}"),
    maximum=200, default=20))
timeline.add_command(_paged_command(
    "user", "USER's own tweets, newest first.", lambda c, *a: c.user_timeline(*a),
    lambda page, output, user: _show_page(page, output, f"user timeline of {user}"),
    maximum=200, default=20))


# -- ids -------------------------------------------------------------------------------------

@click.group("id")
def id_group() -> None:
    """Snowflake IDs: issue (from the service) and decode (locally)."""


@id_group.command("next")
@click.option("-n", "--count", type=click.IntRange(1, 4096), default=1, show_default=True)
@social_option
@output_option
@click.pass_context
def id_next(ctx: click.Context, count: int, social_endpoint: str | None, output: str) -> None:
    """Issue COUNT new IDs."""
    with social_client(ctx, social_endpoint) as client:
        ids = client.next_ids(count)
    render([{"id": i} for i in ids], output)


@id_group.command("decode")
@click.argument("snowflake", type=click.IntRange(min=0))
@output_option
def id_decode(snowflake: int, output: str) -> None:
    """Split an ID into time, datacenter, worker and sequence."""
    try:
        parts = decode(snowflake)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="SNOWFLAKE") from None
    row = asdict(parts)
    row["time"] = _when(parts.timestamp_ms) + f".{parts.timestamp_ms % 1000:03d} UTC"
    render([row], output, record=True)


COMMANDS = (social, user, tweet, follow, unfollow, followers, following, timeline, id_group)
