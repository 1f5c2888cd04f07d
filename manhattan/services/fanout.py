"""Fan-out workers: carry out queued jobs against home timelines.

Every job is idempotent (it writes entries keyed by tweet id, or deletes them),
so a job interrupted by a crash is simply run again from its last checkpoint:
no entry goes missing and none is duplicated.

=========  =================================================================
job        what it does
=========  =================================================================
deliver    store the posted tweet (``tweets``, ``user_tweets``), push it to the
           author's own timeline and, unless the author is a celebrity, to
           every active follower, one ``put_many`` per batch (split by replica
           set by the SDK)
retract    run the tweet's deliver first if it is still waiting, then delete
           the tweet and remove it from the author's and followers' timelines
merge      after a follow: copy the followee's recent tweets into the timeline
unmerge    after an unfollow: remove the followee's entries
rebuild    for a user back from inactivity: refill from every followee
=========  =================================================================

A worker writes only while it holds the lease of the job's shard: it checks before
every write, so a worker that lost its lease (to a slow renewal, a pause, a partition)
stops before its next write and leaves the job to the new holder.
"""

from __future__ import annotations

import asyncio
import logging
import zlib
from collections.abc import Awaitable, Callable

from manhattan.client import ManhattanError
from manhattan.services.config import SocialConfig
from manhattan.services.graph import Graph, names_after
from manhattan.services.home import HomeTimelines
from manhattan.services.leases import Lease, wall_ms
from manhattan.services.queue import SWEEP_PAGE, FanoutQueue, Job, after
from manhattan.services.schema import TOP, id_key
from manhattan.services.shards import ShardWork
from manhattan.services.tweets import Tweets
from manhattan.services.types import Tweet

log = logging.getLogger("manhattan.services.fanout")
WAKE_PAGE = 64
STORE_CHUNK = 500  # deliver jobs whose tweets are stored in one write (a page holds 1,000)
# How often a shard's watermark is saved (it moves with the clock even when idle: a
# save a second per shard was most of an idle service's writes). A stale one costs only
# a longer scan for a worker that takes the shard over.
WATERMARK_EVERY_S = 10.0
# Sweeps that find nothing back off, doubling up to this many poll intervals (2 s by
# default): an idle service stops scanning every shard twice a second. Jobs this process
# queues wake its worker at once whatever the interval; only jobs another process queued
# wait up to the backed-off interval, and the first job found resets it.
IDLE_SWEEP_BACKOFF = 4
# A sweep from the watermark reads the tombstones of the last LAG_MS of finished jobs;
# it runs this often. The sweeps between start after the last job this worker finished.
DEEP_SWEEP_EVERY_S = 15.0


class ShardLeaseLost(Exception):
    """The worker no longer holds the lease of the job's shard: it must not write."""


async def _first_of(*events: asyncio.Event) -> None:
    """Return once any of ``events`` is set."""
    waits = [asyncio.ensure_future(e.wait()) for e in events]
    try:
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for wait in waits:
            wait.cancel()


class FanoutWorker:
    """Runs the jobs of the shards whose leases it holds."""

    def __init__(self, queue: FanoutQueue, graph: Graph, tweets: Tweets,
                 home: HomeTimelines, config: SocialConfig) -> None:
        self.queue = queue
        self.graph = graph
        self.tweets = tweets
        self.home = home
        self.config = config
        self.deliveries = 0
        self.jobs_done = 0
        self.work = ShardWork()
        queue.listeners.append(self.work.notify)
        self.leases: dict[int, Lease] | None = None  # None: run every shard (tests, tools)
        self._watermarks: dict[int, bytes] = {}
        self._cursors: dict[int, bytes] = {}  # after the last job finished here, per shard
        self._saved: dict[int, tuple[bytes, float]] = {}
        self._handlers: dict[str, Callable[[Job], Awaitable[None]]] = {
            "deliver": self._deliver, "retract": self._retract, "merge": self._merge,
            "unmerge": self._unmerge, "rebuild": self._rebuild,
        }
        # Tests stop a worker between batches to show a job resumes.
        self.after_batch: Callable[[Job], Awaitable[None]] | None = None
        self._running = asyncio.Event()  # cleared while an operator has it paused
        self._running.set()

    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    def set_paused(self, paused: bool) -> None:
        """Pause (the job in flight finishes; queued ones wait, their wake-ups kept) or
        resume the worker."""
        if paused:
            self._running.clear()
        else:
            self._running.set()

    # -- scheduling ------------------------------------------------------------------

    async def run(self, leases: dict[int, Lease], stop: asyncio.Event) -> None:
        """Until ``stop``: drain the held shards this process queued work for as soon as
        it is queued, and sweep every held shard each ``poll_interval_s`` (backing off to
        ``IDLE_SWEEP_BACKOFF`` of them while sweeps find nothing) for jobs other
        processes queued (from where this worker stopped; from the watermark, which also
        finds jobs that landed late or a failed pass left, every ``DEEP_SWEEP_EVERY_S``).
        Errors are retried."""
        self.leases = leases
        loop = asyncio.get_running_loop()
        next_sweep = next_deep = loop.time()
        interval = self.config.poll_interval_s
        while not stop.is_set():
            if self.paused:  # wake-ups stay in ``work`` until it resumes
                await _first_of(self._running, stop)
                continue
            # Taken and cleared with no await in between: a job queued while the pass
            # below runs sets the event again, so no wake-up is ever lost.
            woken = self.work.take()
            held = [shard for shard, lease in leases.items() if lease.held]
            sweep = loop.time() >= next_sweep
            if sweep:
                deep = loop.time() >= next_deep
                if deep:
                    next_deep = loop.time() + DEEP_SWEEP_EVERY_S
                found = await self.run_once(held, deep=deep)
                interval = idle_interval(interval, found, self.config.poll_interval_s)
                next_sweep = loop.time() + interval
            else:
                await self.run_once([s for s in held if s in woken], starts=woken)
            try:
                await asyncio.wait_for(self.work.event.wait(),
                                       max(0.0, next_sweep - loop.time()))
            except asyncio.TimeoutError:
                pass

    async def run_once(self, shards: list[int], *, starts: dict[int, bytes] | None = None,
                       deep: bool = True) -> int:
        """Work through what is waiting in ``shards``: a sweep from each shard's watermark
        (``deep``) or from after the last job finished here, or (``starts``) from the
        lowest key this process queued there. Shards run concurrently, the jobs of one in
        order. How many jobs finished."""
        results = await asyncio.gather(*(
            self._sweep(shard, deep) if starts is None
            else self._run_jobs(shard, starts[shard], WAKE_PAGE)
            for shard in shards), return_exceptions=True)
        for result in results:
            if isinstance(result, (ManhattanError, ShardLeaseLost)):
                log.warning("fan-out shard pass stopped, will retry: %s", result)
            elif isinstance(result, BaseException):
                raise result
        return sum(r for r in results if isinstance(r, int))

    async def _sweep(self, shard: int, deep: bool) -> int:
        """The waiting jobs of the shard. A deep sweep reads from the watermark, then
        moves it up to the lag bound, computed before the scan (no job below it can land
        after the scan started)."""
        bound = self.queue.lag_bound()
        if shard not in self._watermarks:
            self._watermarks[shard] = await self.queue.watermark(shard)
        if not deep and shard in self._cursors:
            return await self._run_jobs(shard, self._cursors[shard], SWEEP_PAGE)
        done = await self._run_jobs(shard, self._watermarks[shard], SWEEP_PAGE)
        if bound > self._watermarks[shard]:
            self._watermarks[shard] = bound
            await self._save_watermark(shard, bound)
        return done

    def watermarks(self) -> dict[int, bytes]:
        """Where this worker's sweeps start, per shard it has swept (no job waits below)."""
        return dict(self._watermarks)

    async def _save_watermark(self, shard: int, key: bytes) -> None:
        """At most once a second per shard: a stale watermark costs only a longer scan."""
        saved, at = self._saved.get(shard, (b"", float("-inf")))
        now = asyncio.get_running_loop().time()
        if key > saved and now - at >= WATERMARK_EVERY_S:
            self._fence_shard(shard)
            await self.queue.save_watermark(shard, key)
            self._saved[shard] = (key, now)

    async def _run_jobs(self, shard: int, start: bytes, page: int) -> int:
        """Run the jobs of ``shard`` from ``start`` on, in key order, a page at a time;
        each page's finished jobs are dropped in one write."""
        count = 0
        while True:
            jobs = await self.queue.pending(shard, start, page)
            if not jobs:
                return count
            finished: list[bytes] = []
            try:
                await self._store_posts(shard, jobs)
                for job in jobs:
                    await self._run_job(job)
                    finished.append(job.key)
            finally:
                if finished and self._holds(shard):
                    await self.queue.complete(jobs[0].pkey, finished)
                    self.jobs_done += len(finished)
                    count += len(finished)
                    self._cursors[shard] = max(self._cursors.get(shard, b""),
                                               after(finished[-1]))
            if len(jobs) < page:
                return count
            start = after(jobs[-1].key)

    async def _run_job(self, job: Job) -> None:
        handler = self._handlers.get(job.kind)
        if handler is None:
            log.error("dropping job %r of unknown kind %r", job.key, job.kind)
            return
        await handler(job)

    # -- the lease fence ---------------------------------------------------------------

    def _holds(self, shard: int) -> bool:
        if self.leases is None:
            return True
        lease = self.leases.get(shard)
        return lease is not None and lease.held

    def _fence_shard(self, shard: int) -> None:
        if not self._holds(shard):
            raise ShardLeaseLost(f"lease of queue shard {shard} lost: stopping before the "
                                 "next write")

    def _fence(self, job: Job) -> None:
        """Called before every write a job makes."""
        self._fence_shard(job.shard)

    # -- jobs -------------------------------------------------------------------------

    async def _store_posts(self, shard: int, jobs: list[Job]) -> None:
        """The tweets of a page's deliver jobs, stored together before the jobs run in
        order: one deleted-marker multi-get, then one write per dataset (tweets, own
        timelines, home timelines) instead of three per job, and the count moves. A
        tweet deleted before it was stored is left to its job. Storing ahead of a job's
        turn is safe: every write is idempotent, and a page that fails is run again."""
        waiting = [job for job in jobs if job.kind == "deliver" and not job.args.get("stored")]
        if len(waiting) < 2:
            return  # one job stores its own tweet (the same writes)
        for start in range(0, len(waiting), STORE_CHUNK):  # within a node's batch limit
            chunk = waiting[start:start + STORE_CHUNK]
            tweets = [Tweet(**job.args["tweet"]) for job in chunk]
            deleted = await self.tweets.deleted_among([t.id for t in tweets])
            fresh = [(job, t) for job, t in zip(chunk, tweets) if t.id not in deleted]
            if fresh:
                await self._store(shard, [t for _, t in fresh])
                for job, _ in fresh:
                    job.args["stored"] = True

    async def _store(self, shard: int, tweets: list[Tweet]) -> None:
        """Tweets, their authors' own timeline entries and tweet counts (the op ids name
        each tweet, so a job run again counts once)."""
        self._fence_shard(shard)
        await asyncio.gather(self.tweets.store(tweets),
                             self.home.push([(t.author, t.id, t.author) for t in tweets]),
                             *(self.graph.users.count_tweet(t.author, t.id, 1) for t in tweets))

    async def _deliver(self, job: Job) -> None:
        tweet = Tweet(**job.args["tweet"])
        if not job.args.get("stored"):
            # The author's tweet count moves here, +1 per deliver and -1 per retract, even
            # for a tweet deleted before it was stored (so the pair nets to 0); the op ids
            # name the tweet, so a job run again counts once.
            if await self.tweets.is_deleted(tweet.id):
                await self.graph.users.count_tweet(tweet.author, tweet.id, 1)
                return  # deleted before it was stored: nothing to deliver
            await self._store(job.shard, [tweet])
            job.args["stored"] = True
        if tweet.author in await self.graph.celebrities():
            return  # merged at read
        horizon = wall_ms() - int(self.config.inactive_after_s * 1000)
        async for followers in self._follower_batches(job, tweet.author):
            sampled = [f for f in followers if _sampled(tweet.id, f, self.config.trim_every)]
            verdicts, floors = await self.home.activity(followers, sampled, horizon)
            active = [f for f, is_active in zip(followers, verdicts) if is_active]
            self._fence(job)
            await self.home.push([(f, tweet.id, tweet.author) for f in active])
            self.deliveries += len(active)
            trims = [f for f in active if f in floors]
            if trims:
                self._fence(job)
                await asyncio.gather(*(self.home.trim(f, floors[f]) for f in trims))

    async def _retract(self, job: Job) -> None:
        tweet_id, author = int(job.args["tweet"]), str(job.args["author"])
        deliver = await self.queue.get(job.pkey, id_key(tweet_id))
        if deliver is not None and deliver.kind == "deliver":
            # Deliver and retract of one tweet run in that order, whoever queued them.
            deliver.shard = job.shard
            await self._deliver(deliver)
            self._fence(job)
            await self.queue.complete(job.pkey, [deliver.key])
        self._fence(job)
        await asyncio.gather(self.tweets.delete(tweet_id, author),
                             self.home.remove([(author, tweet_id)]),
                             self.graph.users.count_tweet(author, tweet_id, -1))
        async for followers in self._follower_batches(job, author):
            self._fence(job)
            await self.home.remove([(f, tweet_id) for f in followers])

    async def _merge(self, job: Job) -> None:
        user, followee = str(job.args["user"]), str(job.args["followee"])
        if followee in await self.graph.celebrities() or not await self.graph.follows(
                user, followee):
            return
        await self._copy_recent(job, user, [followee])

    async def _unmerge(self, job: Job) -> None:
        user, followee = str(job.args["user"]), str(job.args["followee"])
        if await self.graph.follows(user, followee):
            return  # followed again since: the entries are wanted
        self._fence(job)
        await self.home.remove_author(user, followee)

    async def _rebuild(self, job: Job) -> None:
        user = str(job.args["user"])
        celebrities = await self.graph.celebrities()
        authors = [a for a in await self.graph.all_following(user) if a not in celebrities]
        await self._copy_recent(job, user, [user, *authors])
        self._fence(job)
        await self.home.set_rebuild(user, 0)

    async def _copy_recent(self, job: Job, user: str, authors: list[str]) -> None:
        """Copy each author's newest tweets (at most a timeline's worth, above the floor)
        into ``user``'s timeline. An author with more than that has older tweets that
        are not copied: the floor rises to just below the oldest copied, so reads take
        those from the author's own timeline instead of missing them."""
        cap = self.config.timeline_cap
        floor = await self.home.floor(user)
        recent = await asyncio.gather(*(self.tweets.recent_ids(a, below=TOP, above=floor,
                                                               limit=cap) for a in authors))
        cut = max((ids[-1] - 1 for ids in recent if len(ids) == cap), default=floor)
        if cut > floor:
            self._fence(job)
            await self.home.raise_floor(user, cut, floor)
            floor = cut
        self._fence(job)
        await self.home.push([(user, i, a) for a, ids in zip(authors, recent)
                              for i in ids if i > floor])
        await self.home.trim(user, floor)

    async def _follower_batches(self, job: Job, author: str):
        """Batches of ``author``'s followers after the job's checkpoint, checkpointing
        the job (cheaply: buffered, and never after the last batch) between batches.
        The list comes whole from the graph's cache (one counter read when current);
        one too long to cache is read a batch at a time."""
        everyone = None if job.args.get("finished") else await self.graph.follower_list(author)
        batch = self.config.fanout_batch
        while not job.args.get("finished"):
            after_name = job.args.get("after", "")
            if everyone is not None:
                names, more = names_after(everyone, after_name, batch)
            else:
                names, more = await self.graph.followers_after(author, after_name, batch)
            if names:
                job.args["after"] = names[-1]
            job.args["finished"] = not more
            if names:
                yield names
            if more:
                self._fence(job)
                await self.queue.checkpoint(job)
                if self.after_batch is not None:
                    await self.after_batch(job)


def idle_interval(interval: float, found: int, poll_interval: float) -> float:
    """The wait before the next sweep: the poll interval after a sweep that found work,
    else twice the last wait, at most ``IDLE_SWEEP_BACKOFF`` poll intervals."""
    if found:
        return poll_interval
    return min(interval * 2, poll_interval * IDLE_SWEEP_BACKOFF)


def _sampled(tweet_id: int, user: str, every: int) -> bool:
    """Deterministically pick one delivery in ``every`` to also trim."""
    return every <= 1 or zlib.crc32(f"{tweet_id}:{user}".encode()) % every == 0
