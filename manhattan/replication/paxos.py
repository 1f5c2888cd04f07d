"""The proposer side of per-key Paxos: SERIAL reads and conditional writes.

Single-decree Paxos per key among the key's replica set, in the style of
Cassandra's lightweight transactions. One round:

1. **prepare**: a ballot (this node's HLC timestamp and id, so unique and ordered
   like versions) goes to the replicas; a quorum must promise it. Each promise
   carries the replica's accepted proposal, its most recent commit and its stored
   version of the key: the read at QUORUM inside the round.
2. An accepted proposal newer than every commit seen is **completed first** (proposed
   again under this ballot and committed), then the round starts over. Replicas
   that missed the newest commit get it.
3. The condition is checked against the newest version among the promises (and the
   newest commit). A failed condition ends the round: nothing is proposed.
4. **propose/accept**: the new value, versioned with the ballot, to a quorum.
5. **commit**: the value is written as an ordinary record (its version is the ballot)
   on every replica, acknowledged by a quorum. With three replicas the accept itself
   commits (``paxos_phases.py``): one round for 4 and 5.

A refused promise or accept means another proposer is active: back off (randomized),
try a higher ballot, at most ``max_rounds`` times and never past the deadline, then
answer ``Timeout`` (the outcome is unknown once a proposal went out). The replica's
side is ``paxos_replica.py``.

A compare-and-set's commit also asks the replicas for the coordinator's next ballot;
granted by a quorum, the next compare-and-set there skips the prepare
(``paxos_grants.py``).
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from manhattan.errors import Timeout, Unavailable
from manhattan.hlc import physical_ms
from manhattan.replication.paxos_grants import Grant, Grants
from manhattan.replication.paxos_phases import Contended, Participants, PaxosPhases
from manhattan.replication.paxos_replica import PaxosReplica
from manhattan.replication.read_repair import newest
from manhattan.storage import Entry, Record, Version
from manhattan.storage.paxos_state import Proposal
from manhattan.tenancy import DatasetSpec
from manhattan.types import Consistency

if TYPE_CHECKING:
    from manhattan.replication.coordinator import Coordinator

# A condition on the key's current record (None when there is none): True to apply.
Condition = Callable[[Record | None], bool]
# Why a compare-and-set's outcome is unknown when its proposal or commit timed out.
UNANSWERED = "too few replicas answered the proposal or its commit in time"


@dataclass(frozen=True, slots=True)
class CasOutcome:
    """What a conditional write did: applied (``version``) or not (``current``)."""

    applied: bool
    version: Version | None = None
    current: Record | None = None


@dataclass(frozen=True, slots=True)
class ReplicaView:
    """This replica's part of a SERIAL read its client coordinates (``PeekSerial``):
    the key's replica set in this node's view, the ballots of the proposal accepted
    here and of the most recent commit (None: none), and the newest entry here (the
    stored record or the committed value). Nothing is promised or written."""

    replicas: tuple[int, ...]
    accepted: Version | None
    committed: Version | None
    newest: Entry | None


PAXOS_EVENTS = ("cas_applied", "cas_condition_failed", "cas_timeout", "serial_read",
                "serial_read_timeout", "rounds", "contended", "completed_in_progress",
                "peek", "granted_round", "granted_refused", "committed_on_accept")


class PaxosCoordinator(PaxosPhases):
    """Runs Paxos rounds for one coordinator (its links, clock and membership)."""

    def __init__(self, coordinator: "Coordinator", *, max_rounds: int = 12,
                 base_backoff: float = 0.004, max_backoff: float = 0.1) -> None:
        self._c = coordinator
        self._local = PaxosReplica(coordinator.engine, coordinator.group_commit)
        self.max_rounds = max_rounds
        self.base_backoff = base_backoff
        self.max_backoff = max_backoff
        # What SERIAL operations came to, by event (manhattan_paxos_total{event} in
        # /metrics): outcomes (cas_applied, cas_condition_failed, cas_timeout,
        # serial_read, serial_read_timeout) and what rounds met on the way (rounds,
        # contended: a higher ballot refused ours; completed_in_progress: another
        # coordinator's unfinished proposal finished first; granted_round: a
        # compare-and-set proposed under a granted ballot, without a prepare;
        # granted_refused: such a proposal refused, a full round followed;
        # committed_on_accept: a value chosen and stored in one round, no commit phase),
        # and peek: this replica's view answered to a client coordinating a SERIAL read
        # itself.
        self.stats: Counter[str] = Counter({event: 0 for event in PAXOS_EVENTS})
        self._grants = Grants()

    # -- the public operations ---------------------------------------------------

    async def cas(self, spec: DatasetSpec, pkey: bytes, lkey: bytes, condition: Condition,
                  make_entry: Callable[[Version], Entry], timeout: float | None, *,
                  may_skip_prepare: bool = True) -> CasOutcome:
        """Apply ``make_entry(ballot)`` if ``condition`` holds for the current record,
        linearizably; ``Timeout`` when contention or faults outlast the deadline.
        ``may_skip_prepare``: a granted ballot may be used (not for a value whose
        expiry is reckoned from its ballot: a granted one is up to a second old)."""
        try:
            outcome = await self._cas(spec, pkey, lkey, condition, make_entry, timeout,
                                      may_skip_prepare)
        except Timeout:
            self.stats["cas_timeout"] += 1
            raise
        self.stats["cas_applied" if outcome.applied else "cas_condition_failed"] += 1
        return outcome

    async def read(self, spec: DatasetSpec, pkey: bytes, lkey: bytes, *, seal: bool,
                   timeout: float | None) -> Record | None:
        """A linearizable read (``_read``), counted."""
        try:
            record = await self._read(spec, pkey, lkey, seal=seal, timeout=timeout)
        except Timeout:
            self.stats["serial_read_timeout"] += 1
            raise
        self.stats["serial_read"] += 1
        return record

    def view(self, spec: DatasetSpec, pkey: bytes, lkey: bytes) -> ReplicaView:
        """This replica's view of the key for a client-coordinated SERIAL read: what a
        prepare that only peeks answers a coordinator, plus the replica set it is
        valid for (the client checks its answers agree on it). A node that is not a
        replica of the key answers the set alone: the client then goes the usual way."""
        self.stats["peek"] += 1
        replicas = self._owners(spec, pkey)
        if self._c.node_id not in replicas:
            return ReplicaView(replicas, None, None, None)
        state = self._c.engine.paxos_state(spec.storage_id, pkey, lkey)
        entries = [self._c.engine.get_entry(spec.storage_id, pkey, lkey)]
        if state.committed is not None and state.committed.entry is not None:
            entries.append(state.committed.entry)
        return ReplicaView(replicas,
                           None if state.accepted is None else state.accepted.ballot,
                           None if state.committed is None else state.committed.ballot,
                           newest(entries))

    async def _cas(self, spec: DatasetSpec, pkey: bytes, lkey: bytes, condition: Condition,
                   make_entry: Callable[[Version], Entry], timeout: float | None,
                   may_skip_prepare: bool) -> CasOutcome:
        if self._c.write_refusal is not None and (reason := self._c.write_refusal()):
            raise Unavailable(reason)  # its ballots would be versions far ahead of its peers
        mine: set[Version] = set()
        proposed = False
        deadline = self._c._deadline(timeout)
        participants = self._participants(spec, pkey)
        grant = self._grants.take((spec.storage_id, pkey, lkey), tuple(
            m.id for m in participants[0])) if may_skip_prepare else None
        if grant is not None and condition(self._c._visible(pkey, lkey, grant.committed)):
            entry = make_entry(grant.ballot)
            mine.add(entry.version)
            try:
                return await self._granted_round(spec, pkey, lkey, participants, grant,
                                                 entry, deadline)
            except Contended as refused:  # another round, or a write outside Paxos
                self.stats["granted_refused"] += 1
                proposed = not refused.all_refused
                self._c._absorb(self._c.node_id, refused.promised.timestamp)
        for attempt in range(self.max_rounds):
            try:
                replicas, need, ballot, promises = await self._prepare(spec, pkey, lkey,
                                                                       deadline)
                if promises.in_progress is not None:
                    self.stats["completed_in_progress"] += 1
                    done = promises.in_progress
                    await self._complete(spec, replicas, need, pkey, lkey, ballot, done,
                                         deadline)
                    if done.entry is not None and done.entry.version in mine:
                        return CasOutcome(True, done.entry.version)  # ours, finished here
                    continue
                await self._repair(spec, promises, pkey, lkey, deadline)
                current = promises.current
                if current is not None and current.version in mine:
                    return CasOutcome(True, current.version)  # ours, finished by another
                record = self._c._visible(pkey, lkey, current)
                if not condition(record):
                    if proposed:  # ours may have been chosen, then written over: unknown
                        raise self._timeout(True, "the condition no longer holds after a "
                                                  "contended round")
                    return CasOutcome(False, current=record)
                if current is not None and current.version >= ballot:
                    # A version above the ballot (an LWW write stamped ahead): the value
                    # would lose to it. Absorb it and go again with a higher ballot.
                    self._c._absorb(self._c.node_id, current.version.timestamp)
                    continue
                entry = make_entry(ballot)
                mine.add(entry.version)
                proposal = Proposal(ballot, entry)
                try:
                    await self._choose(spec, replicas, need, pkey, lkey, proposal, deadline,
                                       grant=True)
                except Contended as refused:
                    # Accepted by some replica, it may yet be chosen (a later round would
                    # complete it): from now on a failed condition is no proof it was not.
                    proposed = proposed or not refused.all_refused
                    raise
                except Timeout:
                    raise self._timeout(True, UNANSWERED) from None
                return CasOutcome(True, entry.version)
            except Contended as contended:
                self.stats["contended"] += 1
                self._c._absorb(self._c.node_id, contended.promised.timestamp)
            except Unavailable as down:
                # Too few live replicas for the next round. "Nothing was done" (a retry
                # is safe) is only true while nothing was proposed: an earlier proposal
                # of this call may yet be chosen, so a blind resend could find it and
                # fail its own condition on its own value.
                if proposed:
                    raise self._timeout(True, f"the next round could not start: "
                                              f"{down.message}") from down
                raise
            await self._backoff(attempt, deadline, proposed)
        raise self._timeout(proposed, f"gave up after {self.max_rounds} contended rounds")

    async def _granted_round(self, spec: DatasetSpec, pkey: bytes, lkey: bytes,
                             participants: Participants, grant: Grant,
                             entry: Entry, deadline: float) -> CasOutcome:
        """Propose ``entry`` under the granted ballot (no prepare) to ``participants``
        (the grant's: see ``_participants``) and get it committed (``_choose``);
        ``Contended`` when a quorum did not accept it."""
        replicas, need = participants
        live = self._c._check_live(replicas, need, Consistency.SERIAL)
        proposal = Proposal(grant.ballot, entry)
        try:
            await self._choose(spec, live, need, pkey, lkey, proposal, deadline,
                               granted_after=grant.after, grant=True)
        except Timeout:
            raise self._timeout(True, UNANSWERED) from None
        self.stats["granted_round"] += 1
        return CasOutcome(True, entry.version)

    async def _read(self, spec: DatasetSpec, pkey: bytes, lkey: bytes, *, seal: bool,
                    timeout: float | None) -> Record | None:
        """A linearizable read: a prepare round that completes any proposal in progress
        first. ``seal`` also commits a no-op under the round's ballot, so no proposal
        older than this read can ever be chosen afterwards.

        It starts with a peek at a quorum (no promise, nothing written): when no
        proposal is in progress there, the newest version among the quorum and its
        commits is the answer. A value chosen and acknowledged before the read began
        was accepted by a quorum, which shares a replica with the peek's quorum, so
        the peek sees it (committed or in progress); a proposal in progress is
        completed through a full round first."""
        deadline = self._c._deadline(timeout)
        if not seal:
            _, _, _, peeked = await self._prepare(spec, pkey, lkey, deadline, peek=True)
            if peeked.in_progress is None:  # (a replica missing a commit: the next round's)
                return self._c._visible(pkey, lkey, peeked.current)
        for attempt in range(self.max_rounds):
            try:
                replicas, need, ballot, promises = await self._prepare(spec, pkey, lkey,
                                                                       deadline)
                if promises.in_progress is not None:
                    self.stats["completed_in_progress"] += 1
                    await self._complete(spec, replicas, need, pkey, lkey, ballot,
                                         promises.in_progress, deadline)
                    continue
                await self._repair(spec, promises, pkey, lkey, deadline)
                if seal:
                    await self._choose(spec, replicas, need, pkey, lkey,
                                       Proposal(ballot, None), deadline)
                return self._c._visible(pkey, lkey, promises.current)
            except Contended as contended:
                self.stats["contended"] += 1
                self._c._absorb(self._c.node_id, contended.promised.timestamp)
            await self._backoff(attempt, deadline, False)
        raise Timeout(f"SERIAL read gave up after {self.max_rounds} contended rounds")

    async def _backoff(self, attempt: int, deadline: float, proposed: bool) -> None:
        pause = random.uniform(0, min(self.max_backoff, self.base_backoff * 2 ** attempt))
        if pause >= self._c._remaining(deadline):
            raise self._timeout(proposed, "the deadline came during contention")
        await asyncio.sleep(pause)

    @staticmethod
    def _timeout(proposed: bool, why: str) -> Timeout:
        if proposed:
            return Timeout(f"SERIAL write: {why}; a proposal went out, the outcome is unknown")
        return Timeout(f"SERIAL write: {why}; nothing was proposed")


def expiry(ttl_ms: int, ballot: Version) -> int:
    """Absolute expiry of a value written under ``ballot`` (0: none)."""
    return physical_ms(ballot.timestamp) + ttl_ms if ttl_ms else 0


__all__ = ["PAXOS_EVENTS", "CasOutcome", "Condition", "PaxosCoordinator", "ReplicaView",
           "expiry"]
