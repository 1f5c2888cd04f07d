"""Hybrid logical clock: wall-clock milliseconds plus a logical counter.

A timestamp packs as ``physical_ms << 16 | logical`` in one unsigned 64-bit
integer, so versions compare as plain integers. The clock never goes backwards
when the wall clock steps back, absorbs timestamps it receives from peers, and
refuses one too far ahead of its own wall clock: a far-future timestamp would
win last-writer-wins forever.

With a ``Ceiling`` the clock also never goes back across restarts: before it
issues or absorbs a timestamp past the persisted ceiling it reserves
``reserve_ms`` more and persists that (fsync) first, and a restarted clock
starts above the persisted ceiling, whatever the wall clock says then. The
persist happens once per reserve window, so the hot path is one comparison.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

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


class Ceiling:
    """The persisted upper bound (in physical ms) of every timestamp a clock handed out.

    Written to a temporary file, fsynced and renamed over ``path`` (and the
    directory fsynced), so a crash leaves the old ceiling or the new one, never
    a torn file. A missing file means a brand-new node (0).
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.persists = 0
        self._persisted = 0
        self._lock = threading.Lock()  # one writer at a time, and the ceiling only rises

    def load(self) -> int:
        """The persisted ceiling in ms (0 when there is none yet)."""
        try:
            text = self.path.read_text(encoding="ascii").strip()
        except FileNotFoundError:
            return 0
        try:
            value = int(text)
        except ValueError:
            raise ValueError(f"HLC ceiling file {self.path} is corrupt: {text[:40]!r}") from None
        if value < 0:
            raise ValueError(f"HLC ceiling file {self.path} holds a negative value {value}")
        return value

    def persist(self, ceiling_ms: int) -> None:
        """Durably record ``ceiling_ms`` before any timestamp up to it is used (a lower
        value than one already persisted is a no-op)."""
        with self._lock:
            if ceiling_ms > self._persisted:
                self._write(ceiling_ms)
                self._persisted = ceiling_ms

    def _write(self, ceiling_ms: int) -> None:
        tmp = self.path.with_name(self.path.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, str(ceiling_ms).encode("ascii"))
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, self.path)
        directory = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)
        self.persists += 1


class HybridClock:
    """A thread-safe hybrid logical clock with an injectable wall clock, optionally
    kept monotonic across restarts by a persisted ``Ceiling``."""

    def __init__(
        self, wall_ms: Callable[[], int] = wall_clock_ms, *, max_skew_ms: int = 60_000,
        ceiling: Ceiling | None = None, reserve_ms: int = 2_000,
    ) -> None:
        if reserve_ms <= 0:
            raise ValueError(f"reserve_ms must be positive, got {reserve_ms}")
        self._wall_ms = wall_ms
        self.max_skew_ms = max_skew_ms
        self._last = 0
        self._lock = threading.Lock()
        self._ceiling = ceiling
        self._reserve_ms = reserve_ms
        # Physical ms below which timestamps may be issued without persisting (durable),
        # and from which the next window is persisted in the background, half a window
        # early, so that the event loop never waits for the fsync in the steady state.
        # Without a Ceiling neither binds.
        self._reserved_ms = self._renew_at_ms = 1 << 62
        self._renewing = False
        if ceiling is not None:
            persisted = ceiling.load()
            # Start above everything issued before the restart: the first timestamp is
            # past the old ceiling even if the wall clock stepped back meanwhile.
            self._last = pack(persisted + 1) if persisted else 0
            self._reserved_ms = self._renew_at_ms = persisted

    def wall_ms(self) -> int:
        """The underlying wall clock, for TTL checks and the like."""
        return self._wall_ms()

    def current(self) -> int:
        """The newest timestamp issued or absorbed so far (what replies carry), without
        issuing one: a plain read, no lock."""
        return self._last

    def _advance(self, last: int) -> int:
        """Make ``last`` the newest timestamp (caller holds the lock). Half-way through
        the reserved window the next one is persisted in the background; a timestamp
        past the durable ceiling (at start, after a jump ahead, or when the disk is
        slower than half a window) waits for its persist inline."""
        physical = last >> LOGICAL_BITS
        if physical >= self._renew_at_ms:
            target = max(physical, self._wall_ms()) + self._reserve_ms
            if physical >= self._reserved_ms:
                self._ceiling.persist(target)  # type: ignore[union-attr]
                self._reserved(target)
            elif not self._renewing:
                self._renewing = True
                threading.Thread(target=self._renew, args=(target,), daemon=True,
                                 name="hlc-ceiling").start()
        self._last = last
        return last

    def _reserved(self, target: int) -> None:
        """``target`` is durable (caller holds the lock)."""
        self._reserved_ms = max(self._reserved_ms, target)
        self._renew_at_ms = self._reserved_ms - self._reserve_ms // 2

    def _renew(self, target: int) -> None:
        """Persist the next window off the caller's thread."""
        try:
            self._ceiling.persist(target)  # type: ignore[union-attr]
        except OSError:
            logging.getLogger("manhattan.clock").exception(
                "persisting the HLC ceiling failed; will retry inline")
            with self._lock:
                self._renewing = False
            return
        with self._lock:
            self._reserved(target)
            self._renewing = False

    def now(self) -> int:
        """A timestamp greater than every timestamp this clock issued or absorbed."""
        with self._lock:
            candidate = pack(self._wall_ms())
            return self._advance(candidate if candidate > self._last else self._last + 1)

    def now_many(self, count: int) -> int:
        """The first of ``count`` consecutive timestamps, each greater than every one
        issued or absorbed before: one lock and one clock read for a whole batch."""
        if count <= 0:
            raise ValueError(f"count must be positive, got {count}")
        with self._lock:
            candidate = pack(self._wall_ms())
            first = candidate if candidate > self._last else self._last + 1
            self._advance(first + count - 1)
            return first

    def update(self, received: int) -> int:
        """Absorb a timestamp from elsewhere; return a fresh one newer than both.

        Raises ClockSkewError when ``received`` is more than ``max_skew_ms`` ahead.
        """
        wall = self._check(received)
        with self._lock:
            return self._advance(max(self._last, received, pack(wall)) + 1)

    def _check(self, received: int) -> int:
        wall = self._wall_ms()
        if physical_ms(received) > wall + self.max_skew_ms:
            raise ClockSkewError(
                f"timestamp {physical_ms(received)} ms is more than {self.max_skew_ms} ms "
                f"ahead of this node's clock ({wall} ms)"
            )
        return wall

    def admissible(self, received: int) -> bool:
        """Whether ``received`` is within ``max_skew_ms`` of this node's clock."""
        return physical_ms(received) <= self._wall_ms() + self.max_skew_ms

    def observe(self, received: int) -> None:
        """Absorb a received timestamp without issuing one (skew-checked): afterwards
        every timestamp this clock issues is above it. Cheap when already above."""
        if received <= self._last:
            return
        self._check(received)
        with self._lock:
            if received > self._last:
                self._advance(received)


# gRPC metadata keys of the session clock: the SDK sends the highest timestamp it
# has seen under SESSION_KEY; every Data answer carries the node's HLC under REPLY_KEY.
SESSION_KEY = "x-manhattan-session"
REPLY_KEY = "x-manhattan-hlc"
