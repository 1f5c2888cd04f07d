"""How the SDK turns gRPC statuses into its exception tree."""

from __future__ import annotations

import grpc
import pytest

from manhattan.client import (
    AlreadyExists, InternalError, InvalidRequest, ManhattanError, NotFound, QuotaExceeded,
    Timeout, Unavailable,
)
from manhattan.client.errors import from_rpc_error


class FakeRpcError(grpc.RpcError):
    def __init__(self, code, details, trailing=()):
        self._code, self._details, self._trailing = code, details, trailing

    def code(self):
        return self._code

    def details(self):
        return self._details

    def trailing_metadata(self):
        return self._trailing


@pytest.mark.parametrize("code, cls", [
    (grpc.StatusCode.INVALID_ARGUMENT, InvalidRequest),
    (grpc.StatusCode.NOT_FOUND, NotFound),
    (grpc.StatusCode.ALREADY_EXISTS, AlreadyExists),
    (grpc.StatusCode.UNAVAILABLE, Unavailable),
    (grpc.StatusCode.DEADLINE_EXCEEDED, Timeout),
    (grpc.StatusCode.INTERNAL, InternalError),
])
def test_status_codes_map_to_their_exception(code, cls) -> None:
    error = from_rpc_error(FakeRpcError(code, "why"))
    assert type(error) is cls and str(error) == "why"


def test_quota_exceeded_carries_the_retry_hint() -> None:
    error = from_rpc_error(FakeRpcError(grpc.StatusCode.RESOURCE_EXHAUSTED, "slow down",
                                        (("retry-after", "0.25"),)))
    assert type(error) is QuotaExceeded and error.retry_after == 0.25


@pytest.mark.parametrize("details", [
    "CLIENT: Sent message larger than max (68158484 vs. 67108864)",
    "SERVER: Received message larger than max (68158484 vs. 67108864)",
])
def test_grpc_message_size_cap_is_an_invalid_request_not_a_quota(details) -> None:
    error = from_rpc_error(FakeRpcError(grpc.StatusCode.RESOURCE_EXHAUSTED, details))
    assert type(error) is InvalidRequest and not error.retryable
    assert "larger than max" in str(error)


def test_unmapped_status_is_still_a_manhattan_error() -> None:
    error = from_rpc_error(FakeRpcError(grpc.StatusCode.DATA_LOSS, ""))
    assert type(error) is ManhattanError and str(error) == "DATA_LOSS"


@pytest.mark.parametrize("message", ["Stream removed (Socket closed)", "Connection reset by peer",
                                     "Broken pipe"])
def test_a_connection_lost_mid_call_is_an_unknown_outcome_not_nothing_sent(message):
    # Found by the jepsen-style harness: a put applied just before the connection broke
    # was reported as Unavailable ("nothing was sent") and retried, so it landed twice.
    error = from_rpc_error(FakeRpcError(grpc.StatusCode.UNAVAILABLE, message))
    assert isinstance(error, Timeout) and "outcome is unknown" in error.message


def test_a_refused_connection_is_still_unavailable():
    error = from_rpc_error(FakeRpcError(grpc.StatusCode.UNAVAILABLE,
                                        "failed to connect to all addresses"))
    assert isinstance(error, Unavailable)
