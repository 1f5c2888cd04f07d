"""The session clock: causality across coordinators, whatever their clocks say.

The client keeps the highest HLC timestamp it has seen in any answer (every
Data answer carries the answering node's clock in trailing metadata) and sends
it with every request; the coordinator absorbs it before stamping. So any
operation that starts after another was acknowledged is ordered after it, even
when the two went to different nodes whose clocks disagree (up to the
cluster's ``clock.max_skew_ms``). Like MongoDB's cluster time, the timestamp can
be handed to another process (``Client.session_timestamp`` there,
``Client.advance_session`` here) to carry the ordering across processes.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Any

from manhattan.errors import InvalidRequest
from manhattan.hlc import MAX_TIMESTAMP, REPLY_KEY, SESSION_KEY

__all__ = ["SessionClock"]


class SessionClock:
    """The highest timestamp a client has seen; thread-safe, never goes back."""

    __slots__ = ("_timestamp", "_metadata", "_base", "_lock")

    def __init__(self, base: tuple[tuple[str, str], ...] = ()) -> None:
        self._base = base
        self._timestamp = 0
        self._metadata = base
        self._lock = threading.Lock()

    @property
    def timestamp(self) -> int:
        """The session's high-water HLC timestamp (0: nothing seen yet)."""
        return self._timestamp

    @property
    def metadata(self) -> tuple[tuple[str, str], ...]:
        """The request metadata: the client's own, plus the session timestamp."""
        return self._metadata

    def advance(self, timestamp: int) -> None:
        """Move the session clock up to ``timestamp`` (never down)."""
        if isinstance(timestamp, bool) or not isinstance(timestamp, int):
            raise InvalidRequest(f"a session timestamp is an int, got {type(timestamp).__name__}")
        if not 0 <= timestamp <= MAX_TIMESTAMP:
            raise InvalidRequest(f"a session timestamp is an unsigned 64-bit HLC timestamp, "
                                 f"got {timestamp}")
        if timestamp <= self._timestamp:
            return
        with self._lock:
            if timestamp > self._timestamp:
                self._timestamp = timestamp
                self._metadata = (*self._base, (SESSION_KEY, str(timestamp)))

    def observe(self, trailing: Iterable[Any] | None) -> None:
        """Take the node's clock from an answer's trailing metadata."""
        for item in trailing or ():
            key, value = item[0], item[1]
            if key == REPLY_KEY:
                text = value.decode() if isinstance(value, bytes) else value
                if text.isdigit():
                    stamp = int(text)
                    if stamp > self._timestamp and stamp <= MAX_TIMESTAMP:
                        self.advance(stamp)
                return
