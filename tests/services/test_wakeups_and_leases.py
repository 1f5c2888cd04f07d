"""Workers wake for exactly the shards that got work and never lose a wake-up; a lease
is claimed by compare-and-set at once (never by two claimants), one a holder may still
use is not."""

from __future__ import annotations

import asyncio
import time

from hypothesis import given, settings
from hypothesis import strategies as st

from manhattan.services.fanout import IDLE_SWEEP_BACKOFF, idle_interval
from manhattan.services.leases import Lease, LeaseTiming
from manhattan.services.queue import partition
from manhattan.services.shards import ShardWork
from tests.clusters import eventually
from tests.services.conftest import fresh_config, running_social

TOP = 1 << 63


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.tuples(st.just("notify"), st.integers(0, 7),
                                    st.binary(min_size=1, max_size=3)),
                          st.tuples(st.just("take"))), max_size=40))
def test_every_notification_is_taken_once_with_the_lowest_key(steps) -> None:
    work = ShardWork()
    pending: dict[int, bytes] = {}  # the model: what a take must return
    for step in steps:
        if step[0] == "notify":
            _, shard, key = step
            work.notify(shard, key)
            pending[shard] = min(pending.get(shard, key), key)
            assert work.event.is_set()  # a notification always wakes the worker
        else:
            assert work.take() == pending
            pending = {}
            assert not work.event.is_set()
    assert work.take() == pending


@given(st.lists(st.integers(0, 3), max_size=30))
def test_idle_sweeps_back_off_and_the_first_job_found_resets_them(found_per_sweep) -> None:
    """An idle worker's sweeps double their wait up to IDLE_SWEEP_BACKOFF poll intervals;
    a sweep that found work brings the next one back to the poll interval."""
    poll = 0.5
    interval = poll
    idle_run = 0
    for found in found_per_sweep:
        interval = idle_interval(interval, found, poll)
        idle_run = 0 if found else idle_run + 1
        assert interval == min(poll * 2 ** idle_run, poll * IDLE_SWEEP_BACKOFF)


def test_a_post_wakes_only_its_shard_without_waiting_for_a_sweep(social_cluster, loop_thread):
    config = fresh_config(poll_interval_s=3600.0)  # one sweep at start, then wake-ups only
    with running_social(social_cluster, loop_thread, config) as social:
        run = loop_thread.run
        for name in ("waker", "woken"):
            run(social.create_user(name))
        run(social.follow("woken", "waker"))
        assert eventually(lambda: run(social.queue.backlog())[0] == 0, timeout=20)
        scanned: list[str] = []
        original = social.client.execute

        async def recording(op, timeout=None):
            if op.method == "Scan" and op.request.dataset.endswith("-queue"):
                scanned.append(op.request.pkey.decode())
            return await original(op, timeout)
        social.client.execute = recording
        try:
            tweet = run(social.post("waker", "wake up"))
            assert eventually(lambda: run(social.home.newest(
                "woken", below=TOP, floor=0, limit=5)) == [(tweet.id, "waker")], timeout=20)
        finally:
            social.client.execute = original
        shard, pkey, _ = social.queue.tweet_job_key(tweet.id)
        assert pkey == partition(shard, config.datacenter)
        assert scanned and set(scanned) == {pkey}  # no other shard was read


def test_leases_are_claimed_by_compare_and_set_at_once_and_a_live_one_is_not_free(
        social_cluster, loop_thread):
    config = fresh_config(lease=LeaseTiming(ttl_ms=30_000, validity_ms=8_000))
    with running_social(social_cluster, loop_thread, config, workers=False) as social:
        run = loop_thread.run
        dataset = social.client.dataset(f"{config.namespace}-leases")

        def timed_acquire(lease: Lease) -> float:
            started = time.monotonic()
            assert run(lease.try_acquire())
            return time.monotonic() - started
        first = Lease(dataset, "fast", timing=config.lease)
        assert timed_acquire(first) < 5.0  # never held: claimed by if_absent
        first.used_up_to = lambda: 12345
        run(first.release())
        second = Lease(dataset, "fast", timing=config.lease)
        assert timed_acquire(second) < 5.0  # released: claimed by if_version
        assert second.mark >= 12345  # the released mark carried over
        second.valid_until_ms = 0  # it stops without releasing (a crash, a pause)
        third = Lease(dataset, "fast", timing=config.lease)
        assert not run(third.try_acquire())  # the record is still live: not free
        run(third.dataset.put("fast", b"", b'{"owner": "x", "expires_ms": 1, "mark": 0}'))
        # Expired: its holder stopped at least ttl - validity ago; the CAS claim is
        # the only one that can win, so there is nothing to outwait.
        assert timed_acquire(third) < 5.0
        # The old holder's renewal now fails (the record is not its own) and drops it.
        second.valid_until_ms = 10**15
        assert not run(second.renew()) and not second.held


def test_two_claimants_of_one_free_lease_never_both_win(social_cluster, loop_thread):
    config = fresh_config(lease=LeaseTiming(ttl_ms=30_000, validity_ms=8_000))
    with running_social(social_cluster, loop_thread, config, workers=False) as social:
        dataset = social.client.dataset(f"{config.namespace}-leases")

        async def race(name: str) -> list[bool]:
            claimants = [Lease(dataset, name, timing=config.lease) for _ in range(4)]
            return list(await asyncio.gather(*(c.try_acquire() for c in claimants)))

        rounds = [loop_thread.run(race(f"race-{i}")) for i in range(3)]
        assert all(won.count(True) <= 1 for won in rounds), rounds
        assert any(True in won for won in rounds)  # contention does not starve everyone


class _Counting:
    """The dataset a lease uses, with its reads and writes counted (each still sent)."""

    def __init__(self, dataset) -> None:
        self._dataset = dataset
        self.calls: list[str] = []

    async def get(self, *args, **kwargs):
        self.calls.append("get")
        return await self._dataset.get(*args, **kwargs)

    async def put(self, *args, **kwargs):
        self.calls.append("put")
        return await self._dataset.put(*args, **kwargs)


def test_a_renewal_is_one_compare_and_set_on_the_version_last_written(
        social_cluster, loop_thread):
    config = fresh_config(lease=LeaseTiming(ttl_ms=30_000, validity_ms=8_000))
    with running_social(social_cluster, loop_thread, config, workers=False) as social:
        run = loop_thread.run
        counted = _Counting(social.client.dataset(f"{config.namespace}-leases"))
        lease = Lease(counted, "renew-cas", timing=config.lease)  # type: ignore[arg-type]
        assert run(lease.try_acquire())
        counted.calls.clear()
        before = lease.valid_until_ms
        time.sleep(0.01)
        assert run(lease.renew()) and lease.held
        assert counted.calls == ["put"]  # no SERIAL read first
        assert lease.valid_until_ms > before
        current, _ = run(lease.read())
        assert current is not None and current.owner == lease.owner


def test_a_renewal_that_finds_its_own_record_at_another_version_keeps_the_lease(
        social_cluster, loop_thread):
    """A renewal whose answer was lost still wrote the record: the next renewal's
    condition fails on a version it never learned, yet the record is its own. It swaps
    on that version and keeps the lease; a record someone else took is still lost."""
    config = fresh_config(lease=LeaseTiming(ttl_ms=30_000, validity_ms=8_000))
    with running_social(social_cluster, loop_thread, config, workers=False) as social:
        run = loop_thread.run
        dataset = social.client.dataset(f"{config.namespace}-leases")
        lease = Lease(dataset, "lost-answer", timing=config.lease)
        assert run(lease.try_acquire())
        # The same holder writing through another handle: a version this one never saw.
        twin = Lease(dataset, "lost-answer", owner=lease.owner, timing=config.lease)
        assert run(twin.try_acquire())
        assert run(lease.renew()) and lease.held and lease.losses == 0
        current, _ = run(lease.read())
        assert current is not None and current.owner == lease.owner
        other = Lease(dataset, "lost-answer", timing=config.lease)
        run(dataset.put("lost-answer", b"", b'{"owner": "x", "expires_ms": 1, "mark": 0}'))
        assert run(other.try_acquire())
        assert not run(lease.renew()) and not lease.held and lease.losses == 1
