"""Fan-out: resumes after a crash with nothing missing or doubled; posting does the same
synchronous work whatever the follower count; inactive users are rebuilt on read."""

from __future__ import annotations

import asyncio
import time

import pytest

from manhattan.client import InvalidRequest, Put
from manhattan.services.schema import FLOOR, FOLLOWER_CHANGES, SEEN, Datasets
from manhattan.services.social import Social
from tests.services.conftest import all_home, fresh_config, running_social


class Crash(Exception):
    """Stands in for the worker process dying between two batches."""


async def _add_followers(social: Social, author: str, count: int) -> list[str]:
    """Bulk-create ``count`` users following ``author`` (the layout Graph.follow writes)."""
    names = [f"{author[:6]}f{i}" for i in range(count)]
    now = str(int(time.time() * 1000))
    users = social.users.data
    for start in range(0, count, 400):
        chunk = names[start:start + 400]
        await users.put_many([Put(n, b"profile", b"{}") for n in chunk])
        await social.home.data.put_many([Put(n, SEEN, now) for n in chunk])
        await social.graph.following.put_many([Put(n, author, b"") for n in chunk])
        await social.graph.followers.put_many([Put(author, n, b"") for n in chunk])
    await social.users.counts.add(author, FOLLOWER_CHANGES, 1)  # as a follow moves it
    return names


def test_worker_crash_mid_job_resumes_without_gaps_or_duplicates(social_cluster, loop_thread):
    config = fresh_config(fanout_batch=7, trim_every=1000)
    with running_social(social_cluster, loop_thread, config, workers=False) as social:
        run = loop_thread.run
        run(social.create_user("author"))
        followers = run(_add_followers(social, "author", 40))
        tweet = run(social.post("author", "resume me"))
        batches = 0

        async def crash_after_two(job) -> None:
            nonlocal batches
            batches += 1
            if batches == 2:
                raise Crash()

        social.worker.after_batch = crash_after_two
        with pytest.raises(Crash):
            run(social.worker.run_once(list(range(config.queue_shards))))
        delivered = sum(run(social.home.newest(f, below=1 << 63, floor=0, limit=5)) != []
                        for f in followers)
        assert 0 < delivered < len(followers)  # the crash really was mid-job
        stats = run(social.stats())
        assert stats.fanout_pending == 1 and stats.fanout_lag_ms > 0  # the lag figure shows it

        # A new worker (same cluster state, nothing in memory) picks the job up.
        social.worker.after_batch = None
        social.worker._watermarks.clear()
        run(social.worker.run_once(list(range(config.queue_shards))))
        for follower in followers:
            assert run(all_home(social, follower, 3)) == [tweet.id], follower
        assert run(social.queue.backlog())[0] == 0
        assert run(social.get_user("author")).tweets == 1  # the resumed job counted once


def test_tweet_counts_follow_delivers_and_retracts(social_cluster, loop_thread):
    """The author's tweet counter: +1 per delivered tweet, -1 per retracted one, and a
    tweet deleted before its deliver ran nets to 0; running jobs again changes nothing."""
    config = fresh_config()
    with running_social(social_cluster, loop_thread, config, workers=False) as social:
        run = loop_thread.run
        shards = list(range(config.queue_shards))
        run(social.create_user("counted"))
        kept = run(social.post("counted", "stays"))
        gone = run(social.post("counted", "deleted after delivery"))
        run(social.worker.run_once(shards))
        # a pass can leave a job to the next one (a shard lease still held elsewhere)
        for _ in range(10):
            if run(social.get_user("counted")).tweets == 2:
                break
            run(social.worker.run_once(shards))
        assert run(social.get_user("counted")).tweets == 2
        run(social.delete_tweet(gone.id))
        early = run(social.post("counted", "deleted before delivery"))
        run(social.delete_tweet(early.id))
        run(social.worker.run_once(shards))
        run(social.worker.run_once(shards))
        assert run(social.get_user("counted")).tweets == 1
        assert run(social.get_tweet(kept.id)) == kept


def test_a_page_of_posts_is_stored_in_one_write_per_dataset_and_delivered(social_cluster,
                                                                           loop_thread):
    """Deliver jobs waiting together (one shard here) store their tweets with one write
    per dataset, not three per job; a tweet deleted before its deliver stays deleted, and
    every other one is stored, counted once and delivered."""
    config = fresh_config(queue_shards=1)
    with running_social(social_cluster, loop_thread, config, workers=False) as social:
        run = loop_thread.run
        run(social.create_user("paged"))
        followers = run(_add_followers(social, "paged", 3))
        posted = [run(social.post("paged", f"queued {i}")) for i in range(12)]
        deleted = posted[5]
        run(social.delete_tweet(deleted.id))
        calls: list[str] = []
        original = social.client.execute

        async def counting(op, timeout=None):
            calls.append(f"{op.method} {getattr(op.request, 'dataset', '')}")
            return await original(op, timeout)

        social.client.execute = counting
        try:
            run(social.worker.run_once([0]))
        finally:
            social.client.execute = original
        tweets = Datasets(config.namespace).tweets
        assert f"Put {tweets}" not in calls  # none stored one by one
        # the page's eleven tweets in one write, and the deleted one's retract
        assert calls.count(f"MultiPut {tweets}") == 2, calls
        kept = [t for t in posted if t is not deleted]
        assert run(social.get_user("paged")).tweets == len(kept)
        for follower in followers:
            assert run(all_home(social, follower, 50)) == [t.id for t in reversed(kept)]
        assert [run(social.get_tweet(t.id)) for t in kept] == kept
        with pytest.raises(Exception, match="deleted|does not exist"):
            run(social.get_tweet(deleted.id))


def test_posting_work_does_not_grow_with_followers(social_cluster, loop_thread):
    config = fresh_config(celebrity_threshold=100_000)
    with running_social(social_cluster, loop_thread, config, workers=False) as social:
        run = loop_thread.run
        run(social.create_user("few"))
        run(social.create_user("many"))
        run(_add_followers(social, "few", 10))
        run(_add_followers(social, "many", 2_000))
        calls: list[str] = []
        original = social.client.execute

        async def counting(op, timeout=None):
            dataset = getattr(op.request, "dataset", "")
            if not dataset.endswith("-leases"):  # lease renewals run on their own schedule
                calls.append(f"{op.method} {dataset}")
            return await original(op, timeout)

        social.client.execute = counting
        try:
            run(social.post("few", "hi"))
            few = list(calls)
            calls.clear()
            run(social.post("many", "hi"))
            many = list(calls)
        finally:
            social.client.execute = original
        assert sorted(few) == sorted(many), (few, many)
        assert len(few) <= 5


def test_inactive_user_timeline_is_rebuilt_on_read(social_cluster, loop_thread):
    config = fresh_config(inactive_after_s=4.0)  # long enough for a drain on a busy machine
    with running_social(social_cluster, loop_thread, config) as social:
        run = loop_thread.run
        for name in ("sleeper", "poster"):
            run(social.create_user(name))
        run(social.follow("sleeper", "poster"))
        run(social.drain())
        time.sleep(4.2)  # sleeper is now inactive: fan-out skips them
        posted = [run(social.post("poster", f"while you slept {i}")).id for i in range(3)]
        run(social.drain())
        assert run(social.home.newest("sleeper", below=1 << 63, floor=0, limit=10)) == []

        page = run(social.home_timeline("sleeper", limit=10))
        assert page.rebuilding
        assert [t.id for t in page.tweets] == posted[::-1]  # complete even while rebuilding
        run(social.drain())
        page = run(social.home_timeline("sleeper", limit=10))
        assert not page.rebuilding
        assert [t.id for t in page.tweets] == posted[::-1]
        stored = run(social.home.newest("sleeper", below=1 << 63, floor=0, limit=10))
        assert [i for i, _ in stored] == posted[::-1]


def test_trimming_keeps_the_cap_and_reads_never_reach_trimmed_entries(social_cluster,
                                                                       loop_thread):
    config = fresh_config(timeline_cap=20, trim_every=1)
    with running_social(social_cluster, loop_thread, config) as social:
        run = loop_thread.run
        for name in ("reader", "writer"):
            run(social.create_user(name))
        run(social.follow("reader", "writer"))
        ids = [run(social.post("writer", f"t{i}")).id for i in range(60)]
        run(social.drain())
        # Deliveries of different tweets run in parallel, so their trims can race and
        # leave an entry or two over the cap; so can replicas that trimmed while a
        # delivery had reached only some of them (each cuts its own records). A later
        # trim, once the replicas agree (a QUORUM read repairs them), settles it exactly.
        for _ in range(10):
            run(social.home.trim("reader"))
            stored = run(social.home.newest("reader", below=1 << 63, floor=-1, limit=1000))
            if len(stored) == config.timeline_cap:
                break
        floor = run(social.home.floor("reader"))
        assert len(stored) == config.timeline_cap  # exactly the newest 20 are kept
        assert [i for i, _ in stored] == ids[::-1][:20]
        # The floor never hides a kept entry. (It is only raised, so racing trims leave the
        # highest of their floors; README, known limits, for when it can lag.)
        assert floor < ids[-20]
        assert run(all_home(social, "reader", 7)) == ids[::-1]  # and the feed goes on below


def test_follow_merges_and_unfollow_removes(social_cluster, loop_thread):
    with running_social(social_cluster, loop_thread, fresh_config(max_following=1)) as social:
        run = loop_thread.run
        for name in ("late", "early", "other"):
            run(social.create_user(name))
        before = [run(social.post("early", f"old {i}")).id for i in range(5)]
        run(social.follow("late", "early"))
        with pytest.raises(InvalidRequest, match="the limit is 1"):
            run(social.follow("late", "other"))  # over the following cap: nothing changes
        assert run(social.get_user("other")).followers == 0
        assert run(social.get_user("late")).following == 1
        run(social.drain())
        stored = run(social.home.newest("late", below=1 << 63, floor=0, limit=10))
        assert [i for i, _ in stored] == before[::-1]
        run(social.unfollow("late", "early"))
        run(social.drain())
        assert run(social.home.newest("late", below=1 << 63, floor=0, limit=10)) == []
        assert run(all_home(social, "late", 10)) == []


def test_datasets_are_namespaced():
    assert Datasets("x").home == "x-home"
    assert "x-queue" in Datasets("x").all()


def test_following_a_prolific_author_keeps_their_older_tweets_reachable(social_cluster,
                                                                        loop_thread):
    # Found by the model test: a follow copies at most a timeline's worth of the
    # followee's tweets; once one copied entry was deleted, the rest never reached the
    # cap and the older, uncopied tweets went missing from the feed.
    config = fresh_config(timeline_cap=5, trim_every=1)
    with running_social(social_cluster, loop_thread, config) as social:
        run = loop_thread.run
        for name in ("fan", "poet"):
            run(social.create_user(name))
        ids = [run(social.post("poet", f"verse {i}")).id for i in range(8)]
        run(social.follow("fan", "poet"))
        run(social.drain())
        assert run(social.home.floor("fan")) == ids[-5] - 1  # older ones are read through
        run(social.delete_tweet(ids[-2]))
        run(social.drain())
        expected = [i for i in ids[::-1] if i != ids[-2]]
        for page_size in (1, 3, 50):
            assert run(all_home(social, "fan", page_size)) == expected


def test_a_full_batch_of_deliveries_reads_activity_and_floors_within_the_key_limit(
        social_cluster, loop_thread):
    # A batch of 1,000 followers, every one sampled for a trim: 2,000 keys, over the
    # 1,000 a node takes in one multi-get (found by the service bench: fan-out stalled).
    with running_social(social_cluster, loop_thread, fresh_config(), workers=False) as social:
        run = loop_thread.run
        names = [f"act{i}" for i in range(1000)]
        run(social.home.data.put_many([Put(n, SEEN, "7") for n in names[:600]]))
        run(social.home.data.put_many([Put(n, FLOOR, "9") for n in names[400:]]))
        active, floors = run(social.home.activity(names, names, horizon_ms=8))
        assert active == [False] * 600 + [True] * 400  # seen at 7 < 8; never seen: active
        assert floors == {n: (9 if i >= 400 else 0) for i, n in enumerate(names)}


def test_a_user_seen_active_is_not_read_again_and_an_inactive_one_always_is(
        social_cluster, loop_thread):
    # A last-seen time only grows: one read active stays active (the cache answers); one
    # read inactive may have come back since (read again, every time).
    with running_social(social_cluster, loop_thread, fresh_config(), workers=False) as social:
        run = loop_thread.run
        home = social.home
        run(home.data.put_many([Put("awake", SEEN, "100"), Put("asleep", SEEN, "5")]))
        assert run(home.activity(["awake", "asleep"], [], horizon_ms=50)) == ([True, False],
                                                                             {})
        run(home.data.put_many([Put("awake", SEEN, "1"), Put("asleep", SEEN, "200")]))
        # (awake's stored time went down behind the cache's back: never in the service,
        # here it shows the cache answered)
        assert run(home.activity(["awake", "asleep"], [], horizon_ms=50)) == ([True, True],
                                                                             {})
        # past what the cached time proves, it is read again
        assert run(home.activity(["awake"], [], horizon_ms=150)) == ([False], {})


def test_a_floor_recorded_late_never_lowers_the_floor(social_cluster, loop_thread):
    # Found by the model test (flaky, on a loaded machine): deliveries of different tweets
    # run in parallel and each trims the follower's timeline. A trim's floor write that
    # landed after a later trim's put the lower floor back over the higher one, so a
    # trimmed entry sat above the floor: once a newer entry was deleted, a read took the
    # next live entry below it (here, one a follow's merge copied in) as the next of the
    # timeline, and the trimmed entry was never shown.
    config = fresh_config(timeline_cap=4, trim_every=1 << 40)  # trims run by hand here
    with running_social(social_cluster, loop_thread, config) as social:
        run = loop_thread.run
        home = social.home
        for name in ("slow", "poster", "other"):
            run(social.create_user(name))
        run(social.follow("slow", "poster"))
        ids = [run(social.post("poster", "t0")).id]
        between = run(social.post("other", "older than t1")).id  # slow follows later
        ids += [run(social.post("poster", f"t{i}")).id for i in range(1, 5)]
        run(social.drain())
        held, release = asyncio.Event(), asyncio.Event()
        record = home._record_floor

        async def held_back(user: str, floor: int) -> None:
            if floor == ids[0]:  # the first trim's floor write is slow
                held.set()
                await release.wait()
            await record(user, floor)

        home._record_floor = held_back

        async def race() -> None:
            first = asyncio.ensure_future(home.trim("slow", 0))  # trims ids[0]
            await held.wait()
            ids.append((await social.post("poster", "t5")).id)
            await social.drain()
            await home.trim("slow", await home.floor("slow"))  # trims ids[1]
            release.set()
            await first  # its floor (ids[0]) lands last

        run(race())
        home._record_floor = record
        assert run(home.floor("slow")) == ids[1]  # the higher floor stayed
        run(social.delete_tweet(ids[5]))
        run(social.drain())
        for page_size in (1, 3, 5):
            assert run(all_home(social, "slow", page_size)) == ids[4::-1], page_size
        run(social.follow("slow", "other"))
        run(social.drain())
        expected = [*ids[4:0:-1], between, ids[0]]
        for page_size in (1, 2, 3, 4, 5):
            assert run(all_home(social, "slow", page_size)) == expected, page_size


def _counted_calls(social: Social) -> tuple[list[str], object]:
    """Record each data call the service's client makes (still sent); returns the log and
    the original ``execute`` to put back."""
    calls: list[str] = []
    original = social.client.execute

    async def counting(op, timeout=None):
        calls.append(op.method)
        return await original(op, timeout)
    social.client.execute = counting
    return calls, original


def test_a_cached_follower_list_follows_every_change_through_any_service_process(
        social_cluster, loop_thread):
    """Fan-out reads an author's followers whole once and then only the author's
    follower-changes counter, until a follow or unfollow through any process moves it."""
    config = fresh_config()
    with running_social(social_cluster, loop_thread, config, workers=False) as first:
        run = loop_thread.run
        other = Social(first.client, config)  # a second service: its own caches and ids
        run(other.start(workers=False))
        try:
            _follow_changes_reach_the_first(run, first, other)
        finally:
            run(other.stop())


def _follow_changes_reach_the_first(run, first: Social, other: Social) -> None:
        for name in ("star", "early", "late"):
            run(first.create_user(name))
        run(first.follow("early", "star"))
        assert run(first.graph.follower_list("star")) == ["early"]
        calls, original = _counted_calls(first)
        try:
            assert run(first.graph.follower_list("star")) == ["early"]  # cached
        finally:
            first.client.execute = original
        # one counter read and no scan of the list (a lease renewal may also go out)
        assert calls.count("CounterGet") == 1 and "Scan" not in calls, calls

        run(other.follow("late", "star"))  # another process: nothing evicted here
        assert run(first.graph.follower_list("star")) == ["early", "late"]
        run(other.unfollow("early", "star"))
        assert run(first.graph.follower_list("star")) == ["late"]
        run(other.follow("late", "star"))  # already following: still moves the counter
        assert run(first.graph.follower_list("star")) == ["late"]

        # End to end: the post after the follow reaches the new follower via the cache.
        run(other.follow("early", "star"))
        tweet = run(first.post("star", "after the follow"))
        shard, _, _ = first.queue.tweet_job_key(tweet.id)
        run(first.worker.run_once([shard]))
        for follower in ("early", "late"):
            assert tweet.id in run(all_home(first, follower, 50)), follower


def test_a_follower_list_past_the_celebrity_threshold_is_read_a_batch_at_a_time(
        social_cluster, loop_thread):
    config = fresh_config(celebrity_threshold=5, fanout_batch=4)
    with running_social(social_cluster, loop_thread, config, workers=False) as social:
        run = loop_thread.run
        run(social.create_user("wide"))
        followers = run(_add_followers(social, "wide", 1_200))
        assert run(social.graph.follower_list("wide")) is None  # not cached: too long
        names, more = run(social.graph.followers_after("wide", "", 4))
        assert names == sorted(followers)[:4] and more
