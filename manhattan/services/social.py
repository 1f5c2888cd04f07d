"""The social service's operations, over Manhattan datasets (``manhattan.client`` only).

``Social`` is what the gRPC servicer calls and what tests drive directly. It
validates every input before writing anything, so a rejected call changes
nothing. A post is one durable write whatever the author's follower count: the
tweet inside its fan-out job, in one record (the author check is answered from
memory once the author was seen). Its outcome is what that write's was: stored,
not stored (``Unavailable``) or unknown (``Timeout``); a retry under the same id
stores the same tweet once. Fan-out happens later, in the workers.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import asdict

from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_delay, wait_fixed

from manhattan.client import AlreadyExists, AsyncClient, NotFound
from manhattan.errors import InvalidRequest
from manhattan.services.config import SocialConfig
from manhattan.services.fanout import FanoutWorker
from manhattan.services.graph import EdgePage, Graph
from manhattan.services.home import HomeTimelines
from manhattan.services.ids import LeasedIdGenerator
from manhattan.services.leases import Lease, wall_ms
from manhattan.services.queue import RETRACT_SUFFIX, FanoutQueue, Job
from manhattan.services.schema import (
    COUNTER_ROLES, ROLES, Datasets, check_text, check_user, id_key,
)
from manhattan.services.snowflake import decode
from manhattan.services.timeline import HomeReader
from manhattan.services.types import SocialStats, SocialUser, TimelinePage, Tweet
from manhattan.services.tweets import Tweets
from manhattan.services.users import Users
from manhattan.types import Consistency, Durability

log = logging.getLogger("manhattan.services")
MAX_PAGE = 200
MAX_IDS = 4096
# A post under an id older than this may be a retry: its id is looked up first.
FRESH_ID_MS = 1_000


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
        # A tenant created a moment ago through another node may not be applied by the
        # node asked yet; it catches up before answering, but a node without the metadata
        # log (metadata.enabled = false) spreads the catalog by gossip: NotFound, briefly.
        async for attempt in AsyncRetrying(retry=retry_if_exception_type(NotFound),
                                           stop=stop_after_delay(15), wait=wait_fixed(0.2),
                                           reraise=True):
            with attempt:
                try:
                    await admin.admin.create_dataset(
                        name, tenant=config.tenant, read_consistency=Consistency.QUORUM,
                        write_consistency=Consistency.QUORUM, durability=Durability.BUFFERED,
                        kind="counter" if role in COUNTER_ROLES else "kv")
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
        self.home = HomeTimelines(client, datasets, cap=config.timeline_cap)
        self.queue = FanoutQueue(client, datasets, shards=config.queue_shards,
                                 datacenter=config.datacenter)
        self.ids = LeasedIdGenerator(client.dataset(datasets.leases), config.datacenter,
                                     timing=config.lease,
                                     max_clock_back_ms=config.max_clock_back_ms)
        self.worker = FanoutWorker(self.queue, self.graph, self.tweets, self.home,
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
        shards = [lease.try_acquire() for lease in self.shard_leases.values()] if workers else []
        await asyncio.gather(self.ids.start(), *shards)  # each may wait out a validity period
        if workers:
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
        self.worker.work.event.set()  # a worker waiting for work sees the stop at once
        for task in self._tasks:
            await task
        await asyncio.gather(*(lease.release() for lease in self.shard_leases.values()))
        await self.ids.stop()

    async def drain(self, timeout: float = 60.0) -> None:
        """Wait until the fan-out queue is empty (tests, the sample loader)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline:
            pending, _ = await self.queue.backlog(self.worker.watermarks())
            if pending == 0:
                return
            await asyncio.sleep(0.05)
        raise TimeoutError(f"fan-out queue not empty after {timeout} s")

    # -- users and graph ---------------------------------------------------------------------

    async def create_user(self, name: str) -> SocialUser:
        name = check_user(name)
        created = await self.users.create(name)
        await self.home.touch(name, created)  # active from the start: fan-out delivers
        return SocialUser(name, created)

    async def get_user(self, name: str) -> SocialUser:
        name = check_user(name)
        created, followers, following, tweets = await self.users.profile(name)
        return SocialUser(name, created, followers, following,
                          name in await self.graph.celebrities(), tweets)

    async def follow(self, follower: str, followee: str) -> bool:
        follower, followee = check_user(follower, "follower"), check_user(followee, "followee")
        changed = await self.graph.follow(follower, followee)
        if changed:
            await self._enqueue_for(follower, "merge", user=follower, followee=followee)
        return changed

    async def unfollow(self, follower: str, followee: str) -> bool:
        follower, followee = check_user(follower, "follower"), check_user(followee, "followee")
        changed = await self.graph.unfollow(follower, followee)
        if changed:
            await self._enqueue_for(follower, "unmerge", user=follower, followee=followee)
        return changed

    async def user_list(self, direction: str, user: str, *, limit: int, cursor: bytes
                        ) -> tuple[EdgePage, int]:
        """A page of followers/following and the total count."""
        user = check_user(user)
        limit = _page_limit(limit, default=100, maximum=1000)
        _, followers, following, _ = await self.users.profile(user)
        page = await self.graph.page(direction, user, limit=limit, cursor=cursor or None)
        return page, followers if direction == "followers" else following

    # -- tweets ------------------------------------------------------------------------------

    async def post(self, author: str, text: str, reply_to: int = 0, tweet_id: int = 0
                   ) -> Tweet:
        """Store a tweet with its fan-out job in one write; does not wait for the fan-out.

        ``tweet_id`` (from ``next_ids``, recent) makes the call idempotent: a retry of a
        post whose outcome was unknown stores the same tweet, never a second one."""
        author, text = check_user(author, "author"), check_text(text)
        if reply_to < 0:
            raise InvalidRequest("reply_to must be a tweet id")
        checks = [self.users.require_known(author)]
        if reply_to:
            checks.append(self._require_tweet(reply_to))
        if tweet_id:
            found = self._posted_before(_tweet_id(tweet_id), author, text, reply_to)
            checks.insert(0, found)
        results = await asyncio.gather(*checks)
        if tweet_id and isinstance(results[0], Tweet):
            return results[0]  # a retry of a post that was stored
        if not tweet_id:
            tweet_id = await self.ids.next_id()
            self.ids_issued += 1
        tweet = Tweet(tweet_id, author, text, decode(tweet_id).timestamp_ms, reply_to)
        shard, pkey, key = self.queue.tweet_job_key(tweet.id)
        await self.queue.enqueue(shard, pkey, key, "deliver", {"tweet": asdict(tweet)})
        return tweet

    async def _posted_before(self, tweet_id: int, author: str, text: str, reply_to: int
                             ) -> Tweet | bool:
        """For a post under a given id: the tweet if that id was stored already (the same
        post, retried), else True. A fresh id is not looked up (it cannot have been used
        but by the attempt still in flight, which stores the same bytes)."""
        parts = decode(tweet_id)
        if parts.datacenter != self.config.datacenter:
            raise InvalidRequest(f"tweet id {tweet_id} is from datacenter {parts.datacenter}; "
                                 f"this service is datacenter {self.config.datacenter}")
        age = wall_ms() - parts.timestamp_ms
        if age < -FRESH_ID_MS:
            raise InvalidRequest(f"tweet id {tweet_id} is from the future: take one from "
                                 "NextId")
        if age <= FRESH_ID_MS:
            return True
        existing, deleted = await self._find(tweet_id)
        if deleted:
            raise NotFound(f"tweet {tweet_id} was posted and deleted since")
        if existing is None:
            return True
        if (existing.author, existing.text, existing.reply_to) != (author, text, reply_to):
            raise InvalidRequest(f"tweet id {tweet_id} is taken by another tweet: take a new "
                                 "id for a new post")
        return existing

    async def _find(self, tweet_id: int) -> tuple[Tweet | None, bool]:
        """(the tweet, deleted?), stored or still inside its deliver job. The job is read
        before the store is read again: a job that finished in between stored it first."""
        tweet, deleted = await self.tweets.lookup(tweet_id)
        if tweet is not None or deleted:
            return tweet, deleted
        _, pkey, key = self.queue.tweet_job_key(tweet_id)
        job = await self.queue.get(pkey, key)
        if job is not None and job.kind == "deliver":
            return Tweet(**job.args["tweet"]), False
        return await self.tweets.lookup(tweet_id)

    async def _require_tweet(self, tweet_id: int) -> Tweet:
        tweet, _ = await self._find(tweet_id)
        if tweet is None:
            raise NotFound(f"tweet {tweet_id} does not exist")
        return tweet

    async def get_tweet(self, tweet_id: int) -> Tweet:
        return await self._require_tweet(_tweet_id(tweet_id))

    async def delete_tweet(self, tweet_id: int) -> Tweet:
        """Queue the tweet's removal from timelines (after its deliver, in the same
        partition), then delete it, so a read right after the call no longer finds it."""
        tweet = await self._require_tweet(_tweet_id(tweet_id))
        shard, pkey, deliver_key = self.queue.tweet_job_key(tweet.id)
        retract_id = await self.ids.next_id()
        # Keyed after the deliver whatever the two producers' clocks say.
        key = id_key(retract_id) if retract_id > tweet.id else deliver_key + RETRACT_SUFFIX
        await self.queue.enqueue(shard, pkey, key, "retract",
                                 {"tweet": tweet.id, "author": tweet.author})
        await self.tweets.delete(tweet.id, tweet.author)
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

    async def next_ids(self, count: int) -> list[int]:
        if not 0 <= count <= MAX_IDS:
            raise InvalidRequest(f"count is {count}; ask for 1 to {MAX_IDS} IDs")
        ids = await self.ids.next_ids(max(count, 1))
        self.ids_issued += len(ids)
        return ids

    async def stats(self) -> SocialStats:
        pending, lag = await self.queue.backlog(self.worker.watermarks())
        generator = self.ids.generator
        return SocialStats(
            fanout_pending=pending, fanout_lag_ms=lag, deliveries=self.worker.deliveries,
            jobs_done=self.worker.jobs_done, celebrity_threshold=self.config.celebrity_threshold,
            datacenter=self.config.datacenter, worker=generator.worker if generator else 0,
            ids_issued=self.ids_issued,
            clock_backward_errors=generator.clock_backward_errors if generator else 0,
            fanout_paused=self.worker.paused)

    # -- internals ---------------------------------------------------------------------------

    async def _enqueue_for(self, subject: str, kind: str, **args: object) -> Job:
        """Queue a job about the user ``subject``: a user's follow/unfollow/rebuild jobs share a
        partition, and their handlers act on the current state (so order between two
        producers' jobs cannot undo a later change). A tweet's jobs go by tweet id."""
        shard, pkey = self.queue.user_shard(subject)
        return await self.queue.enqueue(shard, pkey, id_key(await self.ids.next_id()), kind,
                                        dict(args))

    async def _start_rebuild(self, user: str) -> None:
        """Mark the timeline rebuilding (readers see it at once), then queue the rebuild."""
        await self.home.set_rebuild(user, await self.ids.next_id())
        await self.home.touch(user, wall_ms())
        await self._enqueue_for(user, "rebuild", user=user)


def _page_limit(limit: int, default: int = 50, maximum: int = MAX_PAGE) -> int:
    if limit < 0 or limit > maximum:
        raise InvalidRequest(f"limit is {limit}; use 1 to {maximum} (0 for {default})")
    return limit or default


def _tweet_id(value: int) -> int:
    if not 0 < value < 1 << 63:
        raise InvalidRequest(f"{value} is not a tweet id")
    return value
