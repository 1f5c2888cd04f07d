"""Membership changes, run by the node an operator asks (``Ops.ChangeMembership``).

1. Validate and write the transitional topology (epoch + 1): a new node JOINING,
   a departing one LEAVING (replace does both). Push it to every member; nodes
   that miss the push catch up through gossip. From now on writes go to the
   current and the future owners of each range (pending ranges), and every node
   that gains ranges pulls them (``streaming.Transfers``).
2. Poll every live member's ``TransferStatus`` until all are done for the epoch.
3. Switch: the future topology (joining -> normal, leaving removed) at epoch + 1,
   pushed to every node (the departing one included, so it knows it is out). Under
   the metadata log, joined nodes then become voters while the voters are below
   their target, and only after that do the departed nodes' voters go.
4. Clean up: every live node, asked at once, drops the ranges it no longer owns (range
   deletes); one down or slow does it by itself once it holds the settled topology.

Only one change runs at a time; asking for the change already under way resumes
watching it (and finishes it), so an interrupted ``manhattan node add`` is rerun.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from typing import Protocol

import grpc

from manhattan.cluster.change_start import commit_settled, under_way
from manhattan.cluster.membership import Membership, topology_to_proto
from manhattan.cluster.peers import PeerContext
from manhattan.cluster.ranges import future_topology, in_transition
from manhattan.cluster.topology import Member, MemberState, Topology
from manhattan.cluster.transfer_status import LocalTransfers, transfer_statuses
from manhattan.errors import (
    InvalidRequest, ManhattanError, StaleTopology, Timeout, Unavailable,
)
from manhattan.metadata.log import raft_address
from manhattan.proto.v1 import admin_pb2, admin_pb2_grpc, ops_pb2, ops_pb2_grpc
from manhattan.security.tls import aio_channel
from manhattan.tenancy import Catalog

log = logging.getLogger("manhattan.membership")
Kind = ops_pb2.MembershipChangeRequest
POLL_S = 0.2
# A node being added answers JoinMetadata once it caught up on the metadata log: on a
# loaded host, a long log took 11 s (jepsen seed 11), past the 10 s this once allowed.
JOIN_METADATA_S = 60.0
# How long the driver waits for a node's cleanup; one slower cleans up by itself.
CLEANUP_S = 10.0
SETTLE_ATTEMPTS = 20  # x 0.5 s and a command deadline each: a new leader is elected by then


class ChangeRejected(ManhattanError):
    """The change cannot be made in the cluster's current state."""

    code = grpc.StatusCode.FAILED_PRECONDITION


class VoterControl(Protocol):
    """The metadata log's voter set (``node.metadata_wiring.NodeMetadata``)."""

    def wants_voter(self, members: int, leaving: list[tuple[int, str]]) -> bool:
        """Whether the voters, without the leaving members', are below their target."""
        ...

    async def add_voter(self, node_id: int, address: str) -> None:
        """Commit node ``node_id``'s ``address`` (its member already running as a voter)
        into the voters."""
        ...

    async def retire_voters(self, members: list[tuple[int, str]]) -> None:
        """Commit the removal of these (id, address) members' voters."""
        ...

    def pending_voters(self) -> dict | None:
        """The voter change the log records after a switch until it is settled
        ({"change", "joined": [ids], "leaving": [{"id", "address"}]}); None: none."""
        ...


class MembershipChanges:
    """Validates, starts and drives membership changes from this node."""

    def __init__(self, *, peers: PeerContext, membership: Membership, catalog: Catalog,
                 transfers: LocalTransfers,
                 metadata_voters: Callable[[], list[str] | None] | None = None,
                 commit_topology: Callable[[dict], Awaitable[dict]] | None = None,
                 voters: "VoterControl | None" = None) -> None:
        # The metadata log's voter set, changed as members join and leave (None: no log).
        self.voters = voters
        self.peers = peers
        # Commits a topology command to the metadata log and returns once this node has
        # applied it (None: no log; topologies are pushed, the previous way).
        self.commit_topology = commit_topology
        # The metadata log's voters, which a node being added must follow (None: no log).
        self.metadata_voters = metadata_voters
        self.membership = membership
        self.catalog = catalog
        self.transfers = transfers
        self._lock = asyncio.Lock()

    # -- validation ----------------------------------------------------------

    def _member(self, topology: Topology, node_id: int) -> Member:
        member = topology.member(node_id)
        if member is None:
            known = ", ".join(str(m.id) for m in topology.members)
            raise InvalidRequest(f"unknown node id {node_id}: the members are {known}")
        return member

    def _alive(self, node_id: int) -> bool:
        return self.peers.is_alive(node_id)

    def _check_capacity(self, topology: Topology, leaving: int) -> None:
        remaining = len([m for m in topology.members
                         if m.id != leaving and m.state != MemberState.LEAVING])
        for spec in self.catalog.datasets():
            if spec.replication_factor > remaining:
                raise ChangeRejected(
                    f"removing node {leaving} would leave {remaining} nodes, fewer than the "
                    f"replication factor {spec.replication_factor} of dataset {spec.name!r}")

    async def _probe(self, topology: Topology, address: str) -> int:
        """The id of the node running at ``address`` (it must answer the admin token)."""
        for member in topology.members:
            if member.address == address:
                raise ChangeRejected(f"address {address} is already member {member.id}")
        async with aio_channel(address, self.peers.channel_credentials) as channel:
            try:
                info = await admin_pb2_grpc.AdminStub(channel).NodeInfo(
                    admin_pb2.NodeInfoRequest(), timeout=5, metadata=self.peers.metadata)
            except grpc.aio.AioRpcError as exc:
                raise Unavailable(f"cannot reach a node at {address}: {exc.code().name} "
                                  f"({exc.details()}); start it with the cluster's admin "
                                  "token first") from None
        existing = topology.member(info.node_id)
        if existing is not None:
            raise ChangeRejected(f"the node at {address} has id {info.node_id}, which is "
                                 f"already member {existing.id} at {existing.address}")
        return info.node_id

    async def _join_metadata(self, address: str, promote_at: str = "") -> list[str]:
        """A node being added follows the metadata log (as a learner) before it is a
        member: it must know the datasets to pull them, and every later change. With
        ``promote_at`` (its Raft endpoint), the learner restarts its member as a voter.
        Returns the voters as the node then sees them."""
        voters = self.metadata_voters() if self.metadata_voters is not None else None
        if not voters:
            return []
        request = admin_pb2.JoinMetadataRequest(
            voters=[*voters, promote_at] if promote_at else voters)
        async with aio_channel(address, self.peers.channel_credentials) as channel:
            try:
                reply = await admin_pb2_grpc.AdminStub(channel).JoinMetadata(
                    request, timeout=JOIN_METADATA_S, metadata=self.peers.metadata)
            except grpc.aio.AioRpcError as exc:
                raise ChangeRejected(f"the node at {address} cannot follow the metadata "
                                     f"log: {exc.details()}") from None
        return list(reply.status.voters)

    async def _settle_voters(self) -> str:
        """Finish the voter change the log has pending after a switch (this driver's own,
        or one whose driver died after the switch), then mark it settled. Returns a note
        (a promotion that failed; "" when all went well or nothing was pending)."""
        pending = self.voters.pending_voters() if self.voters is not None else None
        if not pending:
            return ""
        topology = self.membership.topology
        by_id = {m.id: m for m in topology.members}
        note = await self._change_voters(
            [by_id[i] for i in pending["joined"] if i in by_id],
            [(int(m["id"]), str(m["address"])) for m in pending["leaving"]
             if int(m["id"]) not in by_id], len(topology.members))
        # Bounded retries: removing a voter that led hands the leadership over, and the
        # new leader discards a command in flight (settling twice is a no-op).
        for attempt in range(SETTLE_ATTEMPTS):
            try:
                await self._commit({"op": "voters_settled", "change_id": pending["change"]})
                return note
            except (Unavailable, Timeout) as exc:
                if attempt == SETTLE_ATTEMPTS - 1:
                    unsettled = (f"the voters are changed, but recording it failed ({exc}): "
                                 f"run the command again to settle them")
                    return f"{note}; {unsettled}" if note else unsettled
                await asyncio.sleep(0.5)
        return note

    async def _change_voters(self, joined: list[Member], gone: list[tuple[int, str]],
                             members: int) -> str:
        """Joined members become voters while the voters (the leaving ones' not counted)
        are below their target, one change at a time; only then do the leaving members'
        voters go, so the voters always keep a majority they can reach. Returns a note
        when a promotion failed (the leaving voters are then kept)."""
        if self.voters is None:
            return ""
        for member in joined:
            if not self.voters.wants_voter(members, gone):
                break
            address = raft_address(member.address)
            try:
                seen = await self._join_metadata(member.address, promote_at=address)
                if address not in seen:
                    raise ChangeRejected(f"node {member.id} runs its metadata member "
                                         f"elsewhere than {address} (metadata.listen)")
                await self.voters.add_voter(member.id, address)
            except ManhattanError as exc:
                log.warning("node %s stays a metadata learner: %s", member.id, exc)
                return (f"node {member.id} stays a metadata learner ({exc}); the voters of "
                        f"the nodes that left are kept")
            log.info("node %s votes in the metadata log at %s", member.id, address)
        await self.voters.retire_voters(gone)
        return ""

    async def _target(self, request: ops_pb2.MembershipChangeRequest) -> Topology:
        """The transitional topology for the request (the current one to resume)."""
        topology = self.membership.topology
        kind = request.kind
        if kind not in (Kind.ADD, Kind.DECOMMISSION, Kind.REPLACE, Kind.REMOVE):
            raise InvalidRequest("kind must be ADD, DECOMMISSION, REPLACE or REMOVE")
        if kind in (Kind.ADD, Kind.REPLACE) and not request.address:
            raise InvalidRequest("the new node's address is required")
        if in_transition(topology):
            if self._resumes(topology, request):
                return topology
            moving = ", ".join(f"node {m.id} {m.state.value}" for m in topology.members
                               if m.state != MemberState.NORMAL)
            raise ChangeRejected(f"another membership change is under way ({moving}); "
                                 "finish it first by running the same command again")
        members = list(topology.members)
        if kind in (Kind.DECOMMISSION, Kind.REMOVE, Kind.REPLACE):
            going = self._member(topology, request.node_id)
            alive = self._alive(going.id)
            if kind == Kind.DECOMMISSION and not alive:
                raise ChangeRejected(f"node {going.id} is down: use `manhattan node remove "
                                     f"{going.id}` (or replace) for a dead node")
            if kind in (Kind.REMOVE, Kind.REPLACE) and alive:
                raise ChangeRejected(f"node {going.id} is alive: decommission it instead, so "
                                     "its ranges are streamed from it")
            if kind != Kind.REPLACE:
                self._check_capacity(topology, going.id)
            if going.id == self.peers.node_id:
                raise ChangeRejected(f"run the change on another node than {going.id}, "
                                     "the one that goes")
            members = [replace(m, state=MemberState.LEAVING) if m.id == going.id else m
                       for m in members]
        if kind in (Kind.ADD, Kind.REPLACE):
            node_id = await self._probe(topology, request.address)
            members.append(Member(node_id, request.address, request.zone or "default",
                                  request.weight or 1, MemberState.JOINING))
        return Topology(topology.epoch + 1, tuple(sorted(members, key=lambda m: m.id)))

    @staticmethod
    def _finished(topology: Topology, request: ops_pb2.MembershipChangeRequest) -> bool:
        """Whether ``request`` asks for what the (settled) ``topology`` already is."""
        ids = {m.id for m in topology.members}
        added = request.address in {m.address for m in topology.members}
        if request.kind == Kind.ADD:
            return added
        if request.kind in (Kind.DECOMMISSION, Kind.REMOVE):
            return request.node_id not in ids
        return request.kind == Kind.REPLACE and added and request.node_id not in ids

    @staticmethod
    def _resumes(topology: Topology, request: ops_pb2.MembershipChangeRequest) -> bool:
        joining = {m.address for m in topology.members if m.state == MemberState.JOINING}
        leaving = {m.id for m in topology.members if m.state == MemberState.LEAVING}
        if request.kind == Kind.ADD:
            return joining == {request.address} and not leaving
        if request.kind in (Kind.DECOMMISSION, Kind.REMOVE):
            return leaving == {request.node_id} and not joining
        return joining == {request.address} and leaving == {request.node_id}

    # -- driving -------------------------------------------------------------

    async def _push(self, topology: Topology) -> list[int]:
        """Adopt ``topology`` here and push it to every member of it and of the current
        one; returns the ids that did not take it (gossip will bring it to them)."""
        members = {m.id: m for m in (*self.membership.topology.members, *topology.members)}
        self.membership.update(topology)
        message = topology_to_proto(topology, vnodes=self.membership.vnodes)
        me = self.peers.node_id

        async def push(member: Member) -> int | None:
            stub = self.peers.links.get(member.id, member.address).stub
            try:
                await stub.PushTopology(message, timeout=5, metadata=self.peers.metadata,
                                        wait_for_ready=self._alive(member.id))
                return None
            except grpc.aio.AioRpcError:
                return member.id

        missed = await asyncio.gather(*(push(m) for i, m in members.items() if i != me))
        return [i for i in missed if i is not None]

    async def _push_to(self, topology: Topology, node_ids: list[int]) -> None:
        """Push ``topology`` again to the given members (best effort)."""
        message = topology_to_proto(topology, vnodes=self.membership.vnodes)
        for node_id in node_ids:
            member = topology.member(node_id)
            if member is None:
                continue
            try:
                await self.peers.links.get(member.id, member.address).stub.PushTopology(
                    message, timeout=3, metadata=self.peers.metadata)
            except grpc.aio.AioRpcError:
                pass

    async def _statuses(self, epoch: int) -> list[ops_pb2.NodeTransfer]:
        return await transfer_statuses(self.peers, self.membership, self.catalog,
                                       self.transfers, epoch)

    async def change(self, request: ops_pb2.MembershipChangeRequest
                     ) -> AsyncIterator[ops_pb2.MembershipProgress]:
        """Run (or resume) the change, yielding progress until it is complete."""
        if self._lock.locked():
            raise ChangeRejected("this node is already running a membership change")
        async with self._lock:
            if request.kind == Kind.ABORT:
                async for progress in self._abort():
                    yield progress
                return
            pending = self.voters.pending_voters() if self.voters is not None else None
            if pending and not in_transition(self.membership.topology):
                # A change's driver died after its switch: finish its voter change (and
                # cleanup) first; running the same command again, through any node, is
                # how an operator resumes it.
                async for progress in self._resume_after_switch(pending, request):
                    yield progress
                    if progress.done:
                        return
            current = self.membership.topology
            if (request.kind in (Kind.ADD, Kind.REPLACE) and not in_transition(current)
                    and self._finished(current, request)):
                # Asked again after it finished (its driver's answer was lost, or an
                # operator reruns it to be sure): done, nothing to change. (Only where
                # the address is positive evidence; a node id that is not a member may
                # be a typo, and stays an error.)
                yield ops_pb2.MembershipProgress(
                    phase="done", epoch=current.epoch, done=True,
                    message=f"already done: the topology at epoch {current.epoch} is what "
                            "this change asks for; nothing changed")
                return
            target = await self._target(request)
            resuming = target is current  # the change under way, asked for again
            for member in target.members:
                if member.state == MemberState.JOINING:
                    await self._join_metadata(member.address)
            if not resuming:
                if self.commit_topology is not None:
                    planned = target
                    await commit_settled(
                        self._commit, {"op": "topology_begin", "kind": Kind.Kind.Name(
                            request.kind), "base": _plain(self.membership.topology),
                            "members": _plain(target)["members"]},
                        lambda: under_way(self.membership.topology, planned), ChangeRejected)
                    target = self.membership.topology
                    log.info("membership change committed at epoch %s", target.epoch)
                else:
                    missed = await self._push(target)
                    log.info("membership change started at epoch %s (push missed: %s)",
                             target.epoch, missed)
            epoch = target.epoch
            yield ops_pb2.MembershipProgress(phase="streaming", epoch=epoch,
                                             message="topology pushed")
            while True:
                if self.membership.epoch != epoch:
                    raise ChangeRejected(f"the topology moved on to epoch "
                                         f"{self.membership.epoch} during the change")
                transfers = await self._statuses(epoch)
                waiting = [t for t in transfers if not t.done]
                behind = [t.node_id for t in waiting if "topology epoch" in t.error]
                if behind:  # missed the push (and a fresh node has no peers to gossip with)
                    await self._push_to(self.membership.topology, behind)
                message = "; ".join(f"node {t.node_id}: {t.error}" for t in waiting if t.error)
                yield ops_pb2.MembershipProgress(phase="streaming", epoch=epoch,
                                                 transfers=transfers, message=message)
                if not waiting:
                    break
                await asyncio.sleep(POLL_S)
            final = replace(future_topology(self.membership.topology), epoch=epoch + 1)
            voters_note = ""
            if self.commit_topology is not None:
                await self._commit({"op": "topology_switch"})
                voters_note = await self._settle_voters()
                final, missed = self.membership.topology, []
            else:
                missed = await self._push(final)
            yield ops_pb2.MembershipProgress(
                phase="switching", epoch=final.epoch, transfers=transfers,
                message=f"nodes {missed} will learn the topology by gossip" if missed else "")
            dropped, unreachable = await self._cleanup(final, target)
            note = f"cleanup: {dropped} ranges dropped"
            if unreachable:
                note += f"; {_not_cleaned(unreachable)}"
            if voters_note:
                note += f"; {voters_note}"
            yield ops_pb2.MembershipProgress(phase="done", epoch=final.epoch,
                                             transfers=transfers, message=note, done=True)

    async def _resume_after_switch(self, pending: dict,
                                   request: ops_pb2.MembershipChangeRequest
                                   ) -> AsyncIterator[ops_pb2.MembershipProgress]:
        """The rest of a change whose driver died after the switch: its voter change,
        then, when ``request`` asks for that same change, the cleanup (done)."""
        note = await self._settle_voters()
        topology = self.membership.topology
        yield ops_pb2.MembershipProgress(
            phase="voters", epoch=topology.epoch,
            message=f"finished the metadata voter change of change {pending['change']}"
                    + (f": {note}" if note else ""))
        if not self._finished(topology, request):
            return  # another change: it runs next
        departed = tuple(Member(int(m["id"]), str(m["address"])) for m in pending["leaving"])
        dropped, unreachable = await self._cleanup(
            topology, replace(topology, members=topology.members + departed))
        message = f"resumed after the switch; cleanup: {dropped} ranges dropped"
        if unreachable:
            message += f"; {_not_cleaned(unreachable)}"
        if note:
            message += f"; {note}"
        yield ops_pb2.MembershipProgress(phase="done", epoch=topology.epoch, message=message,
                                         done=True)

    async def _commit(self, command: dict) -> None:
        """A topology command through the log (applied here when it returns); the log's
        refusals as ChangeRejected."""
        assert self.commit_topology is not None
        try:
            await self.commit_topology(command)
        except StaleTopology as exc:
            raise ChangeRejected(str(exc)) from None

    async def _abort(self) -> AsyncIterator[ops_pb2.MembershipProgress]:
        """Back to the members before the change under way (from any node). Nobody
        dropped a range yet, so the previous owners still hold theirs; a joining node
        drops what it streamed, when it is up."""
        if self.commit_topology is None:
            raise ChangeRejected("aborting a change needs the metadata log (metadata.enabled)")
        during = self.membership.topology
        if not in_transition(during):
            raise ChangeRejected("no membership change is under way")
        await self._commit({"op": "topology_abort"})
        after = self.membership.topology
        dropped, unreachable = await self._cleanup(after, during)
        note = f"aborted; cleanup: {dropped} ranges dropped"
        if unreachable:
            note += f"; {_not_cleaned(unreachable)}"
        yield ops_pb2.MembershipProgress(phase="done", epoch=after.epoch, message=note,
                                         done=True)

    async def _cleanup(self, final: Topology, previous: Topology) -> tuple[int, list[int]]:
        """Ask every live node of the change, at once, to drop what it no longer owns.
        One that is down or slower than ``CLEANUP_S`` is reported, not waited for: each
        node cleans up by itself once it holds the settled topology (``streaming``)."""
        me = self.peers.node_id
        members = list({m.id: m for m in (*previous.members, *final.members)}.values())

        async def clean(member: Member) -> int | None:
            if member.id == me:
                return (await self.transfers.cleanup()).ranges_dropped
            if not self._alive(member.id):
                return None
            stub = ops_pb2_grpc.PeerRangesStub(
                self.peers.links.get(member.id, member.address).channel)
            try:
                reply = await stub.Cleanup(ops_pb2.CleanupRequest(), timeout=CLEANUP_S,
                                           metadata=self.peers.metadata)
            except grpc.aio.AioRpcError as exc:
                log.warning("cleanup on node %s failed: %s", member.id, exc.code().name)
                return None
            return reply.ranges_dropped

        results = await asyncio.gather(*(clean(member) for member in members))
        dropped = sum(r for r in results if r is not None)
        return dropped, [m.id for m, r in zip(members, results) if r is None]


def _not_cleaned(node_ids: list[int]) -> str:
    return f"nodes {node_ids} were not cleaned up (down or slow: each cleans up by itself)"


def _plain(topology: Topology) -> dict:
    """The JSON form of a topology, as the metadata log's commands carry it."""
    return json.loads(topology.to_json())
