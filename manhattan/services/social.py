"""The social service's operations, over Manhattan datasets (``manhattan.client`` only).

``Social`` is what the gRPC servicer calls and what tests drive directly. It
validates every input before writing anything, so a rejected call changes
nothing. Posting does a fixed amount of synchronous work (author check, ID,
three durable writes) whatever the author's follower count: fan-out happens
later, in the workers.
"""

from __future__ import annotations

import asyncio
import logging

from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_delay, wait_fixed

from manhattan.client import AlreadyExists, AsyncClient, NotFound, SocialStats
from manhattan.errors import InvalidRequest
from manhattan.services.config import SocialConfig
from manhattan.services.fanout import FanoutWorker
from manhattan.services.graph import Graph, UserPage
from manhattan.services.home import HomeTimelines
from manhattan.services.ids import LeasedIdGenerator
from manhattan.services.leases import Lease, wall_ms
from manhattan.services.queue import FanoutQueue, Job
from manhattan.services.schema import (
    Datasets, Tweet, User, check_text, check_user, ROLES,
)
from manhattan.services.timeline import HomeReader, TimelinePage
from manhattan.services.tweets import Tweets
from manhattan.services.users import Users
from manhattan.types import Consistency, Durability

log = logging.getLogger("manhattan.services")
MAX_PAGE = 200
MAX_IDS = 4096


async def ensure_schema(admin: AsyncClient, config: SocialConfig) -> str | None:
    """Create the tenant and datasets if missing; the new tenant's token, or None if the
    tenant existed already."""
    token: str | None = None
    try:
        token = await admin.admin.create_tenant(config.tenant)
    except AlreadyExists:
        pass
    existing = {d.name for d in await admin.admin.list_datasets(config.tenant)}
    datasets = Datasets(config.namespace)
    for role in ROLES:
        name = getattr(datasets, role)
        if name in existing:
            continue
        # A tenant created a moment ago may not have reached every node yet (the catalog
        # is gossiped): the node asked can answer NotFound for it, briefly.
        async for attempt in AsyncRetrying(retry=retry_if_exception_type(NotFound),
                                           stop=stop_after_delay(15), wait=wait_fixed(0.2),
                                           reraise=True):
            with attempt:
                try:
                    await admin.admin.create_dataset(
                        name, tenant=config.tenant, read_consistency=Consistency.QUORUM,
                        write_consistency=Consistency.QUORUM, durability=Durability.BUFFERED)
                except AlreadyExists:
                    pass
    return token


class Social:
    """Users, graph, tweets, timelines and IDs, with the fan-out workers."""

    def __init__(self, client: AsyncClient, config: SocialConfig = SocialConfig()) -> None:
        self.client = client
        self.config = config
        datasets = Datasets(config.namespace)
        self.users = Users(client, datasets)
        self.graph = Graph(client, datasets, self.users,
                           celebrity_threshold=config.celebrity_threshold,
                           max_following=config.max_following,
                           cache_s=config.celebrity_cache_s)
        self.tweets = Tweets(client, datasets)
        self.home = HomeTimelines(client, datasets, self.users, cap=config.timeline_cap)
        self.queue = FanoutQueue(client, datasets, shards=config.queue_shards,
                                 datacenter=config.datacenter)
        self.ids = LeasedIdGenerator(client.dataset(datasets.leases), config.datacenter,
                                     timing=config.lease)
        self.worker = FanoutWorker(self.queue, self.graph, self.users, self.tweets, self.home,
                                   config)
        self.reader = HomeReader(self.users, self.graph, self.tweets, self.home, config,
                                 self._start_rebuild)
        self.shard_leases = {
            shard: Lease(client.dataset(datasets.leases), f"queue/{config.datacenter}/{shard}",
                         timing=config.lease)
            for shard in range(config.queue_shards)}
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self.ids_issued = 0

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self, *, workers: bool = True) -> None:
        """Lease a Snowflake worker id and (with ``workers``) the queue shards, then run."""
        await self.ids.start()
        if workers:
            await asyncio.gather(*(lease.try_acquire() for lease in self.shard_leases.values()))
            self._tasks = [asyncio.create_task(self._hold_shards(), name="shard-leases"),
                           asyncio.create_task(self.worker.run(self.shard_leases, self._stop),
                                               name="fanout")]

    async def _hold_shards(self) -> None:
        """Renew held shard leases; keep trying the others (a peer's may expire)."""
        interval = self.config.lease.renew_every_ms / 1000
        while not self._stop.is_set():
            await asyncio.gather(*(lease.renew() if lease.held else lease.try_acquire()
                                   for lease in self.shard_leases.values()))
            try:
                await asyncio.wait_for(self._stop.wait(), interval)
            except asyncio.TimeoutError:
                pass

    async def stop(self) -> None:
        self._stop.set()
        for task in self._tasks:
            await task
        await asyncio.gather(*(lease.release() for lease in self.shard_leases.values()))
        await self.ids.stop()

    async def drain(self, timeout: float = 60.0) -> None:
        """Wait until the fan-out queue is empty (tests, the sample loader)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline:
            self.worker.wakeup.set()
            pending, _ = await self.queue.backlog()
            if pending == 0:
                return
            await asyncio.sleep(0.05)
        raise TimeoutError(f"fan-out queue not empty after {timeout} s")

    # -- users and graph ---------------------------------------------------------------------

    async def create_user(self, name: str) -> User:
        name = check_user(name)
        created = await self.users.create(name)
        return User(name, created)

    async def get_user(self, name: str) -> User:
        name = check_user(name)
        created, followers, following = await self.users.profile(name)
        return User(name, created, followers, following,
                    name in await self.graph.celebrities())

    async def follow(self, follower: str, followee: str) -> bool:
        follower, followee = check_user(follower, "follower"), check_user(followee, "followee")
        changed = await self.graph.follow(follower, followee)
        if changed:
            await self._enqueue(follower, "merge", user=follower, followee=followee)
        return changed

    async def unfollow(self, follower: str, followee: str) -> bool:
        follower, followee = check_user(follower, "follower"), check_user(followee, "followee")
        changed = await self.graph.unfollow(follower, followee)
        if changed:
            await self._enqueue(follower, "unmerge", user=follower, followee=followee)
        return changed

    async def user_list(self, direction: str, user: str, *, limit: int, cursor: bytes
                        ) -> tuple[UserPage, int]:
        """A page of followers/following and the total count."""
        user = check_user(user)
        limit = _page_limit(limit, default=100, maximum=1000)
        _, followers, following = await self.users.profile(user)
        page = await self.graph.page(direction, user, limit=limit, cursor=cursor or None)
        return page, followers if direction == "followers" else following

    # -- tweets ------------------------------------------------------------------------------

    async def post(self, author: str, text: str, reply_to: int = 0) -> Tweet:
        """Store a tweet and enqueue its fan-out; does not wait for the fan-out."""
        author, text = check_user(author, "author"), check_text(text)
        if reply_to < 0:
            raise InvalidRequest("reply_to must be a tweet id")
        checks = [self.users.require(author)]
        if reply_to:
            checks.append(self._require_tweet(reply_to))
        await asyncio.gather(*checks)
        tweet = Tweet(self.ids.next_id(), author, text, wall_ms(), reply_to)
        self.ids_issued += 1
        await asyncio.gather(
            self.tweets.store(tweet),
            self._enqueue(str(tweet.id), "deliver", tweet=tweet.id, author=author))
        return tweet

    async def _require_tweet(self, tweet_id: int) -> Tweet:
        tweet = await self.tweets.get(tweet_id)
        if tweet is None:
            raise NotFound(f"tweet {tweet_id} does not exist")
        return tweet

    async def get_tweet(self, tweet_id: int) -> Tweet:
        return await self._require_tweet(_tweet_id(tweet_id))

    async def delete_tweet(self, tweet_id: int) -> Tweet:
        """Delete a tweet and enqueue its removal from timelines."""
        tweet = await self._require_tweet(_tweet_id(tweet_id))
        await self.tweets.delete(tweet)
        await self._enqueue(str(tweet.id), "retract", tweet=tweet.id, author=tweet.author)
        return tweet

    async def user_timeline(self, user: str, *, limit: int, cursor: bytes
                            ) -> tuple[list[Tweet], bytes]:
        user = check_user(user)
        await self.users.require(user)
        return await self.tweets.user_timeline(user, limit=_page_limit(limit), cursor=cursor)

    async def home_timeline(self, user: str, *, limit: int = 50, cursor: bytes = b""
                            ) -> TimelinePage:
        user = check_user(user)
        return await self.reader.page(user, limit=_page_limit(limit), cursor=cursor)

    # -- ids and stats -----------------------------------------------------------------------

    def next_ids(self, count: int) -> list[int]:
        if not 0 <= count <= MAX_IDS:
            raise InvalidRequest(f"count is {count}; ask for 1 to {MAX_IDS} IDs")
        ids = self.ids.next_ids(max(count, 1))
        self.ids_issued += len(ids)
        return ids

    async def stats(self) -> SocialStats:
        pending, lag = await self.queue.backlog()
        generator = self.ids.generator
        return SocialStats(
            fanout_pending=pending, fanout_lag_ms=lag, deliveries=self.worker.deliveries,
            jobs_done=self.worker.jobs_done, celebrity_threshold=self.config.celebrity_threshold,
            datacenter=self.config.datacenter, worker=generator.worker if generator else 0,
            ids_issued=self.ids_issued,
            clock_backward_errors=generator.clock_backward_errors if generator else 0)

    # -- internals ---------------------------------------------------------------------------

    async def _enqueue(self, shard_key: str, kind: str, **args: object) -> Job:
        """Queue a job. A tweet's deliver and retract share a partition (by tweet id), so
        a retract never runs before its deliver; a user's follow/unfollow/rebuild jobs share
        one (by user), so they run in order. Different tweets fan out in parallel."""
        job = await self.queue.enqueue(shard_key, kind, dict(args), self.ids.worker,
                                       self.ids.next_id)
        self.worker.wakeup.set()
        return job

    async def _start_rebuild(self, user: str) -> None:
        """Mark the timeline rebuilding (readers see it at once), then queue the rebuild."""
        await self.users.set_rebuild(user, self.ids.next_id())
        await self.users.touch(user, wall_ms())
        await self._enqueue(user, "rebuild", user=user)


def _page_limit(limit: int, default: int = 50, maximum: int = MAX_PAGE) -> int:
    if limit < 0 or limit > maximum:
        raise InvalidRequest(f"limit is {limit}; use 1 to {maximum} (0 for {default})")
    return limit or default


def _tweet_id(value: int) -> int:
    if not 0 < value < 1 << 63:
        raise InvalidRequest(f"{value} is not a tweet id")
    return value
