"""Start the social service with the sample network loaded (``make run``), fast.

The schema is made first (admin token) and ``social.toml`` written, so the service
process starts (leases its worker id) while the network is loaded beside it through the
batch path; the tweets then take their ids from the service and go in the same way.
Everything is loaded once: a restart finds alice and loads nothing.
"""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from manhattan.client import AsyncClient
from manhattan.services import sample
from manhattan.services.client import SocialClient
from manhattan.services.config import SocialConfig
from manhattan.services.process import SocialProcess
from manhattan.services.schema import PROFILE
from manhattan.services.server import (
    SOCIAL_FILE, read_social_file, social_api_token, write_social_file,
)
from manhattan.services.social import Social, ensure_schema

SAMPLE_USERS = 1000
SAMPLE_TWEETS = 3000


async def _schema(endpoints: list[str], admin_token: str, data_dir: Path, address: str,
                  config: SocialConfig) -> str:
    """The tenant and datasets (once); the tenant's token, saved where the service reads it
    (with the service's API token, which the service then keeps)."""
    known = data_dir / SOCIAL_FILE
    async with AsyncClient(endpoints, token=admin_token) as admin:
        created = await ensure_schema(admin, config)
    token = created or (str(read_social_file(known).get("token") or "") if known.exists()
                        else "") or admin_token
    write_social_file(data_dir, address, token, social_api_token(data_dir))
    return token


async def _load_network(endpoints: list[str], token: str, config: SocialConfig,
                        network: sample.Network, on_progress: sample.Progress | None) -> bool:
    async with AsyncClient(endpoints, token=token) as client:
        social = Social(client, config)
        if await social.users.data.get("alice", PROFILE) is not None:
            return False
        await sample.load(social, network, on_progress=on_progress)
        return True


async def _load_tweets(endpoints: list[str], token: str, config: SocialConfig,
                       network: sample.Network, ids: list[int],
                       on_progress: sample.Progress | None) -> None:
    async with AsyncClient(endpoints, token=token) as client:
        await sample.load_tweets(Social(client, config), network,
                                 sample.sample_tweets(network, SAMPLE_TWEETS), ids,
                                 on_progress=on_progress)


def start_with_sample_network(endpoints: list[str], admin_token: str, data_dir: Path,
                              service: SocialProcess, *, celebrity_threshold: int,
                              on_progress: sample.Progress | None = None,
                              timeout: float = 90.0) -> str:
    """Start ``service`` and load the sample network (first run only) at the same time;
    describe the result with alice's newest home-timeline entries. ``on_progress(stage,
    done, total)`` is called as each stage's records are acknowledged."""
    config = SocialConfig(celebrity_threshold=celebrity_threshold)
    started = time.monotonic()
    token = asyncio.run(_schema(endpoints, admin_token, Path(data_dir), service.address,
                                config))
    network = sample.generate(SAMPLE_USERS)
    with ThreadPoolExecutor(1) as pool:
        ready = pool.submit(service.start, timeout=timeout)
        loaded = asyncio.run(_load_network(endpoints, token, config, network, on_progress))
        ready.result()
    with SocialClient(service.address, token=service.api_token) as client:
        if loaded:
            ids = client.next_ids(SAMPLE_TWEETS)
            asyncio.run(_load_tweets(endpoints, token, config, network, ids, on_progress))
        alice = client.user("alice")
        page = client.home("alice", 5)
    what = (f"loaded {SAMPLE_USERS} users, {len(network.edges)} follows and {SAMPLE_TWEETS} "
            f"tweets in {time.monotonic() - started:.1f} s" if loaded
            else "sample network already loaded")
    lines = [f"{what}.",
             f"alice follows {alice.following} users and has {alice.followers} followers. "
             "Her newest home-timeline entries:"]
    lines += [f"  {t.id}  @{t.author}: {t.text}" for t in page.tweets]
    return "\n".join(lines)
