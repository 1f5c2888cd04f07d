"""Snowflake IDs: 41-bit ms since a custom epoch | 5-bit datacenter | 5-bit worker | 12-bit sequence.

An ID generator must never issue a duplicate or a smaller ID. Three things
threaten that and each is handled here:

* sequence overflow (more than 4,096 IDs in one ms): wait for the next ms;
* the clock stepping back: a step of up to ``max_backward_ms`` (3 s by default)
  is waited out, a larger one raises :class:`ClockMovedBackwards` (and is counted)
  instead of issuing. The blocking ``next_id`` waits with the clock's sleep (threads);
  ``next_id_async`` / ``next_ids_async`` wait with ``asyncio.sleep``, so a clock step
  never blocks an event loop;
* a restart with an earlier clock: the generator persists a high-water mark
  ahead of the time it issues (``reserve_ms`` ahead, so not once per ID) and
  never issues below the mark it loaded (a fresh start waits out at most
  ``reserve_ms``, hence ``reserve_ms < max_backward_ms``).

Two live generators must not share a (datacenter, worker) pair: the worker id
is leased (see :mod:`manhattan.services.leases`); the generator asks its
``lease_valid`` callable before issuing and stops when the lease is lost.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from manhattan.errors import Unavailable

# 2020-01-01T00:00:00Z: 41 bits of ms from here last until 2089.
EPOCH_MS = 1_577_836_800_000
TIMESTAMP_BITS, DATACENTER_BITS, WORKER_BITS, SEQUENCE_BITS = 41, 5, 5, 12
MAX_DATACENTER = (1 << DATACENTER_BITS) - 1
MAX_WORKER = (1 << WORKER_BITS) - 1
MAX_SEQUENCE = (1 << SEQUENCE_BITS) - 1
WORKER_SHIFT = SEQUENCE_BITS
DATACENTER_SHIFT = SEQUENCE_BITS + WORKER_BITS
TIMESTAMP_SHIFT = SEQUENCE_BITS + WORKER_BITS + DATACENTER_BITS
MAX_TIMESTAMP = (1 << TIMESTAMP_BITS) - 1
IDS_PER_MS = MAX_SEQUENCE + 1


class SnowflakeError(Unavailable):
    """The generator cannot issue an ID safely (now); callers may retry later."""


class ClockMovedBackwards(SnowflakeError):
    """The clock went back further than the generator is willing to wait."""


class MustWait(Exception):
    """Internal: the next ID needs ``wait_ms`` more (a small clock step back, or a full
    millisecond). Raised only by the non-blocking path, which its async callers sleep out."""

    def __init__(self, wait_ms: float) -> None:
        super().__init__(f"wait {wait_ms} ms")
        self.wait_ms = wait_ms


class LeaseLost(SnowflakeError):
    """The worker-id lease is not held (never acquired, expired or taken over)."""

    kind = "ids-lease-lost"  # named on the wire: callers tell it apart without its text


@dataclass(frozen=True, slots=True)
class DecodedId:
    """The parts of an ID."""

    id: int
    timestamp_ms: int  # Unix ms
    datacenter: int
    worker: int
    sequence: int


def decode(snowflake: int) -> DecodedId:
    """Split an ID into its time (Unix ms), datacenter, worker and sequence."""
    if not 0 <= snowflake < 1 << 63:
        raise ValueError(f"{snowflake} is not a 63-bit Snowflake ID")
    return DecodedId(
        id=snowflake,
        timestamp_ms=(snowflake >> TIMESTAMP_SHIFT) + EPOCH_MS,
        datacenter=(snowflake >> DATACENTER_SHIFT) & MAX_DATACENTER,
        worker=(snowflake >> WORKER_SHIFT) & MAX_WORKER,
        sequence=snowflake & MAX_SEQUENCE,
    )


def lowest_id_at(unix_ms: int) -> int:
    """The smallest ID any generator can issue at ``unix_ms`` (for time-bounded ranges)."""
    return max(0, unix_ms - EPOCH_MS) << TIMESTAMP_SHIFT


class Clock(Protocol):
    """Where the generator reads time and waits; injectable for tests."""

    def now_ms(self) -> int: ...

    def sleep_ms(self, ms: float) -> None: ...


class SystemClock:
    """Wall-clock milliseconds and a real sleep."""

    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000

    def sleep_ms(self, ms: float) -> None:
        time.sleep(ms / 1000)


class HighWaterMark(Protocol):
    """Persists the highest timestamp the generator may have issued up to."""

    def load(self) -> int: ...

    def save(self, timestamp_ms: int) -> None: ...


class MemoryMark:
    """A mark kept in memory (tests; or a generator whose lease record persists it)."""

    def __init__(self, value: int = 0) -> None:
        self.value = value

    def load(self) -> int:
        return self.value

    def save(self, timestamp_ms: int) -> None:
        self.value = max(self.value, timestamp_ms)


class FileMark:
    """A mark in a small file, replaced atomically and fsynced before use."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def load(self) -> int:
        try:
            return int(self.path.read_text().strip() or 0)
        except FileNotFoundError:
            return 0

    def save(self, timestamp_ms: int) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        with open(tmp, "w") as fh:
            fh.write(str(timestamp_ms))
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.path)


class LeaseView(Protocol):
    """What the generator needs from a worker-id lease: until when it is surely held."""

    @property
    def valid_until_ms(self) -> int: ...


class SnowflakeGenerator:
    """Issues strictly increasing, unique IDs for one (datacenter, worker). Thread-safe."""

    def __init__(self, datacenter: int, worker: int, *, clock: Clock | None = None,
                 mark: HighWaterMark | None = None, max_backward_ms: int = 3_000,
                 reserve_ms: int = 1_000,
                 lease: LeaseView | None = None) -> None:
        if not 0 <= datacenter <= MAX_DATACENTER:
            raise ValueError(f"datacenter must be 0..{MAX_DATACENTER}, not {datacenter}")
        if not 0 <= worker <= MAX_WORKER:
            raise ValueError(f"worker must be 0..{MAX_WORKER}, not {worker}")
        if not 0 < reserve_ms < max_backward_ms:
            raise ValueError("need 0 < reserve_ms < max_backward_ms: a restart waits out "
                             "the reserve")
        self.datacenter = datacenter
        self.worker = worker
        self._node_bits = (datacenter << DATACENTER_SHIFT) | (worker << WORKER_SHIFT)
        self._clock = clock or SystemClock()
        self._mark = mark or MemoryMark()
        self._max_backward_ms = max_backward_ms
        self._reserve_ms = reserve_ms
        self._lease = lease
        self._now = self._clock.now_ms
        self._lock = threading.Lock()
        # Everything below the persisted mark may have been issued by a previous run.
        self._last_ms = self._mark.load()
        self._sequence = MAX_SEQUENCE  # forces the next ID into a fresh millisecond
        self._reserved_until = self._last_ms
        self.clock_backward_errors = 0
        self.waits = 0

    def next_id(self) -> int:
        """One new ID; waits out (blocking the thread) overflow and small steps back."""
        with self._lock:
            return self._next_id(block=True)

    async def next_id_async(self) -> int:
        """One new ID; waits with ``asyncio.sleep``, never blocking the event loop."""
        return (await self._nonblocking(lambda: [self._next_id(block=False)]))[0]

    async def next_ids_async(self, count: int) -> list[int]:
        """``next_ids`` for asyncio code: waits never block the event loop."""
        if count < 0:
            raise ValueError("count must be >= 0")
        return await self._nonblocking(lambda: self._next_ids(count, block=False))

    async def _nonblocking(self, issue: Callable[[], list[int]]) -> list[int]:
        """Run ``issue`` under the lock; sleep out each ``MustWait`` outside it. Bounded:
        every retry re-checks the step back against ``max_backward_ms``."""
        deadline = time.monotonic() + (self._max_backward_ms + 1_000) / 1000
        while True:
            with self._lock:
                try:
                    return issue()
                except MustWait as wait:
                    pause = wait.wait_ms
            if time.monotonic() > deadline:
                self.clock_backward_errors += 1
                raise ClockMovedBackwards("the clock did not catch up with the last issued "
                                          f"timestamp within {self._max_backward_ms} ms")
            self.waits += 1
            await asyncio.sleep(pause / 1000)

    def _next_id(self, *, block: bool) -> int:
        now = self._now()
        lease = self._lease
        if (lease is None or now < lease.valid_until_ms) and now < self._reserved_until:
            # The fast path: a later millisecond, or room left in this one.
            if now > self._last_ms:
                self._last_ms = now
                self._sequence = 0
                return ((now - EPOCH_MS) << TIMESTAMP_SHIFT) | self._node_bits
            if now == self._last_ms and self._sequence < MAX_SEQUENCE:
                self._sequence += 1
                return ((now - EPOCH_MS) << TIMESTAMP_SHIFT) | self._node_bits | self._sequence
        ms, sequence = self._advance(block)
        return ((ms - EPOCH_MS) << TIMESTAMP_SHIFT) | self._node_bits | sequence

    def next_ids(self, count: int) -> list[int]:
        """``count`` new IDs, ascending (whole milliseconds' worth at a time)."""
        if count < 0:
            raise ValueError("count must be >= 0")
        with self._lock:
            return self._next_ids(count, block=True)

    def _next_ids(self, count: int, *, block: bool) -> list[int]:
        out: list[int] = []
        while len(out) < count:
            take = min(count - len(out), IDS_PER_MS)
            ms, first = self._advance(block)
            take = min(take, MAX_SEQUENCE - first + 1)
            self._sequence = first + take - 1
            base = ((ms - EPOCH_MS) << TIMESTAMP_SHIFT) | self._node_bits
            out.extend(range(base | first, (base | first) + take))
        return out

    def _advance(self, block: bool = True) -> tuple[int, int]:
        """The (ms, first sequence) for the next ID; waits out overflow and small steps
        back (``block``) or raises ``MustWait`` (IDs a batch issued before it are dropped: a gap,
        never a duplicate)."""
        while True:
            now = self._clock.now_ms()
            if self._lease is not None and now >= self._lease.valid_until_ms:
                raise LeaseLost(f"worker {self.datacenter}/{self.worker}: lease not held; "
                                "not issuing IDs")
            if now < self._last_ms:
                behind = self._last_ms - now
                if behind > self._max_backward_ms:
                    self.clock_backward_errors += 1
                    raise ClockMovedBackwards(
                        f"clock is {behind} ms behind the last issued timestamp (limit "
                        f"{self._max_backward_ms} ms); refusing to issue IDs until it catches up")
                self._wait(behind, block)
                continue
            if now == self._last_ms:
                if self._sequence >= MAX_SEQUENCE:
                    self._wait(0.05, block)  # sequence exhausted: the next ms
                    continue
                self._sequence += 1
            else:
                self._last_ms = now
                self._sequence = 0
            if now - EPOCH_MS > MAX_TIMESTAMP:
                raise SnowflakeError("the 41-bit timestamp space is exhausted")
            if now >= self._reserved_until:
                self._reserved_until = now + self._reserve_ms
                self._mark.save(self._reserved_until)
            return now, self._sequence

    def _wait(self, ms: float, block: bool) -> None:
        if not block:
            raise MustWait(ms)
        self.waits += 1
        self._clock.sleep_ms(ms)

    def last_issued_ms(self) -> int:
        """The newest timestamp issued (or inherited from the mark): the next holder of
        this worker id must start above it."""
        with self._lock:
            return self._last_ms

    @property
    def reserved_until(self) -> int:
        """The persisted high-water mark (Unix ms)."""
        return self._reserved_until
