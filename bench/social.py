"""Service-layer suite: Snowflake IDs, fan-out, home-timeline pages, post latency.

* Snowflake IDs per second, one thread: ``next_id()`` (target >= 1M/s) and
  ``next_ids(4096)`` against the 4,096 IDs/ms ceiling of one worker (target 0.9x).
* On a 3-node local cluster (RF=3, QUORUM) with an in-process ``Social`` (the
  service and its fan-out workers share one process, as in ``social serve``):
  - fan-out deliveries/s: an author with ``FOLLOWERS`` followers posts
    ``TWEETS`` tweets; deliveries over the time from the first post until the
    queue is empty (target >= 30,000/s);
  - home-timeline pages/s: pages of 50 hydrated entries for followers who also
    follow a celebrity (merged at read), 8 readers at once;
  - post latency p50/p99 (author check, ID, three durable writes; no fan-out).
Nothing is asserted; figures are reported.
"""

from __future__ import annotations

import asyncio
import math
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from manhattan.bench.common import Result, Settings, percentile_us
from manhattan.client import AsyncClient, Put
from manhattan.node.local_cluster import LocalCluster
from manhattan.services.config import SocialConfig
from manhattan.services.leases import LeaseTiming, wall_ms
from manhattan.services.schema import PROFILE, SEEN
from manhattan.services.snowflake import IDS_PER_MS, SnowflakeGenerator
from manhattan.services.social import Social, ensure_schema

NAME = "social"
TITLE = "Service layer (Snowflake in-process; fan-out and timelines on 3 nodes, RF=3, QUORUM)"
FOLLOWERS, QUICK_FOLLOWERS = 5_000, 1_000
TWEETS, QUICK_TWEETS = 16, 8
READERS = 200
PAGE = 50
Progress = Callable[[str], None]


def _rate_row(name: str, count: int, seconds: float, latencies_ns: list[int] | None = None, *,
              unit: str = "ops", note: str = "", target_rate: float | None = None) -> Result:
    ordered = sorted(latencies_ns or [])
    return Result(suite=NAME, name=name, unit=unit, calls=len(ordered) or 1, records=count,
                  seconds=seconds, ops_per_s=count / seconds if seconds else 0.0,
                  p50_us=percentile_us(ordered, 0.5) if ordered else math.nan,
                  p99_us=percentile_us(ordered, 0.99) if ordered else math.nan,
                  per_call="op" if ordered else "run", target_rate=target_rate, note=note)


def _snowflake(settings: Settings) -> list[Result]:
    seconds = 0.5 if settings.quick else 2.0
    generator = SnowflakeGenerator(0, 1)
    count, start = 0, time.perf_counter()
    deadline = start + seconds
    while time.perf_counter() < deadline:
        for _ in range(10_000):
            generator.next_id()
        count += 10_000
    single = _rate_row("Snowflake next_id", count, time.perf_counter() - start,
                       note="one thread", target_rate=1_000_000)
    count, start = 0, time.perf_counter()
    deadline = start + seconds
    while time.perf_counter() < deadline:
        count += len(generator.next_ids(IDS_PER_MS))
    batched = _rate_row("Snowflake next_ids(4096)", count, time.perf_counter() - start,
                        note="one thread")
    ceiling = Result(suite=NAME, name="ceiling: 4,096 IDs/ms/worker", unit="ops", calls=1,
                     records=IDS_PER_MS * 1000, seconds=1.0, ops_per_s=IDS_PER_MS * 1000.0,
                     p50_us=math.nan, p99_us=math.nan, per_call="run", is_baseline=True)
    batched.baseline, batched.target = ceiling.name, 0.9
    batched.ratio = batched.ops_per_s / ceiling.ops_per_s
    return [ceiling, single, batched]


async def _bulk_users(social: Social, names: list[str], follow: str | None) -> None:
    now = str(wall_ms())
    for start in range(0, len(names), 400):
        chunk = names[start:start + 400]
        await social.users.data.put_many([Put(n, PROFILE, b"{}") for n in chunk])
        # last visit: in the home partition, where fan-out and the page read it
        await social.home.data.put_many([Put(n, SEEN, now) for n in chunk])
        if follow:
            await social.graph.following.put_many([Put(n, follow, b"") for n in chunk])
            await social.graph.followers.put_many([Put(follow, n, b"") for n in chunk])


async def _cluster_cases(local: LocalCluster, settings: Settings, progress: Progress
                         ) -> list[Result]:
    config = SocialConfig(lease=LeaseTiming(validity_ms=3_000))
    async with AsyncClient(local.endpoints, token=local.admin_token) as admin:
        token = await ensure_schema(admin, config)
    followers = QUICK_FOLLOWERS if settings.quick else FOLLOWERS
    tweets = QUICK_TWEETS if settings.quick else TWEETS
    async with AsyncClient(local.endpoints, token=token) as client:
        social = Social(client, config)
        await social.start()
        try:
            progress(f"creating an author with {followers} followers and a celebrity")
            await social.create_user("author")
            await social.create_user("star")
            names = [f"f{i:05d}" for i in range(followers)]
            await _bulk_users(social, names, "author")
            await social.graph.promote("star")
            await social.graph.following.put_many([Put(n, "star", b"") for n in names[:READERS]])
            for i in range(20):
                await social.post("star", f"star {i}")

            progress(f"fan-out: {tweets} tweets x {followers} followers")
            await social.drain(timeout=300)
            start = time.perf_counter()
            for i in range(tweets):
                await social.post("author", f"tweet {i}")
            await social.drain(timeout=600)
            fanout_s = time.perf_counter() - start
            fanout = _rate_row("fan-out deliveries into home timelines", followers * tweets,
                               fanout_s, unit="records", target_rate=30_000,
                               note=f"{tweets} posts x {followers} followers, post to drained")

            progress("home-timeline pages (50 hydrated, celebrity merged)")
            seconds = 1.0 if settings.quick else settings.seconds
            latencies: list[int] = []
            deadline = time.perf_counter() + seconds

            async def reader(offset: int) -> None:
                i = offset
                while time.perf_counter() < deadline:
                    t0 = time.perf_counter_ns()
                    page = await social.home_timeline(names[i % READERS], limit=PAGE)
                    latencies.append(time.perf_counter_ns() - t0)
                    assert page.tweets
                    i += 8
            start = time.perf_counter()
            await asyncio.gather(*(reader(k) for k in range(8)))
            pages = _rate_row(f"home-timeline pages of {PAGE}", len(latencies),
                              time.perf_counter() - start, latencies,
                              note="8 concurrent readers; each page merges a celebrity")

            progress("post latency")
            latencies = []
            posts = 30 if settings.quick else 200
            start = time.perf_counter()
            for i in range(posts):
                t0 = time.perf_counter_ns()
                await social.post(names[i % followers], f"post {i}")
                latencies.append(time.perf_counter_ns() - t0)
            post = _rate_row("post (sequential)", posts, time.perf_counter() - start, latencies,
                             note="author check + ID + 3 durable QUORUM writes")
            return [fanout, pages, post]
        finally:
            await social.stop()


def run(settings: Settings, progress: Progress = lambda _msg: None,
        workdir: Path | None = None) -> list[Result]:
    results = _snowflake(settings)
    with tempfile.TemporaryDirectory(prefix="manhattan-bench-social-", dir=workdir) as tmp:
        local = LocalCluster(Path(tmp) / "cluster", nodes=3, base_port=None)
        try:
            progress("starting 3 nodes")
            local.start().wait_converged()
            results += asyncio.run(_cluster_cases(local, settings, progress))
        finally:
            local.stop()
    return results
