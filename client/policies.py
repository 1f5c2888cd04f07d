"""Small, swappable policies: which node to try (routing) and when to retry.

In the spirit of the Cassandra python-driver: the client asks a routing policy
for a query plan (the endpoints to try, in order) and a retry policy for
tenacity's stop/wait/retry decisions. Retries always end at the caller's deadline.

A routing policy may also have ``populate(topology)``: the client then hands it
its TopologyCache, so the policy can see every member (not only the seeds it was
given), their liveness and the ring.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from tenacity import (
    RetryCallState, retry_if_exception, stop_after_attempt, stop_before_delay,
)

from manhattan.client.operations import Operation
from manhattan.errors import ManhattanError, QuotaExceeded, Timeout, Unavailable

if TYPE_CHECKING:
    from manhattan.client.topology import TopologyCache


class RoutingPolicy(Protocol):
    """Chooses the endpoints to try for an operation, best first (may add ``populate``)."""

    def query_plan(self, op: Operation[Any]) -> Sequence[str]:
        """Endpoints in the order to try them."""


class RoundRobinPolicy:
    """Spreads requests over its endpoints, starting at a rotating one.

    With ``discover`` the endpoints are the seeds plus every member the topology
    names (the client's default); without it, exactly the endpoints given. Once
    populated, members the topology reports down go after the live ones.
    """

    def __init__(self, endpoints: Sequence[str], *, discover: bool = False) -> None:
        if not endpoints:
            raise ValueError("at least one endpoint is needed")
        self.discover = discover
        self._seeds = list(dict.fromkeys(endpoints))
        self._endpoints = list(self._seeds)
        self._counter = itertools.count(random.randrange(len(self._endpoints)))
        self._topology: TopologyCache | None = None
        self._seen_version = -1

    def populate(self, topology: "TopologyCache") -> None:
        """Follow ``topology`` (member addresses if discovering, and liveness)."""
        self._topology = topology

    @property
    def endpoints(self) -> list[str]:
        """The endpoints now: the seeds, then (discovering) the members learned since."""
        topology = self._topology
        if self.discover and topology is not None and topology.version != self._seen_version:
            version = topology.version
            self._endpoints = list(dict.fromkeys([*self._seeds, *topology.addresses]))
            self._seen_version = version
        return self._endpoints

    def query_plan(self, op: Operation[Any]) -> Sequence[str]:
        """Every endpoint, from a rotating start; known-dead ones last."""
        endpoints = self.endpoints
        start = next(self._counter) % len(endpoints)
        plan = endpoints[start:] + endpoints[:start]
        dead = self._topology.dead_addresses if self._topology is not None else frozenset()
        if dead:
            plan = [e for e in plan if e not in dead] + [e for e in plan if e in dead]
        return plan


class TokenAwarePolicy:
    """Puts the live replicas of an operation's pkey first, then the child's plan.

    Replicas come from the topology, so they may be nodes the child does not list.
    Multi-key and admin calls (no pkey), and every call before the topology is
    known, get the child's plan unchanged. ``shuffle_replicas`` rotates the
    replicas between calls to spread load over them; otherwise the primary
    replica always comes first.

    ``sticky``: the replica that answered this client's previous call goes first
    whenever it is a live replica of the key (then the others, rotated or not).
    A caller that sends one request at a time then keeps one coordinator hot
    instead of waking a different node process for every call — on a small
    box that wake-up is a large share of a point read. Many clients still
    spread over the nodes (each sticks where its first answer came from); a
    failed attempt drops the stickiness at once.
    """

    def __init__(self, child: RoutingPolicy, *, shuffle_replicas: bool = True,
                 sticky: bool = False) -> None:
        self.child = child
        self.shuffle_replicas = shuffle_replicas
        self.sticky = sticky
        self._last_answer: str | None = None
        self._topology: TopologyCache | None = None
        self._counter = itertools.count(random.randrange(1 << 16))

    def answered(self, endpoint: str | None) -> None:
        """``endpoint`` just answered a call; None: the last call failed (the client
        tells a policy that has this method after every attempt)."""
        self._last_answer = endpoint

    def populate(self, topology: "TopologyCache") -> None:
        """Route with ``topology``; the child is populated with it too."""
        self._topology = topology
        populate = getattr(self.child, "populate", None)
        if populate is not None:
            populate(topology)

    def replicas(self, op: Operation[Any]) -> list[str]:
        """Addresses of the live replicas of ``op.pkey``, primary first (empty if unknown)."""
        topology = self._topology
        if op.pkey is None or topology is None:
            return []
        return [m.address for m in topology.replicas(op.dataset, op.pkey)
                if topology.is_alive(m.id)]

    def query_plan(self, op: Operation[Any]) -> Sequence[str]:
        """Live replicas (rotated if shuffling), then the child's other endpoints."""
        child_plan = self.child.query_plan(op)
        replicas = self.replicas(op)
        if not replicas:
            return child_plan
        if self.shuffle_replicas and len(replicas) > 1:
            start = next(self._counter) % len(replicas)
            replicas = replicas[start:] + replicas[:start]
        last = self._last_answer
        if self.sticky and last is not None and last != replicas[0] and last in replicas:
            replicas.remove(last)
            replicas.insert(0, last)
        chosen = set(replicas)
        return replicas + [e for e in child_plan if e not in chosen]


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
