"""Small, swappable policies: which node to try (routing) and when to retry.

In the spirit of the Cassandra python-driver: the client asks a routing policy
for a query plan (the endpoints to try, in order) and a retry policy for
tenacity's stop/wait/retry decisions. Retries always end at the caller's deadline.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from tenacity import (
    RetryCallState, retry_if_exception, stop_after_attempt, stop_before_delay,
)

from manhattan.client.operations import Operation
from manhattan.errors import ManhattanError, QuotaExceeded, Timeout, Unavailable


class RoutingPolicy(Protocol):
    """Chooses the endpoints to try for an operation, best first."""

    def query_plan(self, op: Operation[Any]) -> Sequence[str]:
        """Endpoints in the order to try them."""


class RoundRobinPolicy:
    """Spreads requests over every known endpoint, starting at a rotating one."""

    def __init__(self, endpoints: Sequence[str]) -> None:
        if not endpoints:
            raise ValueError("at least one endpoint is needed")
        self._endpoints = list(endpoints)
        self._counter = itertools.count(random.randrange(len(self._endpoints)))

    def query_plan(self, op: Operation[Any]) -> Sequence[str]:
        start = next(self._counter) % len(self._endpoints)
        return self._endpoints[start:] + self._endpoints[:start]


def should_retry(exc: BaseException, op: Operation[Any]) -> bool:
    """Retry when nothing was done (Unavailable, QuotaExceeded) or when repeating is safe."""
    if isinstance(exc, (Unavailable, QuotaExceeded)):
        return True
    return isinstance(exc, Timeout) and op.idempotent


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential backoff with full jitter, bounded by attempts and the deadline."""

    max_attempts: int = 5
    initial_backoff: float = 0.02
    max_backoff: float = 1.0

    def backoff(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
        ceiling = min(self.max_backoff, self.initial_backoff * (2 ** (attempt - 1)))
        return random.uniform(0, ceiling)

    def tenacity_args(
        self, op: Operation[Any], budget: float, *, after_first: bool = False
    ) -> dict[str, Any]:
        """Arguments for tenacity's Retrying/AsyncRetrying for one call.

        ``after_first``: one attempt was already made outside tenacity (the
        clients' fast path), so the loop makes one fewer; its first try goes at
        once to the next endpoint of the plan (fail over first, back off after).
        """
        attempts = self.max_attempts - 1 if after_first else self.max_attempts

        def wait(state: RetryCallState) -> float:
            delay = self.backoff(state.attempt_number)
            exc = state.outcome.exception() if state.outcome else None
            if isinstance(exc, QuotaExceeded) and exc.retry_after:
                delay = max(delay, exc.retry_after)
            return delay

        return {
            "stop": stop_after_attempt(max(attempts, 1)) | stop_before_delay(budget),
            "wait": wait,
            "retry": retry_if_exception(lambda exc: should_retry(exc, op)),
            "reraise": True,
        }


def is_retryable(exc: ManhattanError, op: Operation[Any]) -> bool:
    """Whether a first failure is worth entering the retry loop for."""
    return should_retry(exc, op)
