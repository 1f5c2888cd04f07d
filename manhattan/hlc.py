"""Hybrid logical clock: wall-clock milliseconds plus a logical counter.

A timestamp packs as ``physical_ms << 16 | logical`` in one unsigned 64-bit
integer, so versions compare as plain integers. The clock never goes backwards
when the wall clock steps back, absorbs timestamps it receives from peers, and
refuses one too far ahead of its own wall clock: a far-future timestamp would
win last-writer-wins forever.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from manhattan.errors import InvalidRequest

LOGICAL_BITS = 16
LOGICAL_MASK = (1 << LOGICAL_BITS) - 1
MAX_TIMESTAMP = (1 << 64) - 1


def wall_clock_ms() -> int:
    """Milliseconds since the Unix epoch from the system clock."""
    return time.time_ns() // 1_000_000


class OffsetWallClock:
    """The system clock shifted by an offset read from a file (fault injection).

    The jepsen-style harness writes an integer number of milliseconds to the
    file to give one node a skewed clock (bumps, strobes) without touching the
    host's clock. The file is re-read at most every ``poll_s`` seconds, so the
    offset can change while the node runs; a missing or malformed file means 0.
    """

    def __init__(self, path: str, *, poll_s: float = 0.05) -> None:
        self.path = path
        self.poll_s = poll_s
        self._offset_ms = 0
        self._next_poll = 0.0

    def offset_ms(self) -> int:
        """The current offset, refreshed from the file when the poll interval has passed."""
        now = time.monotonic()
        if now >= self._next_poll:
            self._next_poll = now + self.poll_s
            try:
                with open(self.path, encoding="ascii") as fh:
                    self._offset_ms = int(fh.read().strip() or 0)
            except (OSError, ValueError):
                self._offset_ms = 0
        return self._offset_ms

    def __call__(self) -> int:
        return wall_clock_ms() + self.offset_ms()


def wall_clock_from(offset_file: str = "") -> Callable[[], int]:
    """The wall clock a node uses: the system clock, or one offset by ``offset_file``."""
    return OffsetWallClock(offset_file) if offset_file else wall_clock_ms


def pack(physical_ms: int, logical: int = 0) -> int:
    """Pack a physical time and logical counter into one timestamp."""
    return (physical_ms << LOGICAL_BITS) | logical


def physical_ms(timestamp: int) -> int:
    """The wall-clock part of a packed timestamp, in milliseconds."""
    return timestamp >> LOGICAL_BITS


def logical(timestamp: int) -> int:
    """The logical counter of a packed timestamp."""
    return timestamp & LOGICAL_MASK


class ClockSkewError(InvalidRequest):
    """A received timestamp is further ahead of this node's clock than allowed."""


class HybridClock:
    """A thread-safe hybrid logical clock with an injectable wall clock."""

    def __init__(
        self, wall_ms: Callable[[], int] = wall_clock_ms, *, max_skew_ms: int = 60_000
    ) -> None:
        self._wall_ms = wall_ms
        self.max_skew_ms = max_skew_ms
        self._last = 0
        self._lock = threading.Lock()

    def wall_ms(self) -> int:
        """The underlying wall clock, for TTL checks and the like."""
        return self._wall_ms()

    def now(self) -> int:
        """A timestamp greater than every timestamp this clock issued or absorbed."""
        with self._lock:
            candidate = pack(self._wall_ms())
            self._last = candidate if candidate > self._last else self._last + 1
            return self._last

    def now_many(self, count: int) -> int:
        """The first of ``count`` consecutive timestamps, each greater than every one
        issued or absorbed before: one lock and one clock read for a whole batch."""
        if count <= 0:
            raise ValueError(f"count must be positive, got {count}")
        with self._lock:
            candidate = pack(self._wall_ms())
            first = candidate if candidate > self._last else self._last + 1
            self._last = first + count - 1
            return first

    def update(self, received: int) -> int:
        """Absorb a timestamp from elsewhere; return a fresh one newer than both.

        Raises ClockSkewError when ``received`` is more than ``max_skew_ms`` ahead.
        """
        wall = self._wall_ms()
        if physical_ms(received) > wall + self.max_skew_ms:
            raise ClockSkewError(
                f"timestamp {physical_ms(received)} ms is more than {self.max_skew_ms} ms "
                f"ahead of this node's clock ({wall} ms)"
            )
        with self._lock:
            self._last = max(self._last, received, pack(wall)) + 1
            return self._last

    def observe(self, received: int) -> None:
        """Absorb a received timestamp without issuing one (skew-checked)."""
        self.update(received)
