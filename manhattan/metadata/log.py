"""The replicated metadata log: pysyncobj (embedded Raft) driven from asyncio.

Each node runs one ``SyncObj`` on its own port and directory. Up to five nodes vote
(or the configured ``metadata.voters``); the others follow as pysyncobj read-only
nodes: they receive and apply the log but never count towards a majority.

Raft traffic is pickled by pysyncobj, so it is never accepted unauthenticated: the
password (derived from the cluster secret, the shared admin token) turns on Fernet
(AES + HMAC) for every message, and a message that does not verify is dropped
before it is unpickled.

Commands are JSON, applied by :class:`~manhattan.metadata.state.MetadataState` on
pysyncobj's thread; results come back to the event loop with
``loop.call_soon_threadsafe``.

**Unavailable versus Timeout.** A command is handed to Raft only while this node
sees a leader and a majority; until then it waits (through an election: at most its
deadline or five election timeouts), then answers ``Unavailable`` ("no metadata
majority: ..."): nothing was sent, nothing will
happen. Once handed over, a command that is not committed by its deadline answers
``Timeout`` (it may still commit later: a partition that began in the last moments
before the call). A minority side therefore answers ``Unavailable`` once its
connections to the majority have timed out (``metadata.connection_timeout_s``).
A command refused in an election, or whose leader lost its office before answering, is
sent again (under the same id: applied at most once) until its deadline.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import math
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pysyncobj import FAIL_REASON, SyncObj, SyncObjConf, SyncObjConsumer, replicated

from manhattan.errors import Timeout, Unavailable
from manhattan.metadata.state import Applied, MetadataState, raise_for
from manhattan.tenancy.items import Item

log = logging.getLogger("manhattan.metadata")

MAX_VOTERS = 5
MEMBER_PORT_OFFSET = 1000  # a member's Raft port by default: its gRPC port + 1000
RESEND_PAUSE_S = 0.05  # pause before a command refused or lost to a leader change goes again
LOG_CLOSED = -1  # the outcome of a command still in flight when this node closed its log
# Raft's heartbeat and its thread's idle wake-up, at most (a sixth of the election timeout
# below that). Commits do not wait for either: a new command wakes the Raft thread, and a
# leader whose commit index moved sends it on at once (appendEntriesUseBatch=False), so
# followers apply within a round trip. At 20 ms they were 40% of an idle node's CPU.
MAX_HEARTBEAT_S = 0.1
# Freshness barriers run at least this often. Every barrier is a command every voter
# journals: one a second per node was a third of an idle cluster's Raft traffic.
MAX_FRESHNESS_PERIOD_S = 5.0
# Outcomes that prove the command was never appended: safe to call Unavailable.
_NOT_SENT = {FAIL_REASON.QUEUE_FULL: "the metadata command queue is full",
             FAIL_REASON.MISSING_LEADER: "no metadata leader",
             FAIL_REASON.NOT_LEADER: "the metadata leader changed before taking the command",
             FAIL_REASON.DISCARDED: "a new metadata leader discarded the command"}


def raft_address(grpc_address: str) -> str:
    """A member's default Raft endpoint (``metadata_address`` = ""): its gRPC address'
    port + 1000. A node added to a cluster votes there once promoted."""
    host, _, port = grpc_address.rpartition(":")
    return f"{host}:{int(port) + MEMBER_PORT_OFFSET}"


def heartbeat_s(election_timeout_s: float) -> float:
    """Raft's heartbeat period for an election timeout: ``MAX_HEARTBEAT_S``, or a sixth
    of the timeout when that is shorter (pysyncobj needs it under a third)."""
    return min(MAX_HEARTBEAT_S, election_timeout_s / 6)


def password_from_secret(secret: str) -> str:
    """The pysyncobj password: derived (not equal) to the cluster secret, so the log's
    key says nothing about the admin token."""
    return hashlib.sha256(b"manhattan-metadata-log\0" + secret.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class LogSettings:
    """Where this node's log lives and whom it talks to."""

    self_address: str
    """host:port of this node's Raft endpoint."""
    voters: tuple[str, ...]
    """Raft endpoints of the voters at start (this node's included when it votes); the
    log's membership entries (voters removed with their nodes) change them later."""
    directory: Path
    secret: str
    max_staleness_s: float = 30.0
    election_timeout_s: float = 0.6
    connection_timeout_s: float = 2.0
    voter_ids: tuple[int, ...] = ()
    """Node ids of ``voters``, in the same order (empty: not known, e.g. a learner)."""

    @property
    def votes(self) -> bool:
        """Whether this node is one of the voters."""
        return self.self_address in self.voters


class _Machine(SyncObjConsumer):
    """The replicated object: one ``apply`` method whose argument is a JSON command."""

    def __init__(self, on_applied: Callable[[Applied], None],
                 on_restored: Callable[[list[Item]], None]) -> None:
        self.on_applied = on_applied
        self.on_restored = on_restored
        super().__init__()  # fields set above are not part of snapshots
        self.state = MetadataState()

    @replicated
    def apply(self, payload: str) -> dict[str, Any]:
        """Apply one committed command (pysyncobj's thread)."""
        applied = self.state.apply(json.loads(payload))
        self.on_applied(applied)
        return applied.result

    def _serialize(self) -> dict[str, Any]:
        return self.state.dump()

    def _deserialize(self, data: dict[str, Any]) -> None:
        self.state = MetadataState.load(data)
        self.on_restored(self.state.items.snapshot())


class MetadataLog:
    """This node's member of the metadata log; ``start()`` inside the event loop."""

    def __init__(self, settings: LogSettings, *, on_applied: Callable[[Applied], None],
                 on_restored: Callable[[list[Item]], None]) -> None:
        self.settings = settings
        self._on_applied = on_applied
        self._on_restored = on_restored
        self._loop: asyncio.AbstractEventLoop | None = None
        self._sync: SyncObj | None = None
        self._machine: _Machine | None = None
        self._majority_at = time.monotonic()
        # Start of the newest barrier that completed here: this node had applied every
        # command committed before that moment. Tenant calls are refused once it is
        # older than max_staleness_s (bounded revocation); none yet at start.
        self._fresh_at = -math.inf
        self._in_flight: set[asyncio.Future[tuple[Any, int]]] = set()
        self.applied_seq = 0
        self.commands = {"committed": 0, "refused": 0, "unavailable": 0, "timeout": 0,
                         "resent": 0}

    # -- lifecycle ------------------------------------------------------------

    def start(self) -> None:
        """Open the journal, replay what it holds and join the other voters."""
        self._loop = asyncio.get_running_loop()
        s = self.settings
        s.directory.mkdir(parents=True, exist_ok=True)
        heartbeat = heartbeat_s(s.election_timeout_s)
        conf = SyncObjConf(
            password=password_from_secret(s.secret),
            journalFile=str(s.directory / "journal"), fullDumpFile=str(s.directory / "dump"),
            useFork=False,  # never fork a process that runs gRPC threads
            commandsWaitLeader=False,  # no leader: refuse now, never send it later
            dynamicMembershipChange=True,  # voters leave the log with their nodes
            # Commands wake the Raft thread at once and go out without waiting for the
            # next batch: an admin call commits in a few round trips, not ticks.
            appendEntriesUseBatch=False,
            appendEntriesPeriod=heartbeat, autoTickPeriod=heartbeat,
            raftMinTimeout=s.election_timeout_s,
            raftMaxTimeout=s.election_timeout_s * 2.5,
            connectionTimeout=max(s.connection_timeout_s, s.election_timeout_s * 2.5),
            # A voter whose peers were not listening yet (they start a moment later) or
            # were cut off tries again within an election timeout, not pysyncobj's 5 s:
            # a cluster elects a leader, and a healed voter catches up, that much sooner.
            connectionRetryTime=s.election_timeout_s,
            logCompactionMinEntries=5000, logCompactionMinTime=300,
        )
        self._machine = _Machine(self._applied_in_raft, self._restored_in_raft)
        others = [v for v in s.voters if v != s.self_address]
        self_node = s.self_address if s.votes else None  # read-only: applies, never votes
        self._sync = SyncObj(self_node, others, conf, consumers=[self._machine])
        self._majority_at = time.monotonic()
        log.info("metadata log at %s (%s), voters %s", s.self_address,
                 "voter" if s.votes else "learner", ", ".join(s.voters))

    def close(self) -> None:
        """Stop Raft (the journal is flushed on every append). Commands still in flight
        end now as "outcome unknown" (they may have committed): a caller, or a barrier
        the node's requests share, must not wait its whole deadline on a closed log."""
        if self._sync is not None:
            self._sync.destroy_synchronous()  # its thread gone, the journal closed
            self._sync = None
        for future in list(self._in_flight):
            _resolve(future, None, LOG_CLOSED)

    def inherit_freshness(self, previous: "MetadataLog") -> None:
        """This log replaces ``previous`` on the same cluster (a learner promoted to
        voter, a removed voter following as a learner), over the same applied copy:
        what the copy was confirmed to hold stays confirmed. Without this, a node just
        promoted refuses tenant calls until its new member has caught up and taken a
        barrier (seconds on a loaded host), though its copy lost nothing."""
        self._fresh_at = max(self._fresh_at, previous._fresh_at)

    # -- pysyncobj's thread -> the event loop ---------------------------------

    def _applied_in_raft(self, applied: Applied) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._applied, applied)

    def _applied(self, applied: Applied) -> None:
        self.applied_seq = applied.seq
        self._on_applied(applied)

    def _restored_in_raft(self, items: list[Item]) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._on_restored, items)

    # -- commands -------------------------------------------------------------

    def has_majority(self) -> bool:
        """Whether this node now sees a leader and a majority of the voters."""
        sync = self._sync
        return sync is not None and sync._getLeader() is not None and bool(sync.hasQuorum)

    def _why_not(self) -> str:
        sync = self._sync
        if sync is None:
            return "the metadata log is not running"
        if sync._getLeader() is None:
            return "no leader elected (fewer than a majority of the voters reachable)"
        return "fewer than a majority of the voters reachable from this node"

    async def submit(self, command: dict[str, Any], timeout: float) -> dict[str, Any]:
        """Commit ``command`` and return its result (its error raised here).

        Unavailable: never handed to Raft; Timeout: handed over, not known to have
        committed by the deadline. A copy refused or lost to a leader change is sent
        again until the deadline: one never taken is safe to send, and one that may
        have committed carries an id, which the state machine applies once (answering
        a second copy with the first one's result). A barrier changes nothing and needs
        no id. So an election costs the caller a moment, not an "outcome unknown"."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max(timeout, 0.0)
        if command.get("op") != "barrier":
            command = {**command, "id": uuid.uuid4().hex}
        payload = json.dumps(command)
        maybe_sent = False  # a copy went to a leader that may have committed it
        while True:
            await self._await_majority(command, deadline, maybe_sent)
            result, error = await self._commit(command, payload, deadline)
            if error == FAIL_REASON.SUCCESS:
                break
            maybe_sent = maybe_sent or error not in _NOT_SENT
            if loop.time() + RESEND_PAUSE_S >= deadline:
                if maybe_sent:
                    self.commands["timeout"] += 1
                    raise Timeout(f"metadata command {command.get('op')}: outcome unknown "
                                  f"(the leader changed, reason {error})")
                self.commands["unavailable"] += 1
                raise Unavailable(f"no metadata majority: {_NOT_SENT[error]}")
            self.commands["resent"] += 1
            await asyncio.sleep(RESEND_PAUSE_S)
        if result.get("error"):
            self.commands["refused"] += 1
        else:
            self.commands["committed"] += 1
        return raise_for(result)

    async def _await_majority(self, command: dict[str, Any], deadline: float,
                              maybe_sent: bool) -> None:
        """Wait until this node sees a leader and a majority (an election ends within
        the longest election timeout: waiting beyond a few only delays the answer a
        minority must give anyway)."""
        loop = asyncio.get_running_loop()
        patience = loop.time() + max(1.0, 5 * self.settings.election_timeout_s)
        while not self.has_majority():
            if loop.time() + 0.05 >= min(deadline, patience):
                if maybe_sent:
                    self.commands["timeout"] += 1
                    raise Timeout(f"metadata command {command.get('op')}: outcome unknown "
                                  f"(its leader was lost, and {self._why_not()})")
                self.commands["unavailable"] += 1
                raise Unavailable(f"no metadata majority: {self._why_not()}")
            await asyncio.sleep(0.05)

    async def _commit(self, command: dict[str, Any], payload: str,
                      deadline: float) -> tuple[Any, int]:
        """Hand one copy of the command to Raft: its result and pysyncobj's outcome."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[tuple[Any, int]] = loop.create_future()

        def done(result: Any, error: int) -> None:  # pysyncobj's thread
            loop.call_soon_threadsafe(_resolve, future, result, error)

        assert self._machine is not None
        self._in_flight.add(future)
        self._machine.apply(payload, callback=done)
        try:
            result, error = await asyncio.wait_for(asyncio.shield(future),
                                                   max(deadline - loop.time(), 0.01))
        except asyncio.TimeoutError:
            self.commands["timeout"] += 1
            raise Timeout(f"metadata command {command.get('op')} was sent but not committed "
                          f"in time; it may still take effect") from None
        finally:
            self._in_flight.discard(future)
        if error == LOG_CLOSED:
            self.commands["timeout"] += 1
            raise Timeout(f"metadata command {command.get('op')}: outcome unknown (this node "
                          f"restarted its metadata member while the command was in flight)")
        return result, error

    def voters(self) -> list[str]:
        """The voters as the log now has them (removals applied)."""
        sync = self._sync
        if sync is None:
            return list(self.settings.voters)
        own = [sync.selfNode.id] if sync.selfNode is not None else []
        return sorted(own + [node.id for node in sync.otherNodes])

    async def add_voter(self, address: str, timeout: float) -> None:
        """Make ``address`` a voter through the log (one change at a time). Its node must
        already run its member as a voter: the change commits once a majority of the new
        voter set, that node included, holds it."""
        if address not in self.voters():
            await self._change_voters("add", address, timeout)

    async def remove_voter(self, address: str, timeout: float) -> None:
        """Take ``address`` out of the voters through the log (its node left the cluster),
        so that the remaining voters make a majority among themselves."""
        if address in self.voters():
            await self._change_voters("remove", address, timeout)

    async def _change_voters(self, verb: str, address: str, timeout: float) -> None:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[tuple[Any, int]] = loop.create_future()

        def done(result: Any, error: int) -> None:  # pysyncobj's thread
            loop.call_soon_threadsafe(_resolve, future, result, error)

        assert self._sync is not None
        change = (self._sync.addNodeToCluster if verb == "add"
                  else self._sync.removeNodeFromCluster)
        change(address, callback=done)
        try:
            _, error = await asyncio.wait_for(future, timeout)
        except asyncio.TimeoutError:
            raise Timeout(f"{verb} metadata voter {address}: not committed within "
                          f"{timeout:.1f}s") from None
        if error != FAIL_REASON.SUCCESS:
            raise Unavailable(f"no metadata majority: {verb} voter {address} failed "
                              f"(reason {error})")
        log.info("metadata voter %s: %s", address, "added" if verb == "add" else "removed")

    def step_down(self) -> None:
        """Hand the leadership to the most caught-up voter (this node left the cluster:
        a leader cannot commit its own removal). Best effort; no-op unless leader."""
        sync = self._sync
        if sync is not None and sync._isLeader():
            sync.transferLeadership()

    async def barrier(self, timeout: float) -> None:
        """Return once this node has applied everything committed before the call:
        what an admin reads afterwards is linearizable. A barrier lost to a leader
        change is committed again (``submit``): an election must not fail an admin
        read, a membership resume or a data-plane catch-up."""
        started = time.monotonic()
        await self.submit({"op": "barrier"}, timeout)
        self._fresh_at = max(self._fresh_at, started)

    # -- health -----------------------------------------------------------------

    def note_majority(self) -> None:
        """Sampled by the node a few times a second: when a majority was last seen."""
        if self.has_majority():
            self._majority_at = time.monotonic()

    def seconds_since_majority(self) -> float:
        """How long this node has been cut off from a majority (0 while in contact)."""
        return 0.0 if self.has_majority() else time.monotonic() - self._majority_at

    def seconds_since_fresh(self) -> float:
        """How long ago the newest completed barrier started (inf: none yet): this node's
        metadata holds at least everything committed up to that long ago."""
        return time.monotonic() - self._fresh_at

    def stale(self) -> bool:
        """Whether this node's metadata may be older than ``max_staleness_s`` allows.

        Contact with a majority is no proof: a follower paused (or starved) while a token
        was revoked still sees a leader when it resumes, and applies the revoke only once
        the leader's next entries reach it. A completed barrier is proof (everything
        committed before it started has been applied here), and the node takes one at
        least every ``freshness_period_s``."""
        limit = self.settings.max_staleness_s
        return limit > 0 and self.seconds_since_fresh() > limit

    def may_freshen(self) -> bool:
        """Whether a barrier is worth waiting for to make this node fresh: a majority is
        in reach, or the node has not been fresh since it started (its log is still
        electing a leader). A node cut off after having been fresh refuses at once."""
        return self.has_majority() or self._fresh_at == -math.inf

    @property
    def freshness_period_s(self) -> float:
        """How often a barrier renews this node's freshness: a quarter of the bound (so
        a slow barrier or two do not make it stale), at most ``MAX_FRESHNESS_PERIOD_S``.
        The period does not loosen the bound: a node serves only while its newest
        barrier started within ``max_staleness_s``, however long ago the one before."""
        return min(MAX_FRESHNESS_PERIOD_S, self.settings.max_staleness_s / 4)

    def status(self) -> dict[str, Any]:
        """Role (leader, follower, learner, stopped), leader, term and indexes of this
        node's log, with its contact with a majority: the fields of MetadataStatus."""
        sync = self._sync
        leader = sync._getLeader() if sync is not None else None
        role = ("stopped" if sync is None else "leader" if sync._isLeader() else
                "follower" if sync.selfNode is not None and sync.selfNode.id in self.voters()
                else "learner")
        return {"role": role, "leader": leader.id if leader is not None else "",
                "term": int(sync.raftCurrentTerm) if sync else 0,
                "commit_index": int(sync.raftCommitIndex) if sync else 0,
                "applied_index": int(sync.raftLastApplied) if sync else 0,
                "has_majority": self.has_majority(), "stale": self.stale(),
                "seconds_since_majority": self.seconds_since_majority(),
                "voters": self.voters()}


def _resolve(future: "asyncio.Future[tuple[Any, int]]", result: Any, error: int) -> None:
    if not future.done():
        future.set_result((result, error))
