"""A membership change's start whose outcome a metadata leader change left unknown is
settled by sending it again (``change_start.commit_settled``), never reported as "outcome
unknown" to an operator who would have to run it again to find out.

Found by ``make jepsen`` (seed 20261130): a ``member-remove`` met an election at its
``topology_begin`` and did not finish. The log here is a model with the rule the real one
applies (``metadata.topology``): a start is refused once a change is under way."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import given
from hypothesis import strategies as st

from manhattan.cluster import change_start
from manhattan.cluster.change_start import commit_settled
from manhattan.cluster.changes import ChangeRejected
from manhattan.errors import Timeout


class ModelLog:
    """Commits a start unless one is under way. ``lost[i]``: the i-th send's answer is
    lost to a leader change (Timeout), with the send ``applied[i]`` or not."""

    def __init__(self, lost: list[bool], applied: list[bool]) -> None:
        self.lost, self.applied = lost, applied
        self.under_way = False
        self.sends = 0

    async def commit(self, command: dict) -> None:
        i = self.sends
        self.sends += 1
        lost = i < len(self.lost) and self.lost[i]
        takes_effect = not lost or (i < len(self.applied) and self.applied[i])
        if takes_effect:
            if self.under_way:
                raise ChangeRejected("another membership change is under way")
            self.under_way = True
        if lost:
            raise Timeout("metadata command topology_begin: outcome unknown")


@pytest.fixture(autouse=True)
def no_pause(monkeypatch) -> None:
    monkeypatch.setattr(change_start, "BEGIN_RETRY_S", 0.0)


@given(lost=st.lists(st.booleans(), max_size=6), applied=st.lists(st.booleans(), max_size=6))
def test_an_unknown_start_is_settled_by_sending_it_again(lost, applied) -> None:
    log = ModelLog(lost, applied)

    async def start() -> str:
        try:
            await commit_settled(log.commit, {"op": "topology_begin"}, lambda: log.under_way,
                                 ChangeRejected)
        except Timeout:
            return "unknown"
        return "started"

    outcome = asyncio.run(start())
    if outcome == "started":
        assert log.under_way  # reported started only when it is
    else:  # every attempt's answer was lost: only then is the outcome unknown
        assert log.sends == change_start.BEGIN_ATTEMPTS and all(lost[:log.sends])


def test_a_start_refused_for_another_change_is_still_refused() -> None:
    """Refused on the first send (someone else's change is under way): not ours."""
    log = ModelLog([], [])
    log.under_way = True
    with pytest.raises(ChangeRejected, match="under way"):
        asyncio.run(commit_settled(log.commit, {"op": "topology_begin"},
                                   lambda: log.under_way, ChangeRejected))
    assert log.sends == 1


def test_a_retry_refused_for_a_change_that_is_not_ours_is_refused() -> None:
    """The first answer lost and not applied; meanwhile another driver started its own
    change: the retry's refusal is not explained by ours, so it stands."""
    log = ModelLog([True], [False])

    async def other_driver_starts(command: dict) -> None:
        if log.sends == 1:
            log.under_way = True  # someone else's change, between our two sends
        await log.commit(command)

    with pytest.raises(ChangeRejected):
        asyncio.run(commit_settled(other_driver_starts, {"op": "topology_begin"},
                                   lambda: False, ChangeRejected))
