"""A SERIAL get in one hop: the client coordinates the read itself.

Through a coordinator a SERIAL get is two hops: client to node, then node to a
second replica (the Paxos peek of a quorum). Here the client asks a majority of
the key's replicas at once (``PeekSerial``), each answering its own view of the
key, and decides from their answers, as the coordinator would:

* every answer names the same replica set, the answering nodes are distinct
  members of it and a majority;
* no answer holds a proposal in progress (an accepted ballot above every commit
  ballot among the answers);

then the newest entry among them is the linearizable value (a value chosen before
the read began was accepted by a majority, which shares a replica with this one).
Anything else (a proposal in progress, replicas that disagree on the set, one that
does not answer within ``PEEK_BUDGET_S``) and the call goes the usual way:
``Get`` at SERIAL through a coordinator, which completes the proposal first. A
peek promises and writes nothing, so stepping aside is always safe.

Live replicas are asked in ring order (open breakers last); if one has not answered
after ``HEDGE_S`` (or failed), the spare replicas are asked too and the first majority
of answers decides. The sync and async clients share this
module; they differ only in how they wait.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

from manhattan.client.core import ClientCore
from manhattan.client.models import Record
from manhattan.client.operations import Operation, _record
from manhattan.proto.v1 import data_pb2, types_pb2

# The longest the peeks may take before the call goes through a coordinator instead
# (and never more than half of what the call has left).
PEEK_BUDGET_S = 0.5
# How long to wait for the first replicas asked before asking the spares as well.
HEDGE_S = 0.05


@dataclass(frozen=True, slots=True)
class PeekPlan:
    """Whom to ask ``op`` (a ``PeekSerial``): ``need`` of ``first`` (then ``spares``),
    within ``budget`` seconds."""

    op: Operation[data_pb2.PeekSerialResponse]
    first: list[str]
    spares: list[str]
    need: int
    budget: float


@dataclass(frozen=True, slots=True)
class Settled:
    """The answers settled the read: ``record`` is its value (None: no record)."""

    record: Record | None


def plan(core: ClientCore, op: Operation[Record | None], deadline: float) -> PeekPlan | None:
    """The peeks for a SERIAL get ``op``, or None to go the usual way: the topology is
    not known yet, or too few of the key's live replicas are in the routing policy's
    plan (a client routed to one node keeps to it: its SERIAL gets go through that
    node). Replicas whose breaker is open come last."""
    if op.pkey is None or op.dataset is None:
        return None
    members = core.topology.replicas(op.dataset, op.pkey)
    need = len(members) // 2 + 1
    routed = set(core.plan(op))
    # Ring order, not rotated: one key's reads keep the same node processes hot (a
    # small box pays for waking another); different keys have different primaries.
    ordered = core.breakers.order([m.address for m in members
                                   if m.address in routed and core.topology.is_alive(m.id)])
    budget = min(PEEK_BUDGET_S, (deadline - time.monotonic()) / 2)
    if not members or len(ordered) < need or budget <= 0:
        return None
    request = data_pb2.PeekSerialRequest(dataset=op.request.dataset, pkey=op.request.pkey,
                                         lkey=op.request.lkey)
    peek = Operation("data", "PeekSerial", request, lambda answer: answer, True, op.pkey,
                     op.dataset)
    return PeekPlan(peek, ordered[:need], ordered[need:], need, budget)


class PeekRound:
    """Who has been asked and what came back: the sync and async clients send what
    it says to send (each an attempt of ``plan.op`` with ``deadline``) and wait as long
    as it says, then take ``outcome()``."""

    def __init__(self, peeks: PeekPlan) -> None:
        self.plan = peeks
        self.answers: list[data_pb2.PeekSerialResponse] = []
        self._spares = list(peeks.spares)
        self._outstanding = 0
        self.deadline = time.monotonic() + peeks.budget

    def start(self) -> list[str]:
        """The replicas to ask first."""
        return self._ask(list(self.plan.first))

    def wait_s(self) -> float:
        """How long to wait for the next answer (until the hedge while spares remain)."""
        left = max(self.deadline - time.monotonic(), 0.0)
        return min(left, HEDGE_S) if self._spares else left

    def answered(self, response: data_pb2.PeekSerialResponse | None) -> list[str]:
        """One answer (None: that replica failed); the replicas to ask now."""
        self._outstanding -= 1
        if response is None:
            return self.hedge()
        self.answers.append(response)
        return []

    def hedge(self) -> list[str]:
        """No answer came in time (or one failed): the spares, asked now."""
        spares, self._spares = self._spares, []
        return self._ask(spares)

    def _ask(self, endpoints: list[str]) -> list[str]:
        self._outstanding += len(endpoints)
        return endpoints

    @property
    def finished(self) -> bool:
        """Enough answers, nobody left to hear from, or out of time."""
        return (len(self.answers) >= self.plan.need
                or (self._outstanding == 0 and not self._spares)
                or time.monotonic() >= self.deadline)

    def outcome(self) -> Settled | None:
        """The read's value if the answers settle it, else None (go the usual way)."""
        return settle(self.answers) if len(self.answers) >= self.plan.need else None


def _version(message: types_pb2.Version) -> tuple[int, int]:
    return message.timestamp, message.writer


def settle(answers: Sequence[data_pb2.PeekSerialResponse]) -> Settled | None:
    """The read's value if ``answers`` settle it (see the module docstring), else None."""
    if not answers:
        return None
    replicas = tuple(answers[0].replicas)
    nodes = {answer.node_id for answer in answers}
    if (not replicas or any(tuple(answer.replicas) != replicas for answer in answers)
            or len(nodes) != len(answers) or not nodes <= set(replicas)
            or len(nodes) < len(replicas) // 2 + 1):
        return None
    committed = max(_version(answer.committed) for answer in answers)
    if any(_version(answer.accepted) > committed for answer in answers):
        return None  # a proposal in progress: a coordinator completes it first
    best = max(answers, key=lambda answer: _version(answer.newest))
    return Settled(_record(best.record) if best.found else None)


__all__ = ["HEDGE_S", "PEEK_BUDGET_S", "PeekPlan", "PeekRound", "Settled", "plan", "settle"]
