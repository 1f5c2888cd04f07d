"""Per-endpoint circuit breakers: stop trying a node first once it keeps failing.

CLOSED counts consecutive connection-level failures (the node could not be
reached); at ``failure_threshold`` the breaker OPENs. An open endpoint is
never refused outright; it is moved to the end of every query plan, so a
call tries it only when everything better has failed. After ``cooldown``
seconds it is HALF_OPEN: one call may probe it in its usual place; success
closes the breaker, a connection failure opens it again for another cool-down.

An answer from the node, even an error (NotFound, or ReplicasUnavailable
because too few *replicas* are live), proves the node reachable and counts as
success. Only the error class decides: ``NodeUnreachable`` (no connection) and
``ConnectionLost`` (it broke mid-call) are failures.
"""

from __future__ import annotations

import enum
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from manhattan.errors import ConnectionLost, ManhattanError, NodeUnreachable, Timeout


def is_connection_failure(error: ManhattanError) -> bool:
    """Whether ``error`` means the endpoint itself could not be reached (or dropped)."""
    return isinstance(error, (NodeUnreachable, ConnectionLost))


class BreakerState(str, enum.Enum):
    """Where a breaker is: CLOSED (healthy), OPEN (failing), HALF_OPEN (may be probed)."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass(frozen=True, slots=True)
class BreakerPolicy:
    """When breakers open and how long they stay open."""

    failure_threshold: int = 3
    cooldown: float = 5.0

    def __post_init__(self) -> None:
        if self.failure_threshold < 1:
            raise ValueError(f"failure_threshold must be >= 1, got {self.failure_threshold}")
        if self.cooldown <= 0:
            raise ValueError(f"cooldown must be positive seconds, got {self.cooldown}")


class CircuitBreaker:
    """The breaker of one endpoint. Not locked itself: ``Breakers`` serialises access."""

    def __init__(self, policy: BreakerPolicy, clock: Callable[[], float]) -> None:
        self._policy = policy
        self._clock = clock
        self.failures = 0
        self._opened_at: float | None = None
        self._probe_at: float | None = None

    @property
    def state(self) -> BreakerState:
        """The state now (OPEN turns HALF_OPEN by itself once the cool-down is over)."""
        if self._opened_at is None:
            return BreakerState.CLOSED
        if self._clock() - self._opened_at < self._policy.cooldown:
            return BreakerState.OPEN
        return BreakerState.HALF_OPEN

    def available(self) -> bool:
        """Whether the endpoint may keep its place in a plan (closed, or free to probe)."""
        state = self.state
        if state is BreakerState.CLOSED:
            return True
        if state is BreakerState.OPEN:
            return False
        # One probe at a time; a probe never resolved (its plan succeeded elsewhere
        # first, or it timed out) frees the slot after another cool-down.
        return self._probe_at is None or self._clock() - self._probe_at >= self._policy.cooldown

    def sending(self) -> None:
        """A call is about to go to this endpoint: if it is the probe, say so."""
        if self.state is BreakerState.HALF_OPEN and self.available():
            self._probe_at = self._clock()

    def success(self) -> None:
        """The endpoint answered: close."""
        self.failures = 0
        self._opened_at = None
        self._probe_at = None

    def failure(self) -> None:
        """The endpoint could not be reached."""
        self.failures += 1
        self._probe_at = None
        if self._opened_at is not None or self.failures >= self._policy.failure_threshold:
            self._opened_at = self._clock()

    def inconclusive(self) -> None:
        """No answer in time (Timeout): the node may be slow, not gone; free the probe."""
        self._probe_at = None


class Breakers:
    """Circuit breakers by endpoint, thread-safe; reorders query plans."""

    def __init__(self, policy: BreakerPolicy | None = None, *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.policy = policy or BreakerPolicy()
        self._clock = clock
        self._lock = threading.Lock()
        self._breakers: dict[str, CircuitBreaker] = {}

    def _get(self, endpoint: str) -> CircuitBreaker:
        breaker = self._breakers.get(endpoint)
        if breaker is None:
            breaker = self._breakers[endpoint] = CircuitBreaker(self.policy, self._clock)
        return breaker

    def state(self, endpoint: str) -> BreakerState:
        """The state of ``endpoint``'s breaker (CLOSED if it has none yet)."""
        with self._lock:
            breaker = self._breakers.get(endpoint)
            return breaker.state if breaker is not None else BreakerState.CLOSED

    def order(self, plan: Sequence[str]) -> list[str]:
        """``plan`` with endpoints whose breaker is open moved to the end (order kept)."""
        with self._lock:
            if not self._breakers:
                return list(plan)
            first, last = [], []
            for endpoint in plan:
                breaker = self._breakers.get(endpoint)
                (first if breaker is None or breaker.available() else last).append(endpoint)
            return first + last

    def sending(self, endpoint: str) -> None:
        """Note a call about to go to ``endpoint`` (it may be the half-open probe)."""
        with self._lock:
            breaker = self._breakers.get(endpoint)
            if breaker is not None:
                breaker.sending()

    def record(self, endpoint: str, error: ManhattanError | None) -> None:
        """The outcome of a call to ``endpoint``: None for success, else its error."""
        with self._lock:
            # (ConnectionLost is a Timeout, the outcome being unknown, but for the breaker
            # a failure: the connection broke. So the connection test comes first.)
            if error is not None and is_connection_failure(error):
                self._get(endpoint).failure()
            elif isinstance(error, Timeout):
                breaker = self._breakers.get(endpoint)
                if breaker is not None:
                    breaker.inconclusive()
            else:
                breaker = self._breakers.get(endpoint)
                if breaker is not None:
                    breaker.success()


__all__ = [
    "BreakerPolicy", "BreakerState", "Breakers", "CircuitBreaker", "is_connection_failure",
]
