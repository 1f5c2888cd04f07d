"""The service tells the truth: a post is one write whose outcome is reported as it is, a
retried post is stored once, a tweet's deliver runs before its retract, a worker that
lost its shard lease stops before its next write, and clock waits never block the loop."""

from __future__ import annotations

import asyncio
import os
import signal
import time

import pytest

from manhattan.client import AsyncClient, InvalidRequest, NotFound, Timeout, Unavailable
from manhattan.services.leases import Lease, wall_ms
from manhattan.services.snowflake import (
    DATACENTER_SHIFT, SnowflakeGenerator, SystemClock, decode, lowest_id_at,
)
from manhattan.services.social import Social
from tests.clusters import start_cluster
from tests.services.conftest import fresh_config, running_social
from tests.services.test_fanout import _add_followers

TOP = 1 << 63


def _count_calls(social: Social, calls: list[str]):
    """Record (method, dataset) of every storage call but lease renewals."""
    original = social.client.execute

    async def counting(op, timeout=None):
        dataset = getattr(op.request, "dataset", "")
        if not dataset.endswith("-leases"):
            calls.append(f"{op.method} {dataset}")
        return await original(op, timeout)
    social.client.execute = counting
    return original


def test_a_post_is_one_write_and_readable_at_once(social_cluster, loop_thread):
    config = fresh_config()
    with running_social(social_cluster, loop_thread, config, workers=False) as social:
        run = loop_thread.run
        run(social.create_user("solo"))
        run(social.post("solo", "warm the author cache"))
        calls: list[str] = []
        original = _count_calls(social, calls)
        try:
            tweet = run(social.post("solo", "one write"))
        finally:
            social.client.execute = original
        assert calls == [f"Put {config.namespace}-queue"]  # no read, no second write
        # Before any worker ran, the tweet is readable (from its job) and deletable.
        assert run(social.get_tweet(tweet.id)) == tweet
        assert decode(tweet.id).timestamp_ms == tweet.created_at_ms
        run(social.worker.run_once(list(range(config.queue_shards))))
        assert run(social.get_tweet(tweet.id)) == tweet  # now from the tweets dataset
        own, _ = run(social.user_timeline("solo", limit=10, cursor=b""))
        assert [t.text for t in own] == ["one write", "warm the author cache"]


def test_a_retried_post_is_stored_once(social_cluster, loop_thread):
    config = fresh_config()
    with running_social(social_cluster, loop_thread, config, workers=False) as social:
        run = loop_thread.run
        run(social.create_user("again"))
        tweet_id = run(social.next_ids(1))[0]
        first = run(social.post("again", "only once", tweet_id=tweet_id))
        second = run(social.post("again", "only once", tweet_id=tweet_id))  # in flight
        time.sleep(1.1)  # past the fresh window: the retry looks the id up
        third = run(social.post("again", "only once", tweet_id=tweet_id))
        assert first == second == third and first.id == tweet_id
        with pytest.raises(InvalidRequest, match="taken by another tweet"):
            run(social.post("again", "something else", tweet_id=tweet_id))
        run(social.worker.run_once(list(range(config.queue_shards))))
        fourth = run(social.post("again", "only once", tweet_id=tweet_id))  # after fan-out
        assert fourth == first
        run(social.worker.run_once(list(range(config.queue_shards))))
        own, _ = run(social.user_timeline("again", limit=10, cursor=b""))
        assert [t.id for t in own] == [tweet_id]
        assert run(social.home.newest("again", below=TOP, floor=0, limit=10)) == [
            (tweet_id, "again")]
        stale = lowest_id_at(wall_ms() - 120_000) | (config.datacenter << DATACENTER_SHIFT)
        with pytest.raises(InvalidRequest, match="take a fresh one"):
            run(social.post("again", "too late", tweet_id=stale))
        future = lowest_id_at(wall_ms() + 60_000) | (config.datacenter << DATACENTER_SHIFT)
        with pytest.raises(InvalidRequest, match="future"):
            run(social.post("again", "too early", tweet_id=future))
        with pytest.raises(InvalidRequest, match="datacenter"):
            run(social.post("again", "elsewhere", tweet_id=run(social.next_ids(1))[0] |
                            (7 << DATACENTER_SHIFT)))


def test_deliver_runs_before_retract_whoever_queued_them(social_cluster, loop_thread):
    config = fresh_config()
    with running_social(social_cluster, loop_thread, config, workers=False) as poster:
        run = loop_thread.run
        deleter = Social(poster.client, config)  # a second service instance
        run(deleter.start(workers=False))
        try:
            _deliver_then_retract(run, poster, deleter, config)
        finally:
            run(deleter.stop())


def _deliver_then_retract(run, poster: Social, deleter: Social, config) -> None:
    assert poster.ids.worker != deleter.ids.worker  # two producers
    run(poster.create_user("writer"))
    run(poster.create_user("reader"))
    run(poster.follow("reader", "writer"))
    run(poster.worker.run_once(list(range(config.queue_shards))))  # the merge job
    tweet = run(poster.post("writer", "gone soon"))
    run(deleter.delete_tweet(tweet.id))  # another process, while the deliver waits
    with pytest.raises(NotFound):
        run(poster.get_tweet(tweet.id))  # deleted at once for readers
    order: list[str] = []
    original = deleter.worker._run_job

    async def recording(job):
        order.append(job.kind)
        await original(job)
    deleter.worker._run_job = recording
    # The deleting process's worker runs the shard: the deliver still runs first.
    run(deleter.worker.run_once(list(range(config.queue_shards))))
    assert order == ["deliver", "retract"]
    for user in ("writer", "reader"):
        assert run(poster.home.newest(user, below=TOP, floor=0, limit=10)) == [], user
    with pytest.raises(NotFound):
        run(poster.get_tweet(tweet.id))
    assert run(poster.user_timeline("writer", limit=10, cursor=b""))[0] == []
    assert run(poster.queue.backlog())[0] == 0


def test_a_worker_that_lost_its_shard_lease_stops_before_its_next_write(social_cluster,
                                                                         loop_thread):
    config = fresh_config(fanout_batch=7, trim_every=1000)
    with running_social(social_cluster, loop_thread, config, workers=False) as social:
        run = loop_thread.run
        run(social.create_user("leader"))
        followers = run(_add_followers(social, "leader", 30))
        leases = {s: Lease(social.client.dataset(f"{config.namespace}-leases"),
                           f"test-shard/{s}", timing=config.lease)
                  for s in range(config.queue_shards)}

        async def acquire_all() -> bool:
            return all(await asyncio.gather(*(lease.try_acquire()
                                              for lease in leases.values())))
        assert run(acquire_all())
        social.worker.leases = leases
        tweet = run(social.post("leader", "fenced"))

        async def lose_lease(job) -> None:
            for lease in leases.values():
                lease._drop("taken over (test)")  # what a renewal that finds another owner does
        social.worker.after_batch = lose_lease
        calls: list[str] = []
        original = _count_calls(social, calls)
        try:
            run(social.worker.run_once(list(range(config.queue_shards))))
        finally:
            social.client.execute = original
        writes_after_loss = calls[calls.index(f"Put {config.namespace}-queue") + 1:]
        assert not [c for c in writes_after_loss if c.startswith(("Put", "Delete"))], calls
        delivered = [f for f in followers
                     if run(social.home.newest(f, below=TOP, floor=0, limit=5))]
        assert len(delivered) == 7  # the first batch only
        assert run(social.queue.backlog())[0] == 1  # the job waits for the next holder

        social.worker.after_batch = None
        assert run(acquire_all())  # the next holder (here: the same process) resumes it
        run(social.worker.run_once(list(range(config.queue_shards))))
        for follower in followers:
            assert run(social.home.newest(follower, below=TOP, floor=0, limit=5)) == [
                (tweet.id, "leader")], follower
        assert run(social.queue.backlog())[0] == 0


class SteppedClock(SystemClock):
    """The real clock, stepped back by ``behind_ms``; a blocking sleep is a test failure."""

    def __init__(self) -> None:
        self.behind_ms = 0

    def now_ms(self) -> int:
        return super().now_ms() - self.behind_ms

    def sleep_ms(self, ms: float) -> None:
        raise AssertionError("the async path must not sleep the thread")


def test_clock_step_back_is_waited_out_without_blocking_the_event_loop():
    async def scenario() -> tuple[int, int, int]:
        clock = SteppedClock()
        generator = SnowflakeGenerator(0, 1, clock=clock, max_backward_ms=3_000)
        first = await generator.next_id_async()
        clock.behind_ms = 400
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1
        task = asyncio.create_task(ticker())
        second = await generator.next_id_async()
        task.cancel()
        return first, second, ticks
    first, second, ticks = asyncio.run(scenario())
    assert second > first
    assert ticks >= 20  # the loop kept running for the ~400 ms the generator waited


def test_a_post_whose_write_may_have_applied_is_never_reported_unavailable(tmp_path):
    """Two of three replicas paused: the post's QUORUM write cannot finish. It must report
    Timeout (the one live replica may have stored it) or, if nothing was stored,
    Unavailable; after the pause a retry under the same id leaves exactly one tweet."""
    local = start_cluster(tmp_path)
    config = fresh_config()

    async def scenario() -> None:
        from manhattan.services.social import ensure_schema
        async with AsyncClient(local.endpoints, token=local.admin_token) as admin:
            token = await ensure_schema(admin, config)
        async with AsyncClient(local.endpoints, token=token, timeout=2.0) as client:
            social = Social(client, config)
            await social.start(workers=False)
            try:
                await social.create_user("brave")
                await social.post("brave", "warm up")
                tweet_id = (await social.next_ids(1))[0]
                paused = [n for n in local.nodes[1:] if n.pid]
                for node in paused:
                    os.kill(node.pid, signal.SIGSTOP)
                try:
                    with pytest.raises((Timeout, Unavailable)) as caught:
                        await social.post("brave", "maybe stored", tweet_id=tweet_id)
                finally:
                    for node in paused:
                        os.kill(node.pid, signal.SIGCONT)
                await asyncio.sleep(1.5)
                if isinstance(caught.value, Unavailable):
                    with pytest.raises(NotFound):  # "not stored" must be true
                        await social.get_tweet(tweet_id)
                retried = await social.post("brave", "maybe stored", tweet_id=tweet_id)
                assert retried.id == tweet_id
                await social.worker.run_once(list(range(config.queue_shards)))
                own, _ = await social.user_timeline("brave", limit=10, cursor=b"")
                assert [t.text for t in own].count("maybe stored") == 1
            finally:
                await social.stop()
    try:
        asyncio.run(scenario())
    finally:
        local.stop()
