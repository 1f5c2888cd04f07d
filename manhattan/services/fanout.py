"""Fan-out workers: carry out queued jobs against home timelines.

Every job is idempotent (it writes entries keyed by tweet id, or deletes them),
so a job interrupted by a crash is simply run again from its last checkpoint:
no entry goes missing and none is duplicated.

=========  =================================================================
job        what it does
=========  =================================================================
deliver    push a new tweet to the author's own timeline and, unless the
           author is a celebrity, to every active follower, batch by batch
retract    remove a deleted tweet from the author's and followers' timelines
merge      after a follow: copy the followee's recent tweets into the timeline
unmerge    after an unfollow: remove the followee's entries
rebuild    for a user back from inactivity: refill from every followee
=========  =================================================================
"""

from __future__ import annotations

import asyncio
import logging
import zlib
from collections.abc import Awaitable, Callable

from manhattan.client import ManhattanError
from manhattan.services.config import SocialConfig
from manhattan.services.graph import Graph
from manhattan.services.home import HomeTimelines
from manhattan.services.leases import Lease, wall_ms
from manhattan.services.queue import FanoutQueue, Job, partition
from manhattan.services.schema import TOP
from manhattan.services.tweets import Tweets
from manhattan.services.users import Users
from manhattan.types import Consistency

log = logging.getLogger("manhattan.services.fanout")
Q = Consistency.QUORUM


class FanoutWorker:
    """Runs the jobs of the shards whose leases it holds."""

    def __init__(self, queue: FanoutQueue, graph: Graph, users: Users, tweets: Tweets,
                 home: HomeTimelines, config: SocialConfig) -> None:
        self.queue = queue
        self.graph = graph
        self.users = users
        self.tweets = tweets
        self.home = home
        self.config = config
        self.deliveries = 0
        self.jobs_done = 0
        self.wakeup = asyncio.Event()
        self._handlers: dict[str, Callable[[Job, str], Awaitable[None]]] = {
            "deliver": self._deliver, "retract": self._retract, "merge": self._merge,
            "unmerge": self._unmerge, "rebuild": self._rebuild,
        }
        # Tests stop a worker between batches to show a job resumes.
        self.after_batch: Callable[[Job], Awaitable[None]] | None = None

    async def run_once(self, shards: list[int]) -> int:
        """Work through what is waiting in ``shards``; how many jobs finished."""
        producers = await self.queue.producers()
        # Partitions run concurrently; jobs inside one run in order (a user's follow and
        # unfollow jobs share a partition).
        results = await asyncio.gather(*(
            self._drain(partition(shard, self.queue.datacenter, worker))
            for shard in shards for worker in producers), return_exceptions=True)
        for result in results:
            if isinstance(result, ManhattanError):
                log.warning("fan-out partition failed, will retry: %s", result)
            elif isinstance(result, BaseException):
                raise result
        return sum(r for r in results if isinstance(r, int))

    async def _drain(self, pkey: str) -> int:
        done = 0
        while True:
            jobs = await self.queue.pending(pkey)
            if not jobs:
                return done
            for job in jobs:
                handler = self._handlers.get(job.kind)
                if handler is None:
                    log.error("dropping job %d of unknown kind %r", job.id, job.kind)
                else:
                    await handler(job, pkey)
                await self.queue.complete(pkey, job)
                self.jobs_done += 1
                done += 1

    async def run(self, leases: dict[int, Lease], stop: asyncio.Event) -> None:
        """Poll the shards whose leases are held until ``stop``; errors are retried."""
        while not stop.is_set():
            held = [shard for shard, lease in leases.items() if lease.held]
            try:
                await self.run_once(held)
            except ManhattanError as exc:
                log.warning("fan-out pass failed, will retry: %s", exc)
            self.wakeup.clear()
            try:
                await asyncio.wait_for(self.wakeup.wait(), self.config.poll_interval_s)
            except asyncio.TimeoutError:
                pass

    def _follower_batches(self, job: Job, pkey: str) -> "AsyncFollowerBatches":
        return AsyncFollowerBatches(self, job, pkey)

    async def _deliver(self, job: Job, pkey: str) -> None:
        tweet_id, author = int(job.args["tweet"]), str(job.args["author"])
        if not job.args.get("self_done"):
            await self.home.push([(author, tweet_id, author)])
            job.args["self_done"] = True
        if author in await self.graph.celebrities():
            return  # merged at read
        horizon = wall_ms() - int(self.config.inactive_after_s * 1000)
        async for followers in self._follower_batches(job, pkey):
            seen = await self.users.seen_many(followers)
            active = [f for f, s in zip(followers, seen) if s == 0 or s >= horizon]
            await self.home.push([(f, tweet_id, author) for f in active])
            self.deliveries += len(active)
            await asyncio.gather(*(self.home.trim(f) for f in active
                                   if _sampled(tweet_id, f, self.config.trim_every)))

    async def _retract(self, job: Job, pkey: str) -> None:
        tweet_id, author = int(job.args["tweet"]), str(job.args["author"])
        await self.home.remove([(author, tweet_id)])
        async for followers in self._follower_batches(job, pkey):
            await self.home.remove([(f, tweet_id) for f in followers])

    async def _merge(self, job: Job, pkey: str) -> None:
        user, followee = str(job.args["user"]), str(job.args["followee"])
        if followee in await self.graph.celebrities() or not await self.graph.follows(
                user, followee):
            return
        await self._copy_recent(user, [followee])

    async def _unmerge(self, job: Job, pkey: str) -> None:
        user, followee = str(job.args["user"]), str(job.args["followee"])
        if await self.graph.follows(user, followee):
            return  # followed again since: the entries are wanted
        await self.home.remove_author(user, followee)

    async def _rebuild(self, job: Job, pkey: str) -> None:
        user = str(job.args["user"])
        celebrities = await self.graph.celebrities()
        authors = [a for a in await self.graph.all_following(user) if a not in celebrities]
        await self._copy_recent(user, [user, *authors])
        await self.users.set_rebuild(user, 0)

    async def _copy_recent(self, user: str, authors: list[str]) -> None:
        """Copy each author's newest tweets (at most a timeline's worth, above the floor)
        into ``user``'s timeline. An author with more than that has older tweets that
        are not copied: the floor rises to just below the oldest copied, so reads take
        those from the author's own timeline instead of missing them."""
        cap = self.config.timeline_cap
        floor = await self.users.floor(user)
        recent = await asyncio.gather(*(self.tweets.recent_ids(a, below=TOP, above=floor,
                                                               limit=cap) for a in authors))
        cut = max((ids[-1] - 1 for ids in recent if len(ids) == cap), default=floor)
        if cut > floor:
            await self.home.raise_floor(user, cut, floor)
            floor = cut
        await self.home.push([(user, i, a) for a, ids in zip(authors, recent)
                              for i in ids if i > floor])
        await self.home.trim(user, floor)


class AsyncFollowerBatches:
    """Pages of a job's author's followers, checkpointing the job after each page."""

    def __init__(self, worker: FanoutWorker, job: Job, pkey: str) -> None:
        self.worker = worker
        self.job = job
        self.pkey = pkey
        self._first = True

    def __aiter__(self) -> "AsyncFollowerBatches":
        return self

    async def __anext__(self) -> list[str]:
        job = self.job
        if not self._first:
            await self.worker.queue.checkpoint(self.pkey, job)
            if self.worker.after_batch is not None:
                await self.worker.after_batch(job)
        self._first = False
        while not job.args.get("finished"):
            cursor = bytes.fromhex(job.args.get("cursor", "")) or None
            page = await self.worker.graph.page("followers", str(job.args["author"]),
                                                limit=self.worker.config.fanout_batch,
                                                cursor=cursor)
            if page.cursor is None:
                job.args["finished"] = True
            else:
                job.args["cursor"] = page.cursor.hex()
            if page.users:  # a page of only tombstones (unfollows) is empty but not the end
                return page.users
        raise StopAsyncIteration


def _sampled(tweet_id: int, user: str, every: int) -> bool:
    """Deterministically pick one delivery in ``every`` to also trim."""
    return every <= 1 or zlib.crc32(f"{tweet_id}:{user}".encode()) % every == 0
