"""Backoff schedules for the retry policy: small, swappable, one idea each.

In the style of redis-py's ``backoff.py``: ``compute(failures)`` is the pause
before the next attempt after ``failures`` failed ones. The retry policy caps
every pause at what the call's deadline leaves.
"""

from __future__ import annotations

import random
from abc import ABC, abstractmethod


class Backoff(ABC):
    """A pause schedule."""

    @abstractmethod
    def compute(self, failures: int) -> float:
        """Seconds to wait after ``failures`` (>= 1) failed attempts."""


class NoBackoff(Backoff):
    """Retry at once (e.g. to fail over to the next replica without a pause)."""

    def compute(self, failures: int) -> float:
        """Always 0."""
        return 0.0


class ConstantBackoff(Backoff):
    """The same pause every time."""

    def __init__(self, backoff: float) -> None:
        if backoff < 0:
            raise ValueError(f"backoff must not be negative, got {backoff}")
        self.backoff = backoff

    def compute(self, failures: int) -> float:
        """``backoff`` seconds."""
        return self.backoff


class ExponentialBackoff(Backoff):
    """``base * 2**(failures-1)``, capped at ``cap``: deterministic, for tests and tools."""

    def __init__(self, base: float = 0.02, cap: float = 1.0) -> None:
        if base < 0 or cap < 0:
            raise ValueError(f"base and cap must not be negative, got {base}, {cap}")
        self.base = base
        self.cap = cap

    def ceiling(self, failures: int) -> float:
        """The exponential pause before any jitter."""
        return min(self.cap, self.base * (2 ** min(max(failures - 1, 0), 62)))

    def compute(self, failures: int) -> float:
        """The exponential pause."""
        return self.ceiling(failures)


class FullJitterBackoff(ExponentialBackoff):
    """Uniform in [0, exponential pause]: spreads clients that failed together (the
    default; AWS's "full jitter")."""

    def compute(self, failures: int) -> float:
        """A random pause up to the exponential one."""
        return random.uniform(0, self.ceiling(failures))


class EqualJitterBackoff(ExponentialBackoff):
    """Half the exponential pause plus a random half: never retries at once."""

    def compute(self, failures: int) -> float:
        """Between half and all of the exponential pause."""
        half = self.ceiling(failures) / 2
        return half + random.uniform(0, half)


__all__ = [
    "Backoff", "ConstantBackoff", "EqualJitterBackoff", "ExponentialBackoff",
    "FullJitterBackoff", "NoBackoff",
]
