"""What the sync and async clients share: settings, metadata, routing, retry setup."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from manhattan.client.operations import Operation
from manhattan.client.policies import RetryPolicy, RoundRobinPolicy, RoutingPolicy
from manhattan.errors import InvalidRequest, Timeout

DEFAULT_TIMEOUT = 5.0
MAX_MESSAGE_BYTES = 64 * 1024 * 1024
CHANNEL_OPTIONS = (
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
    ("grpc.keepalive_time_ms", 30_000),
    ("grpc.enable_retries", 0),  # retries are ours, bounded by the caller's deadline
)


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
    ) -> None:
        self.endpoints = parse_endpoints(endpoints)
        self.metadata: tuple[tuple[str, str], ...] = (
            (("authorization", f"Bearer {token}"),) if token else ()
        )
        if timeout <= 0:
            raise InvalidRequest(f"timeout must be positive seconds, got {timeout}")
        self.timeout = timeout
        self.retry = retry or RetryPolicy()
        self.routing = routing or RoundRobinPolicy(self.endpoints)

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

    def retry_args(self, op: Operation[Any], deadline: float) -> dict[str, Any]:
        """tenacity arguments for the retries after a failed first attempt."""
        budget = max(deadline - time.monotonic(), 0.0)
        return self.retry.tenacity_args(op, budget, after_first=True)

    @staticmethod
    def endpoint_for(plan: Sequence[str], attempt: int) -> str:
        """The endpoint of 1-based attempt ``attempt``: the plan, cycled."""
        return plan[(attempt - 1) % len(plan)]
