"""A token bucket: a steady rate with a burst, refilled continuously (sub-second).

Rate and capacity are passed on every call rather than stored, so that a change
of limits, or of this node's share of a cluster-wide limit, takes effect on the
next request without rebuilding any state.
"""

from __future__ import annotations

import time
from collections.abc import Callable

_EPSILON = 1e-9


class TokenBucket:
    """Tokens accrue at ``rate`` per second up to ``capacity``; a request spends ``cost``.

    A request dearer than the whole bucket is let through when the bucket is full
    and leaves it in debt, so a large batch is slowed, never refused forever.
    """

    __slots__ = ("_clock", "_tokens", "_stamp")

    def __init__(self, capacity: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._tokens = float(capacity)
        self._stamp = clock()

    def _refill(self, rate: float, capacity: float) -> float:
        now = self._clock()
        elapsed = now - self._stamp
        self._stamp = now
        if elapsed > 0:
            self._tokens = min(capacity, self._tokens + elapsed * rate)
        elif self._tokens > capacity:
            self._tokens = capacity
        return self._tokens

    def wait_time(self, cost: float, rate: float, capacity: float) -> float:
        """Seconds until ``cost`` could be spent (0.0: now). Spends nothing."""
        tokens = self._refill(rate, capacity)
        needed = min(cost, capacity)
        if tokens >= needed - _EPSILON:  # float dust must not refuse an exact budget
            return 0.0
        return (needed - tokens) / rate

    def spend(self, cost: float) -> None:
        """Take ``cost`` tokens (the balance may go negative: debt slows what follows)."""
        self._tokens -= cost

    @property
    def tokens(self) -> float:
        """The balance at the last refill (for tests and introspection)."""
        return self._tokens
