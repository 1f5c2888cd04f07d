"""When to try again: a retry policy that returns a decision, and one call's attempts.

Like the Cassandra python-driver's ``RetryPolicy``: the client hands the policy
each failure and executes the ``RetryDecision`` it gets back. What the policy
may retry follows from the error class alone (never its text):

- ``Unavailable`` (nothing was done), ``StaleTopology`` and ``QuotaExceeded``
  (after its ``retry_after``): always safe;
- ``Timeout`` (outcome unknown): only for idempotent operations, unless the
  policy says ``retry_non_idempotent``;
- everything else: never.

The budget always ends at the call's deadline: a pause that would reach past it
stops the retries instead.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from manhattan.client.backoff import Backoff, FullJitterBackoff
from manhattan.client.operations import Operation
from manhattan.errors import ManhattanError, QuotaExceeded, StaleTopology, Timeout, Unavailable


@dataclass(frozen=True, slots=True)
class RetryDecision:
    """Whether to try again, and after how many seconds."""

    retry: bool
    delay: float = 0.0


STOP = RetryDecision(False)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Up to ``max_attempts`` attempts, paced by ``backoff`` (default: full jitter from
    ``initial_backoff`` up to ``max_backoff``), all before the call's deadline.

    The first retry goes at once to the next endpoint of the plan (fail over first,
    back off after). ``retry_non_idempotent``: also repeat a write whose outcome is
    unknown (at-least-once; the call then reports the outcome unknown whenever any
    attempt's was, see ``Attempts``).
    """

    max_attempts: int = 5
    initial_backoff: float = 0.02
    max_backoff: float = 1.0
    backoff: Backoff | None = None
    retry_non_idempotent: bool = False

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts must be >= 1, got {self.max_attempts}")
        if self.initial_backoff < 0 or self.max_backoff < 0:
            raise ValueError("initial_backoff and max_backoff must not be negative")
        if self.backoff is None:
            object.__setattr__(self, "backoff",
                               FullJitterBackoff(self.initial_backoff, self.max_backoff))

    def safe_to_retry(self, error: ManhattanError, op: Operation[Any]) -> bool:
        """Whether repeating ``op`` after ``error`` cannot do harm the caller did not allow."""
        if isinstance(error, (Unavailable, StaleTopology, QuotaExceeded)):
            return True
        return isinstance(error, Timeout) and (op.idempotent or self.retry_non_idempotent)

    def on_error(self, op: Operation[Any], error: ManhattanError, attempts: int,
                 remaining: float) -> RetryDecision:
        """The decision after the ``attempts``-th failed attempt, ``remaining`` seconds
        before the call's deadline."""
        if attempts >= self.max_attempts or not self.safe_to_retry(error, op):
            return STOP
        assert self.backoff is not None  # set in __post_init__
        delay = 0.0 if attempts == 1 else self.backoff.compute(attempts - 1)
        if isinstance(error, QuotaExceeded) and error.retry_after:
            delay = max(delay, error.retry_after)
        if delay >= remaining:
            return STOP  # the budget ends at the deadline
        return RetryDecision(True, delay)


class Attempts:
    """One call's way through its plan: the endpoint of each attempt, the policy's
    decision after each failure and the call's honest final error.

    A write whose earlier attempt ended with its outcome unknown (``Timeout``) stays
    unknown whatever a later attempt says: "too few replicas" on the retry does not
    undo what the first attempt may have applied.
    """

    def __init__(self, policy: RetryPolicy, op: Operation[Any], plan: Sequence[str],
                 deadline: float) -> None:
        if not plan:
            raise ValueError("a query plan needs at least one endpoint")
        self._policy = policy
        self._op = op
        self._plan = plan
        self._deadline = deadline
        self.count = 0
        self.unknown: Timeout | None = None

    def next_endpoint(self) -> str:
        """The endpoint of the next attempt: the plan, cycled."""
        self.count += 1
        return self._plan[(self.count - 1) % len(self._plan)]

    def failed(self, error: ManhattanError) -> float:
        """Seconds to wait before the next attempt; raises the call's final error when
        the policy says stop."""
        if (isinstance(error, Timeout) and (not self._op.idempotent or self._op.write)
                and self.unknown is None):
            self.unknown = error
        decision = self._policy.on_error(self._op, error, self.count,
                                         self._deadline - time.monotonic())
        if decision.retry:
            if self._op.on_retry is not None:
                self._op.on_retry(self._op.request)
            return decision.delay
        raise self.final(error)

    def final(self, error: ManhattanError) -> ManhattanError:
        """``error``, or Timeout when an earlier attempt of a write may have applied."""
        if self.unknown is None or isinstance(error, Timeout):
            return error
        unknown = Timeout(
            f"{self._op.method}: the outcome is unknown: attempt {self.count} said "
            f"{error.kind} ({error.message}) but an earlier attempt may have applied "
            f"({self.unknown.message})", details=error.details)
        unknown.__cause__ = error
        return unknown


__all__ = ["Attempts", "RetryDecision", "RetryPolicy", "STOP"]
