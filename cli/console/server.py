"""The console's HTTP side (aiohttp): the page, a JSON API, the admin token check.

The page and its script are static files shipped in the package (no build step,
nothing fetched from elsewhere). Every /api call needs ``Authorization: Bearer
<admin token>``, compared in constant time with the token the console was
started with; the page asks for it once and keeps it in the tab's session
storage. Reads poll (the page asks every second); writes run the CLI command of
the same name, so validation and errors are the command line's own.
"""

from __future__ import annotations

import asyncio
import hmac
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp import web

from manhattan.cli.console.views import CliOutcome, Views, cli_call
from manhattan.cli.context import CliSettings
from manhattan.client import ManhattanError

STATIC = Path(__file__).with_name("static")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
VIEWS = web.AppKey("views", Views)
TOKEN = web.AppKey("token", str)
SOCIAL = web.AppKey("social", bool)


@web.middleware
async def _admin_only(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.path.startswith("/api/"):
        given = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        if not hmac.compare_digest(given.encode(), request.app[TOKEN].encode()):
            return web.json_response({"error": "the admin token is required"}, status=401)
    return await handler(request)


def _answer(outcome: CliOutcome) -> web.Response:
    if not outcome.ok:
        return web.json_response({"error": outcome.error.strip()}, status=400)
    return web.json_response({"result": json.loads(outcome.output or "null")})


async def _in_thread(request: web.Request, call: Callable[[], Any]) -> web.Response:
    try:
        result = await asyncio.to_thread(call)
    except ManhattanError as exc:
        return web.json_response({"error": f"{type(exc).__name__}: {exc.message or exc}"},
                                 status=502)
    if isinstance(result, CliOutcome):
        return _answer(result)
    return web.json_response(result)


async def index(_request: web.Request) -> web.FileResponse:
    return web.FileResponse(STATIC / "index.html")


async def config(request: web.Request) -> web.Response:
    return web.json_response({"social": request.app[SOCIAL]})


async def cluster(request: web.Request) -> web.Response:
    return await _in_thread(request, request.app[VIEWS].cluster)


async def tenants(request: web.Request) -> web.Response:
    return await _in_thread(request, request.app[VIEWS].tenants)


async def timeline(request: web.Request) -> web.Response:
    user = request.query.get("user", "")
    limit = request.query.get("limit", "20")
    return await _in_thread(request, lambda: request.app[VIEWS].timeline(user, int(limit)
                                                                         if limit.isdigit()
                                                                         else 20))


def _flags(body: dict[str, Any], names: dict[str, str]) -> list[str]:
    """CLI flags for the non-empty fields of a form (values passed as typed)."""
    args: list[str] = []
    for field, flag in names.items():
        value = body.get(field)
        if value not in (None, ""):
            args += [flag, str(value)]
    return args


async def _cli(request: web.Request, args_of: Callable[[dict[str, Any]], list[str]]
               ) -> web.Response:
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return web.json_response({"error": "the request body must be a JSON object"},
                                 status=400)
    if not isinstance(body, dict):
        return web.json_response({"error": "the request body must be a JSON object"},
                                 status=400)
    args = [*args_of(body), "-o", "json"]
    settings = request.app[VIEWS].settings
    return await _in_thread(request, lambda: cli_call(settings, args))


LIMIT_FLAGS = {"ops_per_second": "--ops-per-second", "bytes_per_second": "--bytes-per-second",
               "storage_quota": "--storage-quota", "burst_seconds": "--burst-seconds"}


async def create_tenant(request: web.Request) -> web.Response:
    return await _cli(request, lambda b: ["tenant", "create", str(b.get("name", ""))])


async def create_dataset(request: web.Request) -> web.Response:
    return await _cli(request, lambda b: ["dataset", "create", str(b.get("name", "")),
                                          *_flags(b, {"tenant": "--tenant",
                                                      "replication_factor": "--rf",
                                                      "read_consistency": "--read-consistency",
                                                      "write_consistency": "--write-consistency",
                                                      "durability": "--durability",
                                                      "default_ttl": "--default-ttl"})])


async def set_limits(request: web.Request) -> web.Response:
    def args(body: dict[str, Any]) -> list[str]:
        scope = "dataset" if body.get("scope") == "dataset" else "tenant"
        return [scope, "limits", str(body.get("name", "")), *_flags(body, LIMIT_FLAGS)]
    return await _cli(request, args)


def make_app(settings: CliSettings, *, social: bool) -> web.Application:
    """The console application for the cluster ``settings`` reach."""
    _, token = settings.resolve()
    if not token:
        raise ValueError("the console needs the admin token (--token, MANHATTAN_TOKEN or "
                         "the cluster file)")
    app = web.Application(middlewares=[_admin_only], client_max_size=64 * 1024)
    app[VIEWS] = Views(settings)
    app[TOKEN] = token
    app[SOCIAL] = social
    app.router.add_get("/", index)
    app.router.add_static("/static/", STATIC)
    app.router.add_get("/api/config", config)
    app.router.add_get("/api/cluster", cluster)
    app.router.add_get("/api/tenants", tenants)
    app.router.add_get("/api/timeline", timeline)
    app.router.add_post("/api/tenants", create_tenant)
    app.router.add_post("/api/datasets", create_dataset)
    app.router.add_post("/api/limits", set_limits)

    async def close_views(app: web.Application) -> None:
        await asyncio.to_thread(app[VIEWS].close)

    app.on_cleanup.append(close_views)
    return app
