"""A 3-node cluster and in-process social services on it, each in its own namespace."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from manhattan.client import AsyncClient
from manhattan.node.local_cluster import LocalCluster
from manhattan.services.config import SocialConfig
from manhattan.services.leases import LeaseTiming
from manhattan.services.social import Social, ensure_schema
from tests.loop_thread import LoopThread

_namespaces = itertools.count(1)
FAST_LEASES = LeaseTiming(ttl_ms=20_000, validity_ms=5_000)


def fresh_config(**overrides: Any) -> SocialConfig:
    """A config in a namespace no other test uses, with fast leases."""
    name = f"s{next(_namespaces)}"
    defaults: dict[str, Any] = {"tenant": name, "namespace": name, "lease": FAST_LEASES,
                                "poll_interval_s": 0.02}
    return SocialConfig(**{**defaults, **overrides})


async def _open(local: LocalCluster, config: SocialConfig, workers: bool) -> Social:
    async with AsyncClient(local.endpoints, token=local.admin_token) as admin:
        token = await ensure_schema(admin, config)
    client = AsyncClient(local.endpoints, token=token)
    social = Social(client, config)
    await social.start(workers=workers)
    return social


async def _close(social: Social) -> None:
    await social.stop()
    await social.client.close()


@contextmanager
def running_social(local: LocalCluster, runner: LoopThread, config: SocialConfig | None = None,
                   *, workers: bool = True) -> Iterator[Social]:
    """A started Social (tenant, datasets, leases, workers) that is always stopped."""
    social = runner.run(_open(local, config or fresh_config(), workers))
    try:
        yield social
    finally:
        runner.run(_close(social))


async def all_home(social: Social, user: str, page_size: int) -> list[int]:
    """Every id of ``user``'s home timeline, walking the pages."""
    ids: list[int] = []
    cursor = b""
    for _ in range(10_000):
        page = await social.home_timeline(user, limit=page_size, cursor=cursor)
        ids += [t.id for t in page.tweets]
        if not page.cursor:
            return ids
        cursor = page.cursor
    raise AssertionError("home timeline did not end")
