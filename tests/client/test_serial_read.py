"""The SDK's client-coordinated SERIAL read decides like a coordinator would: it answers
only when a majority of one replica set answered and none holds a proposal in
progress, and then with the newest entry among them; every other case steps aside
(None: the call goes through a coordinator). Also who is asked when (PeekRound)."""

from __future__ import annotations

import time

from hypothesis import given
from hypothesis import strategies as st

from manhattan.client import serial_read
from manhattan.client.operations import Operation
from manhattan.client.serial_read import PeekPlan, PeekRound, Settled, settle
from manhattan.proto.v1 import data_pb2, types_pb2

SET = [1, 2, 3]


def v(timestamp: int, writer: int = 1) -> types_pb2.Version:
    return types_pb2.Version(timestamp=timestamp, writer=writer)


def answer(node: int, *, replicas=SET, accepted: int = 0, committed: int = 0,
           newest: int = 0, value: bytes | None = None) -> data_pb2.PeekSerialResponse:
    """One replica's view; ``value`` None: its newest entry is a tombstone (or none)."""
    response = data_pb2.PeekSerialResponse(
        node_id=node, replicas=replicas, accepted=v(accepted), committed=v(committed),
        newest=v(newest), found=value is not None)
    if value is not None:
        response.record.CopyFrom(types_pb2.Record(pkey=b"p", lkey=b"l", value=value,
                                                  version=v(newest)))
    return response


def test_two_agreeing_replicas_settle_with_the_newest_record() -> None:
    got = settle([answer(1, committed=5, newest=5, value=b"old"),
                  answer(2, committed=7, newest=7, value=b"new")])
    assert got is not None and got.record.value == b"new"
    assert got.record.version[:2] == (7, 1)


def test_a_newest_tombstone_settles_as_no_record() -> None:
    got = settle([answer(1, newest=5, value=b"old"), answer(3, newest=9, value=None)])
    assert got == Settled(None)


def test_nothing_anywhere_settles_as_no_record() -> None:
    assert settle([answer(1), answer(2)]) == Settled(None)


def test_a_proposal_in_progress_steps_aside() -> None:
    # Accepted at ballot 8 on one replica, the newest commit any answer knows is 7.
    assert settle([answer(1, accepted=8, committed=7, newest=7, value=b"a"),
                   answer(2, committed=7, newest=7, value=b"a")]) is None


def test_an_accepted_proposal_another_answer_saw_committed_is_settled() -> None:
    got = settle([answer(1, accepted=8, committed=7, newest=7, value=b"a"),
                  answer(2, committed=8, newest=8, value=b"b")])
    assert got is not None and got.record.value == b"b"


def test_answers_that_do_not_make_one_majority_step_aside() -> None:
    assert settle([]) is None
    assert settle([answer(1)]) is None  # one of three
    assert settle([answer(1), answer(1)]) is None  # the same node twice
    assert settle([answer(1), answer(4)]) is None  # node 4 is not a replica
    assert settle([answer(1), answer(2, replicas=[2, 3, 4])]) is None  # views differ
    assert settle([answer(1, replicas=[]), answer(2, replicas=[])]) is None
    # Five replicas need three answers.
    five = [1, 2, 3, 4, 5]
    assert settle([answer(1, replicas=five), answer(2, replicas=five)]) is None
    assert settle([answer(n, replicas=five) for n in (1, 2, 5)]) == Settled(None)


views = st.builds(
    lambda accepted, committed, newest, found: (accepted, committed, newest, found),
    st.integers(0, 20), st.integers(0, 20), st.integers(0, 20), st.booleans())


@given(st.lists(views, min_size=2, max_size=3))
def test_settle_answers_exactly_when_no_proposal_is_in_progress(states) -> None:
    answers = [answer(node, accepted=a, committed=c, newest=n,
                      value=f"v{n}".encode() if found else None)
               for node, (a, c, n, found) in enumerate(states, start=1)]
    got = settle(answers)
    top_commit = max(c for _, c, _, _ in states)
    if any(a > top_commit for a, _, _, _ in states):
        assert got is None
        return
    assert got is not None
    best = max(states, key=lambda s: s[2])
    if best[3]:
        assert got.record is not None and got.record.value == f"v{best[2]}".encode()
    else:
        assert got.record is None


def plan_of(first: list[str], spares: list[str], need: int, budget: float = 5.0) -> PeekPlan:
    op = Operation("data", "PeekSerial", data_pb2.PeekSerialRequest(), lambda a: a, True)
    return PeekPlan(op, first, spares, need, budget)


def test_a_round_asks_the_first_replicas_then_spares_only_on_a_failure() -> None:
    peek = PeekRound(plan_of(["a", "b"], ["c"], 2))
    assert peek.start() == ["a", "b"]
    assert peek.answered(answer(1)) == [] and not peek.finished
    assert peek.answered(None) == ["c"] and not peek.finished  # b failed: c asked
    assert peek.answered(answer(3)) == [] and peek.finished
    assert peek.outcome() == Settled(None)


def test_a_round_hedges_once_and_gives_up_when_nobody_is_left() -> None:
    peek = PeekRound(plan_of(["a", "b"], ["c"], 2))
    peek.start()
    assert 0 < peek.wait_s() <= serial_read.HEDGE_S  # spares left: wait for the hedge
    assert peek.hedge() == ["c"] and peek.hedge() == []
    assert peek.wait_s() > serial_read.HEDGE_S  # nobody left to hedge to: the budget
    for _ in range(3):
        peek.answered(None)
    assert peek.finished and peek.outcome() is None


def test_a_round_ends_at_its_budget() -> None:
    peek = PeekRound(plan_of(["a", "b"], [], 2, budget=0.01))
    peek.start()
    time.sleep(0.02)
    assert peek.finished and peek.wait_s() == 0 and peek.outcome() is None
