"""A node asked for a dataset it has not applied catches up with the log (a barrier) before
answering NotFound. Catch-ups coalesce: one barrier in flight, and every request that came
while it ran waits for the next one, which they share. None is ever skipped."""

from __future__ import annotations

import asyncio

from manhattan.errors import Unavailable
from manhattan.node.metadata_wiring import NodeMetadata


class _Log:
    """A log whose barriers finish when the test says so."""

    def __init__(self) -> None:
        self.started: list[asyncio.Future[None]] = []

    async def barrier(self, timeout: float) -> None:
        done = asyncio.get_running_loop().create_future()
        self.started.append(done)
        await done


def _metadata(log: _Log) -> NodeMetadata:
    metadata = NodeMetadata.__new__(NodeMetadata)  # only the catch-up: no log member
    metadata.log = log  # type: ignore[assignment]
    metadata._catching_up = None
    metadata._next_catch_up = None
    return metadata


async def _until(condition) -> None:
    for _ in range(1000):
        if condition():
            return
        await asyncio.sleep(0)
    raise AssertionError("condition never held")


def test_a_request_right_after_a_catch_up_catches_up_again() -> None:
    async def run() -> None:
        log = _Log()
        metadata = _metadata(log)
        first = asyncio.ensure_future(metadata.catch_up())
        await _until(lambda: len(log.started) == 1)
        log.started[0].set_result(None)
        assert await first
        second = asyncio.ensure_future(metadata.catch_up())  # well within a second
        await _until(lambda: len(log.started) == 2)
        log.started[1].set_result(None)
        assert await second

    asyncio.run(run())


def test_requests_during_a_barrier_share_the_next_one_and_only_one_is_in_flight() -> None:
    async def run() -> None:
        log = _Log()
        metadata = _metadata(log)
        first = asyncio.ensure_future(metadata.catch_up())
        await _until(lambda: len(log.started) == 1)
        later = [asyncio.ensure_future(metadata.catch_up()) for _ in range(50)]
        for _ in range(20):
            await asyncio.sleep(0)
        assert len(log.started) == 1  # the next waits for the one in flight
        assert not any(task.done() for task in later)
        log.started[0].set_result(None)
        assert await first
        await _until(lambda: len(log.started) == 2)
        # The first barrier started before they came: it does not answer them.
        for _ in range(20):
            await asyncio.sleep(0)
        assert not any(task.done() for task in later)
        newest = asyncio.ensure_future(metadata.catch_up())  # queues behind the second
        log.started[1].set_result(None)
        assert all(await asyncio.gather(*later))
        await _until(lambda: len(log.started) == 3)
        assert not newest.done()
        log.started[2].set_result(None)
        assert await newest
        assert len(log.started) == 3

    asyncio.run(run())


def test_a_failed_barrier_is_unavailable_and_a_caller_leaving_early_cancels_nothing() -> None:
    """A failed barrier proves nothing about the name: Unavailable (ask again), never the
    NotFound nobody retries."""
    async def run() -> None:
        log = _Log()
        metadata = _metadata(log)
        failing = asyncio.ensure_future(metadata.catch_up())
        await _until(lambda: len(log.started) == 1)
        impatient = asyncio.ensure_future(
            asyncio.wait_for(metadata.catch_up(), 0.01))  # a caller's deadline
        patient = asyncio.ensure_future(metadata.catch_up())
        log.started[0].set_exception(RuntimeError("no majority"))
        try:
            await failing
            raise AssertionError("a failed barrier must raise Unavailable")
        except Unavailable as exc:
            assert "no majority" in str(exc)
        await _until(lambda: len(log.started) == 2)
        try:
            await impatient
            raise AssertionError("the impatient caller should have timed out")
        except asyncio.TimeoutError:
            pass
        assert not log.started[1].done()  # still running for the patient one
        log.started[1].set_result(None)
        assert await patient

    asyncio.run(run())
