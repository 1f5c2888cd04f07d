"""The phases of a per-key Paxos round, as the coordinator sends them: prepare,
propose/accept, commit, and the quorum each waits for (``paxos.py`` composes them
into compare-and-sets and SERIAL reads; ``paxos_replica.py`` answers them).

A proposal is accepted, then committed: two rounds. When a quorum of the key's
replicas is two and this node is one of them, one round does: it accepts the
proposal here first, durably, and sends it to the peers marked ``commit_on_accept``.
A peer's accept then completes the quorum at that ballot — the value is chosen — so
the peer commits it at once and stores the record. Two replicas hold the record when
the round answers, as after a commit phase; a peer that refused or failed gets the
value as a hint once it is chosen. Only in a settled topology: during a membership
change and for ``SETTLE_S`` after this node adopts a new one, rounds keep the commit
phase, which reaches owners-to-be and every replica.

A mixin of ``PaxosCoordinator``, which provides the attributes used.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from manhattan.cluster.topology import Member
from manhattan.errors import Timeout
from manhattan.proto.v1 import peer_pb2
from manhattan.replication.paxos_grants import Grants
from manhattan.replication.paxos_replica import (
    PaxosReplica, ballot_to_proto, proposal_from_proto, proposal_to_proto, version_from_proto,
    version_to_proto,
)
from manhattan.replication.peer_link import PeerUnreachable
from manhattan.replication.quorums import write_acks
from manhattan.replication.read_repair import newest
from manhattan.replication.wire import entry_from_proto
from manhattan.storage import Entry, UnknownDataset, Version, Write
from manhattan.storage.paxos_state import Proposal
from manhattan.tenancy import DatasetSpec
from manhattan.types import Consistency

if TYPE_CHECKING:
    from manhattan.replication.coordinator import Coordinator

# How long a refused proposal waits for its other answers (to know if every one refused).
REFUSAL_GRACE_S = 0.25
# How long after adopting a new topology a node keeps the commit phase in every round.
SETTLE_S = 30.0
# Told of a peer that failed or refused an operation.
Miss = Callable[[Member], None]
# Who a round asks, and how many of them must answer (``PaxosPhases._participants``).
Participants = tuple[tuple[Member, ...], int]


@dataclass(frozen=True, slots=True)
class Promises:
    """A quorum's promises, merged: what the round must complete, repair and read."""

    in_progress: Proposal | None
    committed: Proposal | None
    current: Entry | None
    lagging: list[Member]


class Contended(Exception):
    """A replica promised or accepted a higher ballot: another round is running.
    ``all_refused``: every replica asked said no (a proposal none accepted can never be
    chosen, so the round may start over as if it had not been sent)."""

    def __init__(self, promised: Version, all_refused: bool) -> None:
        super().__init__(promised)
        self.promised = promised
        self.all_refused = all_refused


class PaxosPhases:
    """Prepare, accept, commit and their quorums, for ``PaxosCoordinator``."""

    _c: "Coordinator"
    _local: PaxosReplica
    _grants: Grants
    stats: Counter[str]

    async def _prepare(self, spec: DatasetSpec, pkey: bytes, lkey: bytes, deadline: float,
                       peek: bool = False) -> tuple[list[Member], int, Version, Promises]:
        replicas, need = self._participants(spec, pkey)
        live = self._c._check_live(replicas, need, Consistency.SERIAL)
        ballot = Version(0 if peek else self._c.clock.now(), self._c.node_id)
        if not peek:
            self.stats["rounds"] += 1
        op = peer_pb2.ReplicaOp(paxos_prepare=peer_pb2.PaxosPrepareOp(
            dataset=spec.storage_id, pkey=pkey, lkey=lkey, ballot=version_to_proto(ballot),
            peek=peek, topology_epoch=self._c.membership.epoch))
        answers = await self._quorum(live, op, need, deadline, "prepare")
        return live, need, ballot, self._merge(answers)

    @staticmethod
    def _merge(answers: dict[Member, peer_pb2.PaxosReply]) -> Promises:
        committed: Proposal | None = None
        accepted: Proposal | None = None
        entries: list[Entry | None] = []
        commits: dict[Member, Proposal | None] = {}
        for member, reply in answers.items():
            theirs = proposal_from_proto(reply.committed)
            commits[member] = theirs
            if theirs is not None and (committed is None or theirs.ballot > committed.ballot):
                committed = theirs
            offered = proposal_from_proto(reply.accepted)
            if offered is not None and (accepted is None or offered.ballot > accepted.ballot):
                accepted = offered
            entries.append(entry_from_proto(reply.current))
        if accepted is not None and committed is not None and accepted.ballot <= committed.ballot:
            accepted = None  # settled: a newer round committed over it
        if committed is not None and committed.entry is not None:
            entries.append(committed.entry)
        lagging = [m for m, theirs in commits.items()
                   if committed is not None and (theirs is None or theirs.ballot < committed.ballot)]
        return Promises(accepted, committed, newest(entries), lagging)

    async def _complete(self, spec: DatasetSpec, replicas: list[Member], need: int,
                        pkey: bytes, lkey: bytes, ballot: Version, found: Proposal,
                        deadline: float) -> None:
        """Finish a proposal a previous round left accepted: propose it again under
        this round's ballot (its value keeps its own version) and commit it."""
        again = Proposal(ballot, found.entry)
        await self._choose(spec, replicas, need, pkey, lkey, again, deadline)

    async def _repair(self, spec: DatasetSpec, promises: Promises, pkey: bytes,
                      lkey: bytes, deadline: float) -> None:
        """Replicas of the quorum that missed the newest commit get it first."""
        if promises.committed is None or not promises.lagging:
            return
        op = self._commit_op(spec, pkey, lkey, promises.committed)
        await self._quorum(promises.lagging, op, len(promises.lagging), deadline, "commit",
                           lambda member: self._hint(member, op.paxos_commit))

    async def _choose(self, spec: DatasetSpec, replicas: Sequence[Member], need: int,
                      pkey: bytes, lkey: bytes, proposal: Proposal, deadline: float, *,
                      granted_after: Version | None = None, grant: bool = False) -> None:
        """Get ``proposal`` accepted by a quorum of ``replicas`` (the live ones) and
        committed. ``Contended`` or ``Timeout`` when it was not; from the commit phase,
        ``Timeout`` (chosen, but too few replicas confirmed the commit). ``grant``: ask
        for a ballot for this coordinator's next round on the key."""
        if self._commits_on_accept(replicas, need):
            await self._accept_committing(spec, replicas, pkey, lkey, proposal, deadline,
                                          granted_after, grant)
            return
        await self._accept(spec, replicas, need, pkey, lkey, proposal, deadline,
                           granted_after)
        await self._commit(spec, pkey, lkey, proposal, need, deadline, grant=grant)

    def _commits_on_accept(self, replicas: Sequence[Member], need: int) -> bool:
        """One round will do: a quorum is two, this node is one of the key's replicas
        (its own accept first, so a peer's accept completes the quorum), and the
        topology is settled: no change under way (owners-to-be need a commit of their
        own), none adopted within ``SETTLE_S`` (while nodes may still disagree on a
        key's replicas, rounds keep the commit phase, which reaches every replica)."""
        return need == 2 and any(m.id == self._c.node_id for m in replicas) and \
            self._c.membership.settled(SETTLE_S)

    async def _accept_committing(self, spec: DatasetSpec, replicas: Sequence[Member],
                                 pkey: bytes, lkey: bytes, proposal: Proposal,
                                 deadline: float, granted_after: Version | None,
                                 grant: bool) -> None:
        """Accept here, durably, then at the peers with ``commit_on_accept``: the first
        peer to accept makes the value chosen and stores it, so with this node's own
        commit two replicas hold the record when the round answers (a QUORUM read
        sees it), and no commit phase follows."""
        local = self._propose_op(spec, pkey, lkey, proposal, granted_after)
        mine = await self._local.propose(local.paxos_propose)
        if not mine.ok:  # nothing was accepted anywhere: a full round may start afresh
            raise Contended(version_from_proto(mine.promised), all_refused=True)
        ballot = Version(self._c.clock.now(), self._c.node_id) if grant else None
        op = self._propose_op(spec, pkey, lkey, proposal, granted_after, ballot,
                             commit_on_accept=True)
        commit = self._commit_op(spec, pkey, lkey, proposal, ballot)
        missed: list[Member] = []
        chosen = False

        def on_miss(member: Member) -> None:  # a peer without the value gets it as a hint
            if chosen:
                self._hint(member, commit.paxos_commit)
            else:
                missed.append(member)

        me = next(m for m in replicas if m.id == self._c.node_id)
        peers = [m for m in replicas if m is not me]
        try:
            answers = await self._quorum(peers, op, 1, deadline, "propose", on_miss)
        except Contended as refused:  # accepted here, it may yet be chosen
            raise Contended(refused.promised, all_refused=False) from None
        chosen = True
        if not any(reply.stored for reply in answers.values()):
            # A peer predating commit_on_accept accepted without committing: the commit
            # phase as before (it reaches, or hints, every replica itself).
            await self._commit(spec, pkey, lkey, proposal, 2, deadline, grant=grant)
            return
        absent = [m for m in self._c.membership.replicas(pkey, spec.replication_factor)
                  if m not in replicas]
        for member in missed + absent:
            self._hint(member, commit.paxos_commit)
        answers[me] = await self._local.commit(commit.paxos_commit)
        self.stats["committed_on_accept"] += 1
        if ballot is not None:
            self._keep_grant(spec, pkey, lkey, proposal, ballot, answers)

    async def _accept(self, spec: DatasetSpec, replicas: Sequence[Member], need: int,
                      pkey: bytes, lkey: bytes, proposal: Proposal, deadline: float,
                      granted_after: Version | None = None) -> None:
        op = self._propose_op(spec, pkey, lkey, proposal, granted_after)
        await self._quorum(replicas, op, need, deadline, "propose")

    def _propose_op(self, spec: DatasetSpec, pkey: bytes, lkey: bytes, proposal: Proposal,
                    granted_after: Version | None, grant: Version | None = None, *,
                    commit_on_accept: bool = False) -> peer_pb2.ReplicaOp:
        return peer_pb2.ReplicaOp(paxos_propose=peer_pb2.PaxosProposeOp(
            dataset=spec.storage_id, pkey=pkey, lkey=lkey,
            proposal=proposal_to_proto(proposal),
            granted_after=ballot_to_proto(granted_after),
            commit_on_accept=commit_on_accept, grant=ballot_to_proto(grant),
            topology_epoch=self._c.membership.epoch))

    @staticmethod
    def _commit_op(spec: DatasetSpec, pkey: bytes, lkey: bytes, proposal: Proposal,
                   grant: Version | None = None) -> peer_pb2.ReplicaOp:
        # Never fsynced: the value is durable already, as the accepted proposal of a
        # quorum (fsynced before each accept was answered); a commit lost in a crash
        # leaves it accepted, and the next round completes it. Nor is a grant: one
        # forgotten refuses the proposal that would have used it.
        return peer_pb2.ReplicaOp(paxos_commit=peer_pb2.PaxosCommitOp(
            dataset=spec.storage_id, pkey=pkey, lkey=lkey,
            proposal=proposal_to_proto(proposal),
            grant=ballot_to_proto(grant)))

    async def _commit(self, spec: DatasetSpec, pkey: bytes, lkey: bytes, proposal: Proposal,
                      need: int, deadline: float, *, grant: bool = False) -> None:
        """To every replica (owners-to-be of a range in motion included), a quorum
        acknowledging; the others finish in the background. ``grant``: ask for a fresh
        ballot of this coordinator's too, kept for the next round on the key when a
        quorum of its current replicas granted it."""
        replicas = list(self._c.membership.write_replicas(pkey, spec.replication_factor))
        live = [m for m in replicas if self._c._alive(m)]
        # (Above the proposal's: both come from this node's clock, the proposal's first.)
        ballot = Version(self._c.clock.now(), self._c.node_id) if grant else None
        op = self._commit_op(spec, pkey, lkey, proposal, ballot)
        for member in replicas:
            if member not in live:
                self._hint(member, op.paxos_commit)
        answers = await self._quorum(live, op, min(need, len(live)), deadline, "commit",
                                     lambda member: self._hint(member, op.paxos_commit))
        if ballot is not None:
            self._keep_grant(spec, pkey, lkey, proposal, ballot, answers)

    def _keep_grant(self, spec: DatasetSpec, pkey: bytes, lkey: bytes, proposal: Proposal,
                    ballot: Version, answers: dict[Member, peer_pb2.PaxosReply]) -> None:
        """Keep ``ballot`` for the next round on the key if as many of its current
        participants as a round needs granted it with the commit of ``proposal``."""
        members, need = self._participants(spec, pkey)
        ids = tuple(m.id for m in members)
        granted = sum(1 for m, reply in answers.items() if reply.granted and m.id in ids)
        if granted >= need:
            self._grants.keep((spec.storage_id, pkey, lkey), ballot, proposal.ballot,
                              proposal.entry, ids)

    def _participants(self, spec: DatasetSpec, pkey: bytes) -> Participants:
        """Who a round on ``pkey`` asks, and how many must answer: the key's replicas
        and a quorum of them, and while a membership change moves the key, its
        owners-to-be too, every one of them counted on top of the quorum (as for
        writes, and Cassandra's lightweight transactions during range movements). A
        value chosen during the change is then held by a quorum of the replica set
        before it and of the one after it: a round on either side of the switch, or
        on a node that adopted it later than another, meets it. (Without the
        owners-to-be, a value accepted by the leaving replica and one other could be
        missing from a quorum of the new set, and be chosen over.)"""
        members = self._c.membership.write_replicas(pkey, spec.replication_factor)
        return members, write_acks(self._c.membership, pkey, members,
                                   spec.replication_factor, Consistency.QUORUM)

    def _owners(self, spec: DatasetSpec, pkey: bytes) -> tuple[int, ...]:
        """Ids of the key's replica set now."""
        return tuple(m.id for m in self._c.membership.replicas(pkey, spec.replication_factor))

    # -- sending -----------------------------------------------------------------

    async def _ask(self, member: Member, op: peer_pb2.ReplicaOp, deadline: float,
                   on_miss: Miss | None = None) -> peer_pb2.PaxosReply | None:
        """One replica's answer (this node's own directly), None when it failed.
        ``on_miss``: told of a peer that failed or refused (a commit's: it gets the
        value as a hint, like any missed write)."""
        reply: peer_pb2.PaxosReply | None = None
        try:
            if member.id == self._c.node_id:
                return await self._local.execute(op)
            reply = (await self._c._replica_call(member, op,
                                                 self._c._remaining(deadline))).paxos
            return reply
        except (PeerUnreachable, TimeoutError, ValueError, UnknownDataset):
            # (UnknownDataset: this node has not created the dataset's family yet)
            return None
        finally:
            if on_miss is not None and member.id != self._c.node_id and \
                    (reply is None or not reply.ok):
                on_miss(member)

    def _hint(self, member: Member, commit: peer_pb2.PaxosCommitOp) -> None:
        proposal = proposal_from_proto(commit.proposal)
        if proposal is not None and proposal.entry is not None:
            self._c._hint(member.id, commit.dataset,
                          [Write(commit.pkey, commit.lkey, proposal.entry)], commit.sync)

    async def _quorum(self, members: Sequence[Member], op: peer_pb2.ReplicaOp, need: int,
                      deadline: float, phase: str, on_miss: Miss | None = None,
                      ) -> dict[Member, peer_pb2.PaxosReply]:
        """``need`` positive answers from ``members``; the rest finish in the background.
        ``Contended`` when refusals make a quorum impossible, Timeout at the deadline."""
        tasks = {asyncio.ensure_future(self._ask(m, op, deadline, on_miss)): m
                 for m in members}
        good: dict[Member, peer_pb2.PaxosReply] = {}
        refused: Version | None = None
        failed = refusals = 0
        pending = set(tasks)
        try:
            while pending and len(good) < need:
                hopeless = len(members) - failed < need
                # A refused proposal only waits a moment for the other answers (whether
                # every replica refused it), never the whole deadline.
                wait = min(self._c._remaining(deadline), REFUSAL_GRACE_S if hopeless else 1e9)
                done, pending = await asyncio.wait(pending, timeout=wait,
                                                   return_when=asyncio.FIRST_COMPLETED)
                if not done:
                    break
                for task in done:
                    reply = task.result()
                    if reply is None:
                        failed += 1
                    elif reply.ok:
                        good[tasks[task]] = reply
                    else:
                        promised = version_from_proto(reply.promised)
                        refused = promised if refused is None else max(refused, promised)
                        failed += 1
                        refusals += 1
                if len(members) - failed < need and (phase != "propose" or good):
                    break  # (a refused proposal waits for every answer: see Contended)
        finally:
            for task in pending:
                self._c._spawn(task)
        if len(good) >= need:
            return good
        if refused is not None:
            raise Contended(refused, refusals == len(members))
        raise Timeout(f"SERIAL {phase}: {len(good)} of the {need} replicas needed answered "
                      "in time; the outcome is unknown")


__all__ = ["Contended", "Participants", "PaxosPhases", "Promises", "REFUSAL_GRACE_S",
           "SETTLE_S"]
