"""Which peers are alive: heartbeats judged by a phi-accrual detector.

Each successful ping or replica reply is a heartbeat. phi grows with the time
since the last one relative to the usual interval (Hayashibara et al.); above
the threshold the peer is taken for dead and the coordinator skips it without
waiting for a timeout. A failed call marks the peer dead at once; the next
heartbeat revives it.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

DEFAULT_THRESHOLD = 8.0
_WINDOW = 100
_MIN_INTERVAL_S = 0.05


@dataclass
class _PeerHistory:
    last: float | None = None
    intervals: deque[float] = field(default_factory=lambda: deque(maxlen=_WINDOW))
    failed: bool = False
    # Kept with the intervals, so a liveness check (once per peer per call) does not
    # sum the window: the running total, and mean * ln(10) (phi's scale) from it.
    total: float = 0.0
    appended: int = 0
    scale: float = 0.0

    def add(self, interval: float, expected: float) -> None:
        if len(self.intervals) == _WINDOW:
            self.total -= self.intervals[0]
        self.intervals.append(interval)
        self.appended += 1
        if self.appended % _WINDOW == 0:  # float drift of the running total stays bounded
            self.total = math.fsum(self.intervals)
        else:
            self.total += interval
        self.rescale(expected)

    def rescale(self, expected: float) -> None:
        mean = self.total / len(self.intervals) if self.intervals else expected
        self.scale = mean * math.log(10)


class PhiAccrualDetector:
    """Liveness of peers by id."""

    def __init__(
        self,
        *,
        threshold: float = DEFAULT_THRESHOLD,
        expected_interval_s: float = 0.5,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.threshold = threshold
        self.expected_interval_s = expected_interval_s
        self._clock = clock
        self._peers: dict[int, _PeerHistory] = {}

    def heartbeat(self, peer: int) -> None:
        """A sign of life from ``peer``."""
        history = self._peers.get(peer)
        if history is None:
            history = self._peers[peer] = _PeerHistory()
            history.rescale(self.expected_interval_s)
        now = self._clock()
        if history.last is not None:
            history.add(max(now - history.last, _MIN_INTERVAL_S), self.expected_interval_s)
        history.last = now
        history.failed = False

    def failure(self, peer: int) -> None:
        """A call to ``peer`` failed to connect: dead until the next heartbeat."""
        history = self._peers.get(peer)
        if history is None:
            history = self._peers[peer] = _PeerHistory()
            history.rescale(self.expected_interval_s)
        history.failed = True

    def phi(self, peer: int) -> float:
        """Suspicion level: 0 is fresh, larger is likelier dead (inf: never heard/failed)."""
        history = self._peers.get(peer)
        if history is None or history.last is None or history.failed:
            return math.inf
        # Exponential inter-arrival model: phi = -log10(P(no heartbeat for elapsed)).
        return (self._clock() - history.last) / history.scale

    def is_alive(self, peer: int) -> bool:
        """Whether ``peer`` is believed up (phi below the threshold, without a division)."""
        history = self._peers.get(peer)
        if history is None or history.last is None or history.failed:
            return False
        return self._clock() - history.last < self.threshold * history.scale

    def known_down(self, peer: int) -> bool:
        """Whether ``peer`` was heard from (or tried) and is now believed dead;
        a peer never heard from is not known down, only not yet known alive."""
        history = self._peers.get(peer)
        if history is None:
            return False
        return history.failed or (history.last is not None and not self.is_alive(peer))

    def forget(self, peer: int) -> None:
        """Drop a peer that left the cluster."""
        self._peers.pop(peer, None)
