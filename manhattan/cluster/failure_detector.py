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
        history = self._peers.setdefault(peer, _PeerHistory())
        now = self._clock()
        if history.last is not None:
            history.intervals.append(max(now - history.last, _MIN_INTERVAL_S))
        history.last = now
        history.failed = False

    def failure(self, peer: int) -> None:
        """A call to ``peer`` failed to connect: dead until the next heartbeat."""
        self._peers.setdefault(peer, _PeerHistory()).failed = True

    def phi(self, peer: int) -> float:
        """Suspicion level: 0 is fresh, larger is likelier dead (inf: never heard/failed)."""
        history = self._peers.get(peer)
        if history is None or history.last is None or history.failed:
            return math.inf
        mean = (sum(history.intervals) / len(history.intervals)
                if history.intervals else self.expected_interval_s)
        elapsed = self._clock() - history.last
        # Exponential inter-arrival model: phi = -log10(P(no heartbeat for elapsed)).
        return elapsed / (mean * math.log(10))

    def is_alive(self, peer: int) -> bool:
        """Whether ``peer`` is believed up."""
        return self.phi(peer) < self.threshold

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
