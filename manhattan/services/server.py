"""``manhattan social serve``: the Social gRPC service plus its fan-out workers.

Finds the storage cluster like every other command, makes sure the ``social``
tenant and its datasets exist (with the admin token), and writes
``<data-dir>/social.toml`` (endpoint, tenant token and the service's API token, mode
0600) so the CLI finds the service, and may call it, without flags. The API token is
the one given (``--api-token``), else the one saved there, else a new random one: it
stays the same across restarts.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1._async import HealthServicer
from tenacity import (
    AsyncRetrying, RetryCallState, retry_if_exception_type, stop_after_delay,
    wait_exponential,
)

from manhattan.client import AsyncClient, PermissionDenied, Timeout, Unavailable
from manhattan.node.cluster_file import read_cluster_file, write_private_toml
from manhattan.rpc.servicers import add_unary_servicer
from manhattan.proto.v1 import social_pb2
from manhattan.security.tls import TlsFiles
from manhattan.services.config import SocialConfig
from manhattan.services.grpc_service import SocialServicer
from manhattan.services.social import Social, ensure_schema

log = logging.getLogger("manhattan.services")
T = TypeVar("T")
SERVICE_NAME = "manhattan.v1.Social"
SOCIAL_FILE = "social.toml"
MIN_API_TOKEN_CHARS = 16  # a given token; a generated one has 43
# How long a starting service waits for a cluster that is still starting (electing its
# metadata leader, a node catching up) before it gives up.
START_TIMEOUT_S = 90.0


def write_social_file(data_dir: Path, endpoint: str, token: str, api_token: str) -> Path:
    """Where the service listens, the tenant token it uses and the API token its callers
    present (0600, like cluster.toml)."""
    return write_private_toml(Path(data_dir) / SOCIAL_FILE, {
        "endpoint": endpoint, "token": token, "api_token": api_token})


def read_social_file(path: Path) -> dict[str, Any]:
    return read_cluster_file(path)


def social_api_token(data_dir: Path, given: str | None = None) -> str:
    """The API token to serve with: ``given``, else the one social.toml holds, else a new
    random one (the caller saves it)."""
    if given:
        if len(given) < MIN_API_TOKEN_CHARS:
            raise ValueError(f"the social API token must have at least {MIN_API_TOKEN_CHARS} "
                             "characters (make one: python3 -c 'import secrets; "
                             "print(secrets.token_urlsafe(32))')")
        return given
    known = Path(data_dir) / SOCIAL_FILE
    saved = str(read_social_file(known).get("api_token") or "") if known.exists() else ""
    return saved or secrets.token_urlsafe(32)


async def tenant_token(endpoints: list[str], token: str | None, config: SocialConfig,
                       data_dir: Path, tls: TlsFiles | None = None) -> str:
    """The token to run as: the tenant's, created with the admin token on first start."""
    known = data_dir / SOCIAL_FILE
    if token is None:
        raise ValueError("no token: pass the admin token (first start) or the tenant's")
    async with AsyncClient(endpoints, token=token, tls=tls) as client:
        try:
            created = await _while_cluster_starts(lambda: ensure_schema(client, config))
        except PermissionDenied as exc:  # a tenant token cannot create tenants: use it as is
            log.info("not setting up the schema (%s); running with the given token", exc)
            return token
    if created:
        return created
    if known.exists():
        saved = read_social_file(known).get("token")
        if saved:
            return str(saved)
    log.warning("tenant %r exists but its token is not in %s; running with the admin token",
                config.tenant, known)
    return token


async def _while_cluster_starts(step: Callable[[], Awaitable[T]]) -> T:
    """``step()``, run again while the cluster answers "not now" or too late (it is
    still starting), for up to ``START_TIMEOUT_S``. The schema step is safe to run
    again: what exists already is left as it is."""
    def waiting(state: RetryCallState) -> None:
        log.info("waiting for the storage cluster (%.0f s so far): %s",
                 state.seconds_since_start, state.outcome.exception() if state.outcome else "")

    async for attempt in AsyncRetrying(retry=retry_if_exception_type((Unavailable, Timeout)),
                                       stop=stop_after_delay(START_TIMEOUT_S),
                                       wait=wait_exponential(multiplier=0.2, max=3.0),
                                       before_sleep=waiting, reraise=True):
        with attempt:
            return await step()
    raise AssertionError("unreachable: tenacity reraises the last error")


class SocialServer:
    """The service process: ``await start()``, then ``await stop()``."""

    def __init__(self, endpoints: list[str], token: str, *, api_token: str,
                 listen: str = "127.0.0.1:0", config: SocialConfig = SocialConfig(),
                 workers: bool = True, tls: TlsFiles | None = None) -> None:
        self.endpoints = endpoints
        self.token = token
        self.api_token = api_token
        self.listen = listen
        self.config = config
        self.workers = workers
        self.tls = tls  # to the storage cluster; the Social API itself is plaintext
        self.client: AsyncClient | None = None
        self.social: Social | None = None
        self.server: grpc.aio.Server | None = None
        self.health = HealthServicer()
        self.port = 0

    @property
    def address(self) -> str:
        host = self.listen.rsplit(":", 1)[0]
        return f"{host}:{self.port}"

    async def start(self) -> None:
        self.client = AsyncClient(self.endpoints, token=self.token, tls=self.tls)
        self.social = Social(self.client, self.config)
        await self.social.start(workers=self.workers)
        server = grpc.aio.server()
        add_unary_servicer(server, SocialServicer(self.social, self.api_token),
                           social_pb2.DESCRIPTOR.services_by_name["Social"])
        health_pb2_grpc.add_HealthServicer_to_server(self.health, server)
        self.port = server.add_insecure_port(self.listen)
        if not self.port:
            raise OSError(f"cannot listen on {self.listen}")
        await server.start()
        self.server = server
        for name in ("", SERVICE_NAME):
            await self.health.set(name, health_pb2.HealthCheckResponse.SERVING)
        log.info("social service on %s (worker %d)", self.address, self.social.ids.worker)

    async def stop(self, grace: float = 5.0) -> None:
        await self.health.enter_graceful_shutdown()
        if self.server is not None:
            await self.server.stop(grace)
        if self.social is not None:
            await self.social.stop()
        if self.client is not None:
            await self.client.close()


async def serve(endpoints: list[str], token: str | None, *, listen: str, data_dir: Path,
                config: SocialConfig, stopping: asyncio.Event,
                on_ready=None, tls: TlsFiles | None = None,
                api_token: str | None = None) -> None:
    """Run until ``stopping`` is set."""
    run_as = await tenant_token(endpoints, token, config, data_dir, tls)
    server = SocialServer(endpoints, run_as, api_token=social_api_token(data_dir, api_token),
                          listen=listen, config=config, tls=tls)
    await server.start()
    write_social_file(data_dir, server.address, run_as, server.api_token)
    if on_ready is not None:
        on_ready(server)
    try:
        await stopping.wait()
    finally:
        await server.stop()
