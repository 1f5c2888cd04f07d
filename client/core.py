"""What the sync and async clients share: settings, metadata, routing, retry setup,
circuit breakers and the topology cache. Everything here is I/O-free."""

from __future__ import annotations

import itertools
import time
from collections.abc import Sequence
from typing import Any

from manhattan.client.breaker import BreakerPolicy, Breakers
from manhattan.client.models import DatasetInfo
from manhattan.client.operations import Operation
from manhattan.client.policies import (
    RetryPolicy, RoundRobinPolicy, RoutingPolicy, TokenAwarePolicy,
)
from manhattan.client.session import SessionClock
from manhattan.client.topology import TopologyCache
from manhattan.security.tls import TlsFiles
from manhattan.errors import (
    InvalidRequest, ManhattanError, QuotaExceeded, StaleTopology, Timeout, Unavailable,
)

DEFAULT_TIMEOUT = 5.0
MAX_MESSAGE_BYTES = 64 * 1024 * 1024
CHANNEL_OPTIONS = (
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
    ("grpc.keepalive_time_ms", 30_000),
    ("grpc.enable_retries", 0),  # retries are ours, bounded by the caller's deadline
    # A restarted node should be reachable again within a couple of seconds; the
    # circuit breakers, not gRPC's reconnect backoff, decide how often it is tried.
    ("grpc.initial_reconnect_backoff_ms", 200),
    ("grpc.min_reconnect_backoff_ms", 200),
    ("grpc.max_reconnect_backoff_ms", 2000),
)
PARALLEL_REQUESTS = 8
"""How many parts of a split get_many/put_many the sync client sends at once."""


def parse_endpoints(endpoints: str | Sequence[str]) -> list[str]:
    """'a:1,b:2' or ['a:1', 'b:2'] -> ['a:1', 'b:2'], checked."""
    items = endpoints.split(",") if isinstance(endpoints, str) else list(endpoints)
    cleaned = [e.strip() for e in items if e and e.strip()]
    if not cleaned:
        raise InvalidRequest("no endpoints given (host:port, comma-separated)")
    for endpoint in cleaned:
        host, sep, port = endpoint.rpartition(":")
        if not sep or not host or not port.isdigit():
            raise InvalidRequest(f"endpoint {endpoint!r} is not host:port")
    return cleaned


class ClientCore:
    """Settings and decisions common to Client and AsyncClient."""

    def __init__(
        self,
        endpoints: str | Sequence[str],
        *,
        token: str | None,
        timeout: float,
        retry: RetryPolicy | None,
        routing: RoutingPolicy | None,
        breaker: BreakerPolicy | None = None,
        topology: TopologyCache | None = None,
        tls: TlsFiles | None = None,
    ) -> None:
        self.endpoints = parse_endpoints(endpoints)
        # TLS: trust the cluster's CA (and present a client certificate if given).
        self.credentials = tls.channel_credentials() if tls is not None else None
        self.metadata: tuple[tuple[str, str], ...] = (
            (("authorization", f"Bearer {token}"),) if token else ()
        )
        # Sent with every request (the metadata above plus the session timestamp).
        self.session = SessionClock(self.metadata)
        if timeout <= 0:
            raise InvalidRequest(f"timeout must be positive seconds, got {timeout}")
        self.timeout = timeout
        self.retry = retry or RetryPolicy()
        self.topology = topology or TopologyCache()
        self.breakers = Breakers(breaker)
        self.routing = routing or TokenAwarePolicy(
            RoundRobinPolicy(self.endpoints, discover=True))
        populate = getattr(self.routing, "populate", None)
        if callable(populate):
            populate(self.topology)
        answered = getattr(self.routing, "answered", None)
        self._answered = answered if callable(answered) else None
        self._rotation = itertools.count()

    # -- routing and outcomes ---------------------------------------------------------

    def known_endpoints(self) -> list[str]:
        """The seeds, then every member address learned from the topology."""
        return list(dict.fromkeys([*self.endpoints, *self.topology.addresses]))

    def plan(self, op: Operation[Any]) -> list[str]:
        """The routing policy's plan with open-breaker endpoints moved to the end."""
        plan = self.routing.query_plan(op) or self.endpoints
        return self.breakers.order(plan)

    def sending(self, endpoint: str) -> None:
        """A request is about to go to ``endpoint``."""
        self.breakers.sending(endpoint)

    def record(self, endpoint: str, error: ManhattanError | None) -> None:
        """What came back from ``endpoint`` (None: an answer)."""
        self.breakers.record(endpoint, error)
        if self._answered is not None:
            self._answered(endpoint if error is None else None)
        if isinstance(error, (Unavailable, StaleTopology)):
            self.topology.invalidate()

    def groups(self, op: Operation[Any]) -> list[list[int]]:
        """Item indices of a multi-key call grouped by replica set."""
        return self.topology.group(op.dataset, op.batch_pkeys())

    # -- topology fetches -------------------------------------------------------------

    def fetch_plan(self) -> list[str]:
        """Endpoints to ask for the topology: rotating start, known-dead and open last."""
        known = self.known_endpoints()
        start = next(self._rotation) % len(known)
        known = known[start:] + known[:start]
        dead = self.topology.dead_addresses
        if dead:
            known = [e for e in known if e not in dead] + [e for e in known if e in dead]
        return self.breakers.order(known)

    def fetch_deadline(self, call_deadline: float | None = None) -> float:
        """Deadline of a topology fetch: ``fetch_timeout``, and at most half of what a
        waiting call has left, so the call itself still has time."""
        now = time.monotonic()
        budget = self.topology.fetch_timeout
        if call_deadline is not None:
            budget = min(budget, (call_deadline - now) / 2)
        return now + max(budget, 0.0)

    def learn(self, info: DatasetInfo) -> None:
        """Remember a dataset's replication factor (e.g. from CreateDataset)."""
        self.topology.learn_datasets([info])

    def deadline(self, timeout: float | None) -> float:
        """Monotonic deadline of a call."""
        budget = self.timeout if timeout is None else timeout
        if budget <= 0:
            raise InvalidRequest(f"timeout must be positive seconds, got {budget}")
        return time.monotonic() + budget

    @staticmethod
    def remaining(deadline: float, op: Operation[Any]) -> float:
        """Seconds left before ``deadline``; Timeout when none are."""
        left = deadline - time.monotonic()
        if left <= 0:
            raise Timeout(f"{op.method}: deadline passed before the request could be sent")
        return left

    @staticmethod
    def retry_pause(exc: ManhattanError, deadline: float) -> float:
        """Seconds to wait before the first retry: the server's ``retry-after`` of a
        QuotaExceeded (re-raised at once when the call's deadline comes sooner)."""
        if isinstance(exc, QuotaExceeded) and exc.retry_after:
            if time.monotonic() + exc.retry_after >= deadline:
                raise exc
            return exc.retry_after
        return 0.0

    def retry_args(self, op: Operation[Any], deadline: float) -> dict[str, Any]:
        """tenacity arguments for the retries after a failed first attempt."""
        budget = max(deadline - time.monotonic(), 0.0)
        return self.retry.tenacity_args(op, budget, after_first=True)

    @staticmethod
    def endpoint_for(plan: Sequence[str], attempt: int) -> str:
        """The endpoint of 1-based attempt ``attempt``: the plan, cycled."""
        return plan[(attempt - 1) % len(plan)]


class CoreViews:
    """What both clients expose of their shared core (``self._core``)."""

    _core: ClientCore

    @property
    def topology(self) -> TopologyCache:
        """The client's view of the cluster (ring, epoch, liveness)."""
        return self._core.topology

    @property
    def breakers(self) -> Breakers:
        """The per-endpoint circuit breakers."""
        return self._core.breakers

    @property
    def routing(self) -> RoutingPolicy:
        """The routing policy in use."""
        return self._core.routing

    @property
    def endpoints(self) -> list[str]:
        """Every endpoint known: the seeds and the members learned since."""
        return self._core.known_endpoints()

    @property
    def session_timestamp(self) -> int:
        """The highest HLC timestamp this client has seen (0: none yet). Hand it to
        another process's ``advance_session`` to order its operations after ours."""
        return self._core.session.timestamp

    def advance_session(self, timestamp: int) -> None:
        """Order this client's next operations after everything acknowledged up to
        ``timestamp`` (another client's ``session_timestamp``); never moves back."""
        self._core.session.advance(timestamp)

    def _pin(self, dataset: str, replication_factor: int | None) -> None:
        """Let ``replication_factor`` override what the cluster says (routing only)."""
        if replication_factor is not None:
            self._core.topology.pin_replication_factor(dataset, replication_factor)
