"""The acceptor side of per-key Paxos (SERIAL): prepare/promise, propose/accept, commit.

Each replica of a key keeps, per key, the highest ballot it promised, the proposal it
accepted and the most recent commit (``storage/paxos_state.py``). The state is stored
and made durable (the node's group commit) before the replica answers a promise or an
accept, so a restart never forgets one. A commit writes the chosen value as an
ordinary record whose version is the ballot: normal reads, hints, read repair and
anti-entropy see it like any write. The coordinator's side is ``paxos.py``; both
nodes' own replica and peers (``node/peer_service.py``) answer through this class.
"""

from __future__ import annotations

from collections.abc import Callable

from manhattan.errors import StaleTopology
from manhattan.proto.v1 import peer_pb2, types_pb2
from manhattan.replication.wire import entry_from_proto, entry_to_proto
from manhattan.storage import GroupCommit, Version, Write
from manhattan.storage.paxos_state import NO_BALLOT, PaxosState, Proposal


def version_from_proto(message: types_pb2.Version) -> Version:
    """A ballot (or version) from the wire."""
    return Version(message.timestamp, message.writer)


def version_to_proto(version: Version) -> types_pb2.Version:
    """A ballot (or version) on the wire."""
    return types_pb2.Version(timestamp=version.timestamp, writer=version.writer)


def ballot_to_proto(version: Version | None) -> types_pb2.Version | None:
    """An optional ballot (or version) on the wire: None leaves the field unset."""
    return None if version is None else version_to_proto(version)


def proposal_to_proto(proposal: Proposal | None) -> peer_pb2.PaxosProposal:
    """The wire form; an unset ballot stands for none."""
    if proposal is None:
        return peer_pb2.PaxosProposal()
    return peer_pb2.PaxosProposal(ballot=version_to_proto(proposal.ballot),
                                  none=proposal.entry is None,
                                  entry=entry_to_proto(proposal.entry))


def proposal_from_proto(message: peer_pb2.PaxosProposal) -> Proposal | None:
    """A proposal from the wire, or None when the ballot is unset."""
    ballot = version_from_proto(message.ballot)
    if ballot == NO_BALLOT:
        return None
    return Proposal(ballot, None if message.none else entry_from_proto(message.entry))


class PaxosReplica:
    """Answers Paxos operations against the local engine (a ``RocksPaxosState``).
    ``topology_epoch``: this node's, to refuse prepares and proposals from a coordinator
    that missed a whole membership change (``check_epoch``)."""

    def __init__(self, engine: object, group_commit: GroupCommit,
                 topology_epoch: Callable[[], int] = lambda: 0) -> None:
        self._engine = engine
        self._group_commit = group_commit
        self._topology_epoch = topology_epoch

    def check_epoch(self, theirs: int) -> None:
        """StaleTopology when a coordinator's epoch is more than one behind this node's.
        A change moves a topology on twice (its start, then its switch or abort), and a
        round on either side of one step shares a quorum with the other (owners-to-be
        count in rounds during a change); two steps apart, the old replica set and the
        new one may share none. 0: a coordinator that does not say."""
        mine = self._topology_epoch()
        if theirs and theirs + 1 < mine:
            raise StaleTopology(f"the coordinator's topology (epoch {theirs}) is more than "
                                f"one change behind this replica's (epoch {mine})")

    async def _durable(self) -> None:
        await self._group_commit.durable()

    async def prepare(self, op: peer_pb2.PaxosPrepareOp) -> peer_pb2.PaxosReply:
        """Promise ``op.ballot`` if it is above every ballot promised here (unless the op
        only peeks); answer with what was accepted and committed, and the stored
        version of the key."""
        ballot = version_from_proto(op.ballot)
        if not op.peek:
            self.check_epoch(op.topology_epoch)

        def promise(state: PaxosState) -> tuple[PaxosState, bool]:
            if ballot <= state.promised:
                return state, False
            return PaxosState(ballot, state.accepted, state.committed), True

        if op.peek:  # a read's first look: nothing promised, so nothing to store
            state, ok = self._engine.paxos_state(op.dataset, op.pkey, op.lkey), True
        else:
            state, ok = self._engine.paxos_update(op.dataset, op.pkey, op.lkey, promise)
        current = self._engine.get_entry(op.dataset, op.pkey, op.lkey)
        if ok and not op.peek:
            await self._durable()
        return peer_pb2.PaxosReply(
            ok=ok, promised=version_to_proto(state.promised),
            accepted=proposal_to_proto(state.accepted),
            committed=proposal_to_proto(state.committed), current=entry_to_proto(current))

    async def propose(self, op: peer_pb2.PaxosProposeOp) -> peer_pb2.PaxosReply:
        """Accept the proposal unless a higher ballot was promised meanwhile. One sent
        under a granted ballot (``granted_after`` set, no prepare of its own) only while
        that grant is still the highest promise here and no write outside Paxos made
        the stored record newer than the commit the grant came with. With
        ``commit_on_accept`` the accept makes the value chosen (the coordinator's own
        accept is the rest of the quorum): it is committed here at once, and
        ``op.grant`` promised for the coordinator's next round."""
        proposal = proposal_from_proto(op.proposal)
        if proposal is None:
            raise ValueError("a proposal needs a ballot")
        self.check_epoch(op.topology_epoch)
        granted_after = version_from_proto(op.granted_after)
        granted = granted_after != NO_BALLOT
        stored = self._engine.get_entry(op.dataset, op.pkey, op.lkey) if granted else None
        newer = stored.version if stored is not None and stored.version > granted_after \
            else None  # a write outside Paxos since the grant's commit
        grant = version_from_proto(op.grant)

        def accept(state: PaxosState) -> tuple[PaxosState, bool]:
            if granted:
                ok = newer is None and proposal.ballot == state.promised
            else:
                ok = proposal.ballot >= state.promised
            if not ok:
                return state, False
            if not op.commit_on_accept:
                return PaxosState(proposal.ballot, proposal, state.committed), True
            # Chosen: settled as a commit would settle it (nothing above it was
            # promised here, so the grant is free to give).
            return PaxosState(max(grant, proposal.ballot), None, proposal), True

        state, ok = self._engine.paxos_update(op.dataset, op.pkey, op.lkey, accept)
        commits = ok and op.commit_on_accept
        if commits and proposal.entry is not None:
            # After the state, under the same fsync: a crash that keeps only a prefix
            # may keep the commit without the record (SERIAL reads consult commits,
            # anti-entropy brings the record), never a record whose accept was lost.
            self._engine.apply(op.dataset, [Write(op.pkey, op.lkey, proposal.entry)])
        if ok:
            await self._durable()
        promised = state.promised if newer is None else max(state.promised, newer)
        return peer_pb2.PaxosReply(ok=ok, promised=version_to_proto(promised),
                                   stored=commits, granted=commits and grant > proposal.ballot)

    async def commit(self, op: peer_pb2.PaxosCommitOp) -> peer_pb2.PaxosReply:
        """Store the chosen value as a record (LWW: its version is the ballot) and
        remember the commit; an older accepted proposal is then settled. A ``grant``
        asked for is promised if nothing above the committed ballot was promised here
        (the coordinator's next round on the key may then skip its prepare)."""
        proposal = proposal_from_proto(op.proposal)
        if proposal is None:
            raise ValueError("a commit needs a ballot")
        if proposal.entry is not None:
            self._engine.apply(op.dataset, [Write(op.pkey, op.lkey, proposal.entry)])
        grant = version_from_proto(op.grant)

        def settle(state: PaxosState) -> tuple[PaxosState, bool]:
            committed = state.committed
            if committed is None or committed.ballot < proposal.ballot:
                committed = proposal
            accepted = state.accepted
            if accepted is not None and accepted.ballot <= committed.ballot:
                accepted = None
            granted = proposal.ballot < grant and state.promised <= proposal.ballot
            return PaxosState(grant if granted else state.promised, accepted, committed), granted

        _, granted = self._engine.paxos_update(op.dataset, op.pkey, op.lkey, settle)
        if op.sync:
            await self._durable()
        return peer_pb2.PaxosReply(ok=True, granted=granted)

    async def execute(self, op: peer_pb2.ReplicaOp) -> peer_pb2.PaxosReply | None:
        """The answer to a Paxos replica operation, or None when ``op`` is another kind."""
        kind = op.WhichOneof("op")
        if kind == "paxos_prepare":
            return await self.prepare(op.paxos_prepare)
        if kind == "paxos_propose":
            return await self.propose(op.paxos_propose)
        if kind == "paxos_commit":
            return await self.commit(op.paxos_commit)
        return None


__all__ = ["PaxosReplica", "ballot_to_proto", "proposal_from_proto", "proposal_to_proto", "version_from_proto",
           "version_to_proto"]
