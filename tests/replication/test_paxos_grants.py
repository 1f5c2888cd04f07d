"""A replica's side of granted ballots, on a real engine: a commit grants the ballot it
asks for only if nothing above the committed one was promised, and a proposal sent
under a grant (no prepare of its own) is accepted only while that grant is still the
replica's highest promise and no write outside Paxos made the record newer. A
proposal sent ``commit_on_accept`` is committed and stored by the accept itself, and
nothing is stored when it is refused. And the coordinator's side: a grant is used
once, while fresh, by the same replica set."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from manhattan.proto.v1 import peer_pb2
from manhattan.replication.paxos_grants import GRANT_TTL_S, MAX_GRANTS, Grants
from manhattan.replication.paxos_replica import (
    PaxosReplica, proposal_to_proto, version_to_proto,
)
from manhattan.storage import Entry, GroupCommit, RocksEngine, Version, Write
from manhattan.storage.paxos_state import Proposal

KEY = dict(dataset="d", pkey=b"p", lkey=b"l")
B, G = Version(100, 1), Version(200, 1)  # a committed ballot, the grant asked with it


@pytest.fixture
def replica(tmp_path) -> Iterator[tuple[PaxosReplica, RocksEngine]]:
    engine = RocksEngine(tmp_path / "db")
    engine.create_dataset("d")
    try:
        yield PaxosReplica(engine, GroupCommit(engine.sync)), engine
    finally:
        engine.close()


def entry(version: Version, value: bytes) -> Entry:
    return Entry(version, value, 0, False)


def prepare(replica: PaxosReplica, ballot: Version) -> peer_pb2.PaxosReply:
    return asyncio.run(replica.prepare(peer_pb2.PaxosPrepareOp(
        **KEY, ballot=version_to_proto(ballot))))


def propose(replica: PaxosReplica, ballot: Version, value: bytes,
            granted_after: Version | None = None, *, commit_on_accept: bool = False,
            grant: Version | None = None) -> peer_pb2.PaxosReply:
    return asyncio.run(replica.propose(peer_pb2.PaxosProposeOp(
        **KEY, proposal=proposal_to_proto(Proposal(ballot, entry(ballot, value))),
        granted_after=None if granted_after is None else version_to_proto(granted_after),
        commit_on_accept=commit_on_accept,
        grant=None if grant is None else version_to_proto(grant))))


def commit(replica: PaxosReplica, ballot: Version, value: bytes,
           grant: Version | None = None) -> peer_pb2.PaxosReply:
    return asyncio.run(replica.commit(peer_pb2.PaxosCommitOp(
        **KEY, proposal=proposal_to_proto(Proposal(ballot, entry(ballot, value))),
        grant=None if grant is None else version_to_proto(grant))))


def committed_with_grant(replica: PaxosReplica) -> peer_pb2.PaxosReply:
    """A full round at B whose commit asks for G."""
    assert prepare(replica, B).ok and propose(replica, B, b"b").ok
    return commit(replica, B, b"b", grant=G)


def test_a_commit_grants_the_next_ballot_and_a_proposal_under_it_is_accepted(replica) -> None:
    node, engine = replica
    reply = committed_with_grant(node)
    assert reply.ok and reply.granted
    assert engine.paxos_state("d", b"p", b"l").promised == G
    assert propose(node, G, b"next", granted_after=B).ok
    assert engine.paxos_state("d", b"p", b"l").accepted.entry.value == b"next"


def test_no_grant_over_a_higher_promise_and_no_proposal_under_a_grant_not_given(
        replica) -> None:
    node, engine = replica
    assert prepare(node, B).ok and propose(node, B, b"b").ok
    between = Version(150, 2)  # another coordinator's prepare, before the commit came
    assert prepare(node, between).ok
    reply = commit(node, B, b"b", grant=G)
    assert reply.ok and not reply.granted  # committed, but nothing promised to G
    assert engine.paxos_state("d", b"p", b"l").promised == between
    # G is above every promise here, yet it was never granted: a proposal sent under
    # it would skip the prepare that found ``between``. Refused.
    refused = propose(node, G, b"next", granted_after=B)
    assert not refused.ok and refused.promised.timestamp == between.timestamp
    assert engine.paxos_state("d", b"p", b"l").accepted is None
    # The same ballot in an ordinary round (after its own prepare) is fine.
    assert propose(node, G, b"next").ok


def test_a_grant_is_void_once_a_higher_ballot_is_promised(replica) -> None:
    node, engine = replica
    assert committed_with_grant(node).granted
    assert prepare(node, Version(300, 2)).ok
    assert not propose(node, G, b"next", granted_after=B).ok
    assert engine.paxos_state("d", b"p", b"l").accepted is None


def test_a_plain_write_after_the_grant_refuses_the_proposal_under_it(replica) -> None:
    node, engine = replica
    assert committed_with_grant(node).granted
    plain = Version(250, 3)  # a last-writer-wins write stored after the commit
    engine.apply("d", [Write(b"p", b"l", entry(plain, b"plain"))])
    refused = propose(node, G, b"next", granted_after=B)
    assert not refused.ok and refused.promised.timestamp >= plain.timestamp
    assert engine.get_entry("d", b"p", b"l").value == b"plain"


def test_no_grant_asked_means_none_given(replica) -> None:
    node, engine = replica
    assert prepare(node, B).ok and propose(node, B, b"b").ok
    reply = commit(node, B, b"b")
    assert reply.ok and not reply.granted
    assert engine.paxos_state("d", b"p", b"l").promised == B
    assert not propose(node, G, b"next", granted_after=B).ok


def test_an_accept_that_completes_the_quorum_commits_stores_and_grants(replica) -> None:
    node, engine = replica
    assert prepare(node, B).ok
    reply = propose(node, B, b"b", commit_on_accept=True, grant=G)
    assert reply.ok and reply.stored and reply.granted
    state = engine.paxos_state("d", b"p", b"l")
    assert state.committed.entry.value == b"b" and state.accepted is None
    assert state.promised == G
    assert engine.get_entry("d", b"p", b"l").value == b"b"
    # The grant is used like one given by a commit, and the next value stored likewise.
    nxt = Version(300, 1)
    reply = propose(node, G, b"next", granted_after=B, commit_on_accept=True, grant=nxt)
    assert reply.ok and reply.stored and reply.granted
    assert engine.get_entry("d", b"p", b"l").value == b"next"
    assert engine.paxos_state("d", b"p", b"l").promised == nxt


def test_a_refused_accept_that_would_have_committed_stores_nothing(replica) -> None:
    node, engine = replica
    assert prepare(node, G).ok  # another coordinator's higher ballot
    refused = propose(node, B, b"b", commit_on_accept=True, grant=Version(300, 1))
    assert not refused.ok and not refused.stored and not refused.granted
    assert engine.get_entry("d", b"p", b"l") is None
    state = engine.paxos_state("d", b"p", b"l")
    assert state.committed is None and state.promised == G


def test_a_granted_accept_after_a_plain_write_stores_nothing(replica) -> None:
    node, engine = replica
    assert committed_with_grant(node).granted
    engine.apply("d", [Write(b"p", b"l", entry(Version(250, 3), b"plain"))])
    refused = propose(node, G, b"next", granted_after=B, commit_on_accept=True)
    assert not refused.ok and not refused.stored
    assert engine.get_entry("d", b"p", b"l").value == b"plain"
    assert engine.paxos_state("d", b"p", b"l").committed.entry.value == b"b"


def test_an_accept_without_commit_on_accept_stores_nothing_until_the_commit(replica) -> None:
    node, engine = replica
    assert prepare(node, B).ok
    reply = propose(node, B, b"b", grant=G)  # (a grant asked without it is ignored)
    assert reply.ok and not reply.stored and not reply.granted
    assert engine.get_entry("d", b"p", b"l") is None
    assert engine.paxos_state("d", b"p", b"l").promised == B


class Clock:
    now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_grant_is_taken_once_while_fresh_and_for_the_same_replica_set() -> None:
    clock = Clock()
    grants = Grants(clock)
    key = ("d", b"p", b"l")
    grants.keep(key, G, B, entry(B, b"b"), (1, 2, 3))
    assert grants.take(key, (1, 2, 4)) is None  # the replica set changed: gone
    grants.keep(key, G, B, entry(B, b"b"), (1, 2, 3))
    taken = grants.take(key, (1, 2, 3))
    assert taken is not None and (taken.ballot, taken.after) == (G, B)
    assert grants.take(key, (1, 2, 3)) is None  # one round uses it
    grants.keep(key, G, B, None, (1, 2, 3))
    clock.now += GRANT_TTL_S + 0.01
    assert grants.take(key, (1, 2, 3)) is None  # too old: its ballot lags the clock


def test_grants_are_bounded_the_least_recent_going_first() -> None:
    grants = Grants(Clock())
    for i in range(MAX_GRANTS + 10):
        grants.keep(("d", b"%d" % i, b""), G, B, None, (1,))
    assert len(grants) == MAX_GRANTS
    assert grants.take(("d", b"0", b""), (1,)) is None
    assert grants.take(("d", b"%d" % (MAX_GRANTS + 9), b""), (1,)) is not None
