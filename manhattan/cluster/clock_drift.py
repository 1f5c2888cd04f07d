"""How far this node's wall clock runs ahead of its peers', from heartbeats.

Each ping carries the peer's wall clock; the offset of a peer is its clock minus
the midpoint of the ping's round trip here (NTP's estimate). A node whose clock
is more than ``max_drift_ms`` ahead of the median of its peers' stamps writes
with timestamps that win last-writer-wins against everyone else's later writes,
so it refuses to coordinate writes until its clock is back; it says so in the
refusal, the health answer, a metric and a log line, and recovers by itself.
"""

from __future__ import annotations

import logging
import statistics
import threading
import time
from collections.abc import Callable

log = logging.getLogger("manhattan.clock")


class ClockDrift:
    """Per-peer clock offsets and the verdict on this node's own clock."""

    def __init__(self, *, max_drift_ms: int, stale_s: float = 10.0,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        if max_drift_ms <= 0:
            raise ValueError(f"max_drift_ms must be positive, got {max_drift_ms}")
        self.max_drift_ms = max_drift_ms
        self.stale_s = stale_s
        self._monotonic = monotonic
        self._offsets: dict[int, tuple[float, float]] = {}  # peer -> (offset ms, when)
        self._lock = threading.Lock()
        self._refusing = False

    def sample(self, peer: int, peer_wall_ms: int, sent_ms: int, received_ms: int) -> None:
        """One heartbeat: ``peer`` said ``peer_wall_ms`` between ``sent_ms`` and
        ``received_ms`` of this node's wall clock. A peer that sent no clock (0) is
        ignored."""
        if peer_wall_ms <= 0:
            return
        offset = peer_wall_ms - (sent_ms + received_ms) / 2
        with self._lock:
            self._offsets[peer] = (offset, self._monotonic())
        self._verdict()

    def forget(self, peer: int) -> None:
        """Drop a peer that left the cluster."""
        with self._lock:
            self._offsets.pop(peer, None)

    def ahead_ms(self) -> float:
        """How far this node's clock runs ahead of the median of its peers' recent
        clocks (negative: behind; 0 without recent samples)."""
        now = self._monotonic()
        with self._lock:
            fresh = [offset for offset, at in self._offsets.values() if now - at <= self.stale_s]
        return -statistics.median(fresh) if fresh else 0.0

    @property
    def refusing(self) -> bool:
        """Whether this node refuses to coordinate writes (for health and metrics)."""
        return self._refusing

    def _verdict(self) -> bool:
        ahead = self.ahead_ms()
        refusing = ahead > self.max_drift_ms
        if refusing != self._refusing:
            self._refusing = refusing
            if refusing:
                log.error("this node's clock runs %.0f ms ahead of its peers' (limit %d ms): "
                          "refusing to coordinate writes until it is back", ahead,
                          self.max_drift_ms)
            else:
                log.warning("this node's clock is back within %d ms of its peers' (%.0f ms "
                            "ahead): coordinating writes again", self.max_drift_ms, ahead)
        return refusing

    def refusal(self) -> str | None:
        """Why this node must not coordinate writes now, or None. On every write: the
        verdict is kept from the last heartbeat, re-judged here only while refusing."""
        if not self._refusing or not self._verdict():
            return None
        return (f"this node's clock runs {self.ahead_ms():.0f} ms ahead of its peers' "
                f"(clock.max_drift_ms={self.max_drift_ms}): it refuses to coordinate writes "
                "until its clock is back; send the write to another node (nothing was sent)")
