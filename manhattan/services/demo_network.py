"""Load the sample network into a running social service (``make run``) once."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

from manhattan.client import AsyncClient, AsyncSocialClient, SocialClient
from manhattan.services import sample
from manhattan.services.config import SocialConfig
from manhattan.services.schema import PROFILE
from manhattan.services.server import SOCIAL_FILE, read_social_file
from manhattan.services.social import Social

SAMPLE_USERS = 1000
SAMPLE_TWEETS = 3000
POST_CONCURRENCY = 32
# on_progress(stage, done, total): how the CLI draws a bar per stage
# ("users", "follows", "tweets", "fan-out"); called from this thread or its event loop.
OnProgress = Callable[[str, int, int], None]


def _quiet(stage: str, done: int, total: int) -> None:
    """The default progress hook: nothing to draw."""


async def _post_all(endpoint: str, tweets: list[tuple[str, str]],
                    on_progress: OnProgress) -> None:
    limit = asyncio.Semaphore(POST_CONCURRENCY)
    posted = 0
    async with AsyncSocialClient(endpoint) as client:
        async def post(author: str, text: str) -> None:
            nonlocal posted
            async with limit:
                await client.post(author, text)
            posted += 1
            on_progress("tweets", posted, len(tweets))
        on_progress("tweets", 0, len(tweets))
        await asyncio.gather(*(post(a, t) for a, t in tweets))


async def _load(endpoints: list[str], token: str, endpoint: str, config: SocialConfig,
                on_progress: OnProgress) -> bool:
    async with AsyncClient(endpoints, token=token) as client:
        social = Social(client, config)
        if await social.users.data.get("alice", PROFILE) is not None:
            return False
        network = sample.generate(SAMPLE_USERS)
        await sample.load(social, network, on_progress)
    await _post_all(endpoint, sample.sample_tweets(network, SAMPLE_TWEETS), on_progress)
    return True


def _wait_for_fanout(client: SocialClient, on_progress: OnProgress,
                     timeout: float = 120.0) -> int:
    deadline = time.monotonic() + timeout
    stats = client.stats()
    backlog = stats.fanout_pending
    while stats.fanout_pending and time.monotonic() < deadline:
        backlog = max(backlog, stats.fanout_pending)
        on_progress("fan-out", backlog - stats.fanout_pending, backlog)
        time.sleep(0.5)
        stats = client.stats()
    on_progress("fan-out", backlog - stats.fanout_pending, backlog)
    return stats.fanout_pending


def load_sample_network(endpoints: list[str], data_dir: Path, endpoint: str, *,
                        celebrity_threshold: int, on_progress: OnProgress = _quiet) -> str:
    """Load (first run only), wait for fan-out, and describe the result with alice's
    newest home-timeline entries; ``on_progress`` hears how far each stage is."""
    token = str(read_social_file(Path(data_dir) / SOCIAL_FILE)["token"])
    config = SocialConfig(celebrity_threshold=celebrity_threshold)
    started = time.monotonic()
    loaded = asyncio.run(_load(endpoints, token, endpoint, config, on_progress))
    with SocialClient(endpoint) as client:
        pending = _wait_for_fanout(client, on_progress)
        alice = client.user("alice")
        page = client.home("alice", 5)
    what = (f"loaded {SAMPLE_USERS} users and {SAMPLE_TWEETS} tweets in "
            f"{time.monotonic() - started:.0f} s" if loaded else "sample network already loaded")
    lines = [f"{what}; fan-out backlog {pending}.",
             f"alice follows {alice.following} users and has {alice.followers} followers. "
             "Her newest home-timeline entries:"]
    lines += [f"  {t.id}  @{t.author}: {t.text}" for t in page.tweets]
    return "\n".join(lines)
