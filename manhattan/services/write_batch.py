"""Concurrent single-record writes of one dataset, sent together: group commit at the
service.

A post is one SYNC QUORUM write (its fan-out job). Sent one by one, every post in flight
costs a client call, a coordinator round, a blob to each replica and an fsync round of
its own; the nodes' CPU then goes to per-message overhead rather than to the writes.
The batcher sends the first write at once (no timer: a lone caller waits no longer than
before); writes that arrive while ``max_in_flight`` batches are out wait for one to end
and then go out together, as one ``put_many`` (one request per replica set, one
WriteBatch on each replica, one fsync round). Under load the batches grow by themselves.
One batch in flight by default: measured with 8 posting callers on a 3-node cluster
(one box), 642 posts/s unbatched, 807 with two batches in flight, 930 with one.

Each caller gets its own write's outcome, never a neighbour's: a part of the batch that
failed fails only the writes in it (``MultiPartError.parts``), and a batch refused as
invalid (one bad record refuses its whole replica set's request) is sent again one
write at a time, so only the bad write is refused. ``timeout`` counts from the call,
waiting included: a batch goes out with what is left of its earliest write's timeout,
and a write whose timeout ran out before it was sent fails ``Unavailable`` (nothing was
sent), so no write lands later after its call than it would have alone (the fan-out
queue's ``LAG_MS`` rests on that).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from manhattan.client import (
    Consistency, Durability, InvalidRequest, ManhattanError, MultiPartError, PartOutcome, Put,
    Unavailable,
)
from manhattan.types import Version

MAX_BATCH = 256  # writes per put_many: a batch stays far below every message limit
_Waiting = tuple[Put, "asyncio.Future[Version]", float]  # the write, its caller, its deadline


class WriteBatcher:
    """Coalesces concurrent ``put`` calls on one dataset into ``put_many`` batches."""

    def __init__(self, data, *, consistency: Consistency, durability: Durability,
                 timeout: float, max_in_flight: int = 1, max_batch: int = MAX_BATCH) -> None:
        if max_in_flight < 1 or max_batch < 1:
            raise ValueError("max_in_flight and max_batch must be at least 1")
        self._data = data  # the SDK's async DatasetOps
        self._consistency = consistency
        self._durability = durability
        self._timeout = timeout
        self._max_in_flight = max_in_flight
        self._max_batch = max_batch
        self._waiting: list[_Waiting] = []
        self._flights: set[asyncio.Task[None]] = set()
        self.batches = 0  # sent so far (a metric, and what tests look at)
        self.writes = 0

    async def put(self, pkey: str | bytes, lkey: str | bytes, value: bytes) -> Version:
        """Write one record with the others waiting now; its version, or its error."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Version] = loop.create_future()
        future.add_done_callback(_retrieved)
        self._waiting.append((Put(pkey, lkey, value), future, loop.time() + self._timeout))
        if len(self._flights) < self._max_in_flight:
            self._send_next()
        # A caller that gives up does not take the batch's other writes with it.
        return await asyncio.shield(future)

    def _send_next(self) -> None:
        now = asyncio.get_running_loop().time()
        late = [(put, future) for put, future, deadline in self._waiting if deadline <= now]
        _fail([future for _, future in late], Unavailable(
            f"a write waited its whole timeout ({self._timeout:g}s) behind earlier batches "
            "and was not sent"))
        ready = [w for w in self._waiting if w[2] > now]
        batch, self._waiting = ready[:self._max_batch], ready[self._max_batch:]
        if not batch:
            return
        self.batches += 1
        self.writes += len(batch)
        deadline = min(deadline for _, _, deadline in batch)
        flight = asyncio.create_task(
            self._send([(put, future) for put, future, _ in batch], deadline),
            name="write-batch")
        self._flights.add(flight)
        flight.add_done_callback(self._landed)

    def _landed(self, flight: asyncio.Task[None]) -> None:
        self._flights.discard(flight)
        if self._waiting:
            self._send_next()

    async def _send(self, batch: list[tuple[Put, asyncio.Future[Version]]],
                    deadline: float) -> None:
        futures = [future for _, future in batch]
        try:
            if len(batch) == 1:  # a lone write goes as the single-key call it is
                put = batch[0][0]
                _settle(futures, [await self._put_one(put, deadline)])
                return
            versions = await self._data.put_many(
                [put for put, _ in batch], consistency=self._consistency,
                durability=self._durability, timeout=_left(deadline))
            _settle(futures, versions)
        except ManhattanError as exc:
            # A failure of the whole batch is one part that holds every write.
            parts = exc.parts if isinstance(exc, MultiPartError) else (
                PartOutcome(tuple(range(len(batch))), error=exc),)
            for part in parts:
                chosen = [batch[i] for i in part.indices]
                if part.error is None:
                    _settle([future for _, future in chosen], part.result)
                else:
                    await self._after_refusal(chosen, part.error, deadline)
        except BaseException as exc:  # never leave a caller waiting
            _fail(futures, exc)
            raise

    async def _after_refusal(self, batch: list[tuple[Put, asyncio.Future[Version]]],
                             error: ManhattanError, deadline: float) -> None:
        """A request is refused whole for one bad record: send the writes of a refused
        batch one by one, so that each caller gets its own write's answer."""
        if len(batch) == 1 or not isinstance(error, InvalidRequest):
            _fail([future for _, future in batch], error)
            return
        outcomes = await asyncio.gather(*(self._put_one(put, deadline) for put, _ in batch),
                                        return_exceptions=True)
        for (_, future), outcome in zip(batch, outcomes):
            if isinstance(outcome, BaseException):
                _fail([future], outcome)
            else:
                _settle([future], [outcome])

    async def _put_one(self, put: Put, deadline: float) -> Version:
        return await self._data.put(put.pkey, put.lkey, put.value,
                                    consistency=self._consistency,
                                    durability=self._durability, timeout=_left(deadline))


def _left(deadline: float) -> float:
    """What is left until ``deadline`` (loop time): the timeout of the next call."""
    return max(deadline - asyncio.get_running_loop().time(), 0.001)


def _retrieved(future: asyncio.Future[Version]) -> None:
    """Mark a write's error as seen: a caller that gave up (its shield cancelled) no
    longer reads it, and asyncio would log "exception was never retrieved"."""
    if not future.cancelled():
        future.exception()


def _settle(futures: Sequence[asyncio.Future[Version]], versions: Sequence[Version]) -> None:
    for future, version in zip(futures, versions, strict=True):
        if not future.done():
            future.set_result(version)


def _fail(futures: Sequence[asyncio.Future[Version]], error: BaseException) -> None:
    for future in futures:
        if not future.done():
            future.set_exception(error)
