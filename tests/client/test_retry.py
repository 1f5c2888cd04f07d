"""The retry policy's decisions, the backoff classes, one call's attempts and how a split
call's parts combine: pure logic, so properties over many cases."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from manhattan.client import (
    ConstantBackoff, ConnectionLost, EqualJitterBackoff, ExponentialBackoff, FullJitterBackoff,
    InvalidRequest, ManhattanError, MultiPartError, NoBackoff, NodeUnreachable, NotFound,
    PartOutcome, QuotaExceeded, ReplicasUnavailable, RetryDecision, RetryPolicy, StaleTopology,
    Timeout, Unavailable,
)
from manhattan.client import operations as ops
from manhattan.client.errors import combine
from manhattan.client.retry import Attempts
from manhattan.types import Consistency, Durability

READ = ops.get("d", "p", "k", Consistency.DEFAULT)
WRITE = ops.put("d", "p", "k", "v", None, Consistency.DEFAULT, Durability.DEFAULT)
SAFE = [NodeUnreachable("x"), ReplicasUnavailable("x"), Unavailable("x"), StaleTopology("x"),
        QuotaExceeded("x")]
UNKNOWN = [Timeout("x"), ConnectionLost("x")]
FINAL = [InvalidRequest("x"), NotFound("x"), ManhattanError("x")]


@pytest.mark.parametrize("error", SAFE)
@pytest.mark.parametrize("op", [READ, WRITE])
def test_nothing_done_is_retried_for_every_operation(error, op) -> None:
    assert RetryPolicy().on_error(op, error, 1, remaining=5.0) == RetryDecision(True, 0.0)


@pytest.mark.parametrize("error", UNKNOWN)
def test_an_unknown_outcome_is_retried_only_when_repeating_is_safe(error) -> None:
    assert RetryPolicy().on_error(READ, error, 1, remaining=5.0).retry
    assert not RetryPolicy().on_error(WRITE, error, 1, remaining=5.0).retry
    assert RetryPolicy(retry_non_idempotent=True).on_error(WRITE, error, 1, 5.0).retry


@pytest.mark.parametrize("error", FINAL)
def test_errors_that_a_retry_cannot_fix_stop(error) -> None:
    assert not RetryPolicy().on_error(READ, error, 1, remaining=5.0).retry


@given(attempts=st.integers(1, 20), remaining=st.floats(0.0, 3.0),
       backoff=st.sampled_from([FullJitterBackoff(0.1, 2.0), ExponentialBackoff(0.1, 2.0),
                                EqualJitterBackoff(0.1, 2.0), ConstantBackoff(0.5),
                                NoBackoff()]))
def test_the_budget_ends_at_the_deadline_and_after_max_attempts(attempts, remaining, backoff):
    policy = RetryPolicy(max_attempts=5, backoff=backoff)
    decision = policy.on_error(READ, Unavailable("x"), attempts, remaining)
    if decision.retry:
        assert attempts < 5 and 0 <= decision.delay < remaining
    else:
        assert attempts >= 5 or remaining <= backoff.compute(attempts - 1) or remaining == 0


@given(failures=st.integers(1, 100))
def test_backoffs_stay_within_their_cap(failures: int) -> None:
    for backoff in (FullJitterBackoff(0.02, 1.0), EqualJitterBackoff(0.02, 1.0)):
        assert 0 <= backoff.compute(failures) <= 1.0
    assert ExponentialBackoff(0.02, 1.0).compute(failures) == min(1.0, 0.02 * 2 ** (failures - 1))


def test_quota_waits_its_retry_after_or_stops_when_the_deadline_comes_first() -> None:
    error = QuotaExceeded("slow", details={"retry-after": "2"})
    assert RetryPolicy().on_error(WRITE, error, 1, remaining=5.0) == RetryDecision(True, 2.0)
    assert not RetryPolicy().on_error(WRITE, error, 1, remaining=1.0).retry


def run(op, errors, policy=RetryPolicy(max_attempts=10, backoff=NoBackoff(),
                                     retry_non_idempotent=True)) -> ManhattanError:
    """The final error of a call whose attempts fail with ``errors`` in turn."""
    attempts = Attempts(policy, op, ["a", "b"], deadline=float("inf"))
    for error in errors:
        attempts.next_endpoint()
        try:
            attempts.failed(error)
        except ManhattanError as final:
            return final
    raise AssertionError("the policy never stopped")


def test_a_write_unknown_once_stays_unknown_whatever_the_retry_says() -> None:
    final = run(WRITE, [ConnectionLost("lost"), ReplicasUnavailable("too few"),
                        InvalidRequest("stop")])
    assert type(final) is Timeout and isinstance(final.__cause__, InvalidRequest)


def test_a_counter_add_is_not_retried_after_an_unknown_outcome() -> None:
    """A retry through another shard owner could count a timed-out add twice (the jepsen
    counter check caught one in 1,700 under pauses): Timeout goes to the caller, while
    nothing-sent errors are retried, the op id repeated and marked as a retry."""
    add = ops.counter_add("d", "p", "k", 1, None, Consistency.DEFAULT, Durability.DEFAULT)
    assert not add.idempotent and add.write
    policy = RetryPolicy(max_attempts=10, backoff=NoBackoff())
    final = run(add, [ReplicasUnavailable("too few"), Timeout("slow")], policy)  # stops
    assert type(final) is Timeout
    assert add.request.retry  # the retry after "too few" said it may repeat an attempt


def test_a_read_reports_its_last_error_and_nothing_sent_stays_nothing_sent() -> None:
    last = InvalidRequest("stop")
    assert run(READ, [ConnectionLost("lost"), last]) is last
    final = run(WRITE, [NodeUnreachable("down"), ReplicasUnavailable("too few"), last])
    assert final is last


outcomes = st.one_of(
    st.just(None),
    st.sampled_from(SAFE + UNKNOWN + FINAL).map(lambda e: type(e)(e.message)))


@given(st.lists(outcomes, min_size=2, max_size=6).filter(lambda o: any(x is not None for x in o)))
def test_one_error_carries_every_part_and_never_hides_a_timeout(parts) -> None:
    error = combine("MultiPut", [PartOutcome((i,), result=None if e else [i], error=e)
                                 for i, e in enumerate(parts)])
    assert isinstance(error, MultiPartError) and [p.error for p in error.parts] == parts
    failed = [e for e in parts if e is not None]
    assert isinstance(error, Timeout) == any(isinstance(e, Timeout) for e in failed)
    nothing_done = len(failed) == len(parts) and all(isinstance(e, Unavailable) for e in failed)
    assert isinstance(error, Unavailable) == nothing_done
