"""What the sync and async clients share: settings, metadata, routing, retries,
circuit breakers, the topology cache and how a split call's parts combine.
Everything here is I/O-free."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

import grpc

from manhattan.client.breaker import BreakerPolicy, Breakers
from manhattan.client.errors import PartOutcome, combine, from_rpc_error
from manhattan.client.models import DatasetInfo
from manhattan.client.operations import Operation, reassemble
from manhattan.client.policies import RoundRobinPolicy, RoutingPolicy, TokenAwarePolicy
from manhattan.client.retry import Attempts, RetryPolicy
from manhattan.client.session import SessionClock
from manhattan.client.topology import TopologyCache
from manhattan.security.tls import TlsFiles
from manhattan.errors import (
    InvalidRequest, ManhattanError, NodeUnreachable, StaleTopology, Timeout, Unavailable,
)

T = TypeVar("T")
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
PEEK_THREADS = 16
"""How many replicas' answers to SERIAL gets the sync client awaits at once (two per
get on three replicas: eight gets from as many threads)."""


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
        if routing is not None and not isinstance(routing, RoutingPolicy):
            raise InvalidRequest(
                f"routing must implement RoutingPolicy (query_plan, populate, answered; "
                f"subclass it for the hooks' defaults), not {type(routing).__name__}")
        self.routing = routing or TokenAwarePolicy(
            RoundRobinPolicy(self.endpoints, discover=True))
        self.routing.populate(self.topology)
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
        self.routing.answered(endpoint if error is None else None)
        # A node that is gone, or that did not answer in time (a paused node looks
        # like that until the cluster's failure detector says otherwise): fetch the
        # topology again soon, so calls routed to that node first (a compare-and-set
        # to its key's primary, resent after a timeout) learn where else to go.
        if isinstance(error, (Unavailable, Timeout, StaleTopology)):
            self.topology.invalidate()

    def attempts(self, op: Operation[Any], deadline: float) -> Attempts:
        """A new call's attempts over its plan, decided by the retry policy."""
        return Attempts(self.retry, op, self.plan(op), deadline)

    def failed(self, endpoint: str, exc: grpc.RpcError | ManhattanError) -> ManhattanError:
        """An attempt on ``endpoint`` (on an established connection) failed: the precise
        error, recorded."""
        error = exc if isinstance(exc, ManhattanError) else from_rpc_error(exc, connected=True)
        self.record(endpoint, error)
        return error

    def answered(self, endpoint: str, op: Operation[T], response: Any) -> T:
        """An attempt on ``endpoint`` got ``response``: recorded and decoded."""
        self.record(endpoint, None)
        return op.parse(response)

    def groups(self, op: Operation[Any]) -> list[list[int]]:
        """Item indices of a multi-key call grouped by replica set."""
        return self.topology.group(op.dataset, op.batch_pkeys())

    @staticmethod
    def combine(op: Operation[Any], groups: Sequence[Sequence[int]],
                outcomes: Sequence[Any]) -> list[Any]:
        """The parts' answers in item order, or one MultiPartError carrying every
        part's outcome when any part failed."""
        if not any(isinstance(o, ManhattanError) for o in outcomes):
            return reassemble(groups, outcomes)
        raise combine(op.method, [
            PartOutcome(tuple(g), error=o) if isinstance(o, ManhattanError)
            else PartOutcome(tuple(g), result=o)
            for g, o in zip(groups, outcomes, strict=True)])

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
        """Seconds left before ``deadline``; Unavailable when none are (nothing was sent
        by this attempt)."""
        left = deadline - time.monotonic()
        if left <= 0:
            raise Unavailable(f"{op.method}: the deadline passed before the request could "
                              "be sent; nothing was sent")
        return left

    @staticmethod
    def half_left(deadline: float) -> float:
        """Half the seconds left before ``deadline`` (for a side fetch first)."""
        return max(deadline - time.monotonic(), 0.001) / 2


def connection_ready(state: grpc.ChannelConnectivity, endpoint: str) -> bool:
    """Whether a call may go out on a channel in ``state``: True when connected, False
    while it is still connecting (wait for the next state); NodeUnreachable when
    the connection failed, so nothing would be sent."""
    if state is grpc.ChannelConnectivity.READY:
        return True
    if state in (grpc.ChannelConnectivity.TRANSIENT_FAILURE,
                 grpc.ChannelConnectivity.SHUTDOWN):
        raise NodeUnreachable(f"cannot connect to {endpoint} ({state.name.lower()}); "
                              "nothing was sent")
    return False


def unreachable(endpoint: str) -> NodeUnreachable:
    """The error of a connection that did not come up before the deadline."""
    return NodeUnreachable(f"no connection to {endpoint} before the deadline; nothing was sent")


D = TypeVar("D")
A = TypeVar("A")


class CoreViews(Generic[D, A]):
    """What both clients share: construction, ``dataset()``, ``admin`` and views of their
    core (``self._core``). A transport names its facade classes and opens its own
    state in ``_open``."""

    _dataset_class: Callable[[Any, str], D]
    _admin_class: Callable[[Any], A]

    def __init__(
        self,
        endpoints: str | Sequence[str],
        *,
        token: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        retry: RetryPolicy | None = None,
        routing: RoutingPolicy | None = None,
        breaker: BreakerPolicy | None = None,
        topology: TopologyCache | None = None,
        tls: TlsFiles | None = None,
    ) -> None:
        self._core = ClientCore(endpoints, token=token, timeout=timeout, retry=retry,
                                routing=routing, breaker=breaker, topology=topology, tls=tls)
        self._stubs: dict[tuple[str, str], Any] = {}
        self._open()
        self.admin: A = self._admin_class(self)

    def _open(self) -> None:
        """Set up the transport's own state (channels, pools)."""

    def dataset(self, name: str, *, replication_factor: int | None = None) -> D:
        """A handle on one dataset (``replication_factor`` overrides what the cluster says,
        for routing only)."""
        if replication_factor is not None:
            self._core.topology.pin_replication_factor(name, replication_factor)
        return self._dataset_class(self, name)

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

