"""GroupCommit: concurrent durable() calls share fsync rounds, and none is acknowledged early;
with ``inline_below_s``, a lone fast fsync runs on the event loop's thread, and writers that
come close together or a slow disk go back to shared rounds."""

from __future__ import annotations

import asyncio
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from manhattan.storage import GroupCommit
from manhattan.storage.group_commit import QUIET_S


class SlowSync:
    """A stand-in for fsync that takes a while and counts its calls."""

    def __init__(self, seconds: float = 0.02) -> None:
        self.seconds = seconds
        self.calls = 0
        self.threads: set[int] = set()

    def __call__(self) -> None:
        self.calls += 1
        self.threads.add(threading.get_ident())
        time.sleep(self.seconds)


def test_concurrent_waiters_share_one_sync_round() -> None:
    sync = SlowSync()
    commit = GroupCommit(sync)

    async def main() -> None:
        await asyncio.gather(*(commit.durable() for _ in range(100)))

    asyncio.run(main())
    assert commit.waiters == 100
    assert sync.calls == commit.rounds
    assert 1 <= sync.calls <= 2
    assert commit.inline_rounds == 0  # (not asked for)


def test_waiters_arriving_over_time_need_far_fewer_rounds_than_waiters() -> None:
    sync = SlowSync(0.02)
    executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="fsync")
    commit = GroupCommit(sync, executor)
    rng = random.Random(7)

    async def writer() -> None:
        await asyncio.sleep(rng.uniform(0, 0.2))
        await commit.durable()

    async def main() -> None:
        await asyncio.gather(*(writer() for _ in range(200)))

    try:
        asyncio.run(main())
    finally:
        executor.shutdown()
    assert commit.waiters == 200
    assert sync.calls == commit.rounds <= 200 // 10
    # The injected executor is the one that ran the syncs.
    assert len(sync.threads) == 1 and threading.get_ident() not in sync.threads


def test_a_failing_sync_raises_in_every_waiter_of_its_round_and_the_next_round_recovers() -> None:
    attempts = 0

    def sync() -> None:
        nonlocal attempts
        attempts += 1
        time.sleep(0.01)
        if attempts == 1:
            raise OSError("fsync failed: disk gone")

    commit = GroupCommit(sync)

    async def main() -> list[object]:
        results = await asyncio.gather(
            *(commit.durable() for _ in range(5)), return_exceptions=True
        )
        await commit.durable()  # a later round succeeds once sync works again
        return results

    results = asyncio.run(main())
    assert len(results) == 5
    assert all(isinstance(r, OSError) and "disk gone" in str(r) for r in results)
    assert attempts == 2


def test_a_waiter_arriving_during_a_round_is_covered_by_a_later_round() -> None:
    events: list[str] = []
    round_started = threading.Event()
    release_round = threading.Event()
    rounds = 0

    def sync() -> None:
        nonlocal rounds
        rounds += 1
        n = rounds
        events.append(f"sync-start-{n}")
        if n == 1:
            round_started.set()
            assert release_round.wait(5)
        events.append(f"sync-end-{n}")

    commit = GroupCommit(sync)

    async def write_then_wait(name: str) -> None:
        events.append(f"{name}-written")
        await commit.durable()
        events.append(f"{name}-durable")

    async def main() -> None:
        first = asyncio.create_task(write_then_wait("A"))
        while not round_started.is_set():
            await asyncio.sleep(0.001)
        second = asyncio.create_task(write_then_wait("B"))
        await asyncio.sleep(0.02)  # B is waiting while round 1 is still in its fsync
        assert not second.done()
        release_round.set()
        await asyncio.gather(first, second)

    asyncio.run(main())
    at = events.index
    assert commit.rounds == 2 and len(events) == 8
    # A's write precedes round 1, which acknowledges it.
    assert at("A-written") < at("sync-start-1") < at("sync-end-1") < at("A-durable")
    # B wrote while round 1 was in its fsync, so round 1 cannot cover it: only
    # round 2, which starts after B's write, may acknowledge B.
    assert at("sync-start-1") < at("B-written") < at("sync-end-1")
    assert at("B-written") < at("sync-start-2") < at("sync-end-2") < at("B-durable")


def test_a_cancelled_waiter_does_not_cancel_the_round_for_the_others() -> None:
    sync = SlowSync(0.05)
    commit = GroupCommit(sync)

    async def main() -> None:
        doomed = asyncio.create_task(commit.durable())
        others = [asyncio.create_task(commit.durable()) for _ in range(3)]
        await asyncio.sleep(0.01)
        doomed.cancel()
        with pytest.raises(asyncio.CancelledError):
            await doomed
        await asyncio.wait_for(asyncio.gather(*others), timeout=5)

    asyncio.run(main())
    assert sync.calls == 1


def lone_waits(commit: GroupCommit, count: int) -> None:
    """``count`` durable() calls, each alone: spaced more than QUIET_S apart."""
    async def main() -> None:
        for _ in range(count):
            await commit.durable()
            await asyncio.sleep(QUIET_S * 3)

    asyncio.run(main())


def test_a_lone_fast_fsync_runs_on_the_loop_thread_once_one_round_measured_it() -> None:
    sync = SlowSync(0.0)
    commit = GroupCommit(sync, inline_below_s=0.005)
    lone_waits(commit, 6)
    assert sync.calls == commit.rounds == 6
    # The first, with no duration measured yet, went to a worker; the rest ran here.
    assert commit.inline_rounds == 5
    assert threading.get_ident() in sync.threads and len(sync.threads) == 2


def test_close_writers_share_rounds_even_when_inline_is_allowed() -> None:
    sync = SlowSync(0.0)
    commit = GroupCommit(sync, inline_below_s=0.005)
    lone_waits(commit, 2)  # measured: fast enough to inline
    inline = commit.inline_rounds

    async def main() -> None:
        await asyncio.gather(*(commit.durable() for _ in range(50)))

    asyncio.run(main())
    # The first of the burst may go inline (nothing asked for just before it); the other
    # 49 came within QUIET_S and shared worker rounds.
    assert commit.inline_rounds - inline <= 1
    assert commit.rounds - 2 <= 3


def test_a_slow_disk_never_blocks_the_loop() -> None:
    sync = SlowSync(0.02)
    commit = GroupCommit(sync, inline_below_s=0.005)
    lone_waits(commit, 4)
    assert sync.calls == 4 and commit.inline_rounds == 0
    assert threading.get_ident() not in sync.threads
    assert commit.sync_time_s > 0.005


def test_a_failing_inline_fsync_raises_in_its_caller_and_the_next_one_recovers() -> None:
    calls: list[int] = []  # the thread of each sync

    def sync() -> None:
        calls.append(threading.get_ident())
        if len(calls) == 2:  # the first inline one (the first measured in a worker)
            raise OSError("fsync failed: disk gone")

    commit = GroupCommit(sync, inline_below_s=0.005)

    async def main() -> object:
        await commit.durable()
        await asyncio.sleep(QUIET_S * 3)
        try:
            await commit.durable()
        except OSError as exc:
            failed: object = exc
        else:
            failed = None
        await asyncio.sleep(QUIET_S * 3)
        await commit.durable()
        return failed

    failed = asyncio.run(main())
    assert isinstance(failed, OSError) and "disk gone" in str(failed)
    loop_thread = threading.get_ident()
    assert calls[0] != loop_thread and calls[1:] == [loop_thread, loop_thread]
    assert commit.inline_rounds == 1  # the failed one is not counted as a round
