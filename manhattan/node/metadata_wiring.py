"""The node's part of the metadata log: settings from the config, the applied copy,
staleness, the one-time import of a gossip-era catalog, and status for NodeInfo."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from manhattan.metadata import LogSettings, MetadataLog, Mirror
from manhattan.metadata.log import MAX_VOTERS, raft_address
from manhattan.errors import InvalidRequest, Timeout, Unavailable
from manhattan.node.config import ConfigError, NodeConfig
from manhattan.node.removal_probe import PeerView
from manhattan.proto.v1 import admin_pb2
from manhattan.tenancy import Item, VersionedItems
from manhattan.tenancy.tokens import ADMIN, TokenRecord

log = logging.getLogger("manhattan.metadata")

APPLIED_PREFIX = b"metadata/applied/"
_IMPORTED_KEY = b"metadata/imported"
_JOINED_KEY = b"metadata/joined"  # the voters a node added to a cluster follows
CATCH_UP_TIMEOUT_S = 5.0  # one catch-up barrier (callers wait at most their deadline)
# How long a node being added may take to catch up on the whole log (a driver's
# JoinMetadata call waits that long: a learner of a long log on a loaded host took 11 s).
CATCH_UP_S = 60.0


REMOVAL_CHECK_TICKS = 50  # x 0.1 s: a voter without a majority asks its peers this often
PROMOTION_TIMEOUT_S = 30.0  # a fresh voter catches up on the whole log before it counts


def own_raft_address(config: NodeConfig) -> str:
    """Where this node's member listens once it votes in a cluster it was added to."""
    return config.metadata.listen or raft_address(config.advertise_address)


def log_settings(config: NodeConfig, joined: list[str] | None = None) -> LogSettings:
    """Where this node's log lives, and the voters, from the node configuration (or,
    for a node added to a cluster, the voters it was told to follow)."""
    md = config.metadata
    members = sorted(config.cluster.members, key=lambda m: m.id)
    directory = md.dir or config.node.data_dir / "metadata"
    secret = config.node.admin_token or "manhattan-single-node"
    timing = dict(max_staleness_s=md.max_staleness_s, election_timeout_s=md.election_timeout_s,
                  connection_timeout_s=md.connection_timeout_s)
    if joined:  # added to a cluster: a learner until the log makes it a voter
        own = own_raft_address(config)
        return LogSettings(own if own in joined else "learner", tuple(joined),
                           Path(directory), secret, **timing)
    if not members:  # a node alone commits alone
        host = config.node.listen.rpartition(":")[0]
        own = md.listen or f"{host}:0"
        return LogSettings(own, (own,), Path(directory), secret, **timing)
    addresses = {m.id: m.metadata_address or raft_address(m.address) for m in members}
    voter_ids = md.voters or [m.id for m in members][:MAX_VOTERS]
    unknown = set(voter_ids) - set(addresses)
    if unknown:
        raise ConfigError(f"metadata.voters: {sorted(unknown)} are not among cluster.members")
    own = md.listen or addresses.get(config.node.id) or raft_address(config.advertise_address)
    return LogSettings(own, tuple(addresses[i] for i in voter_ids), Path(directory), secret,
                       voter_ids=tuple(voter_ids), **timing)


class NodeMetadata:
    """Owns this node's log member and the applied copy the views read."""

    def __init__(self, config: NodeConfig, meta_store, on_change: Callable[[], None],
                 on_topology: Callable[[bytes], None]) -> None:
        self.config = config
        self._meta_store = meta_store
        self._on_change = on_change
        self._on_topology = on_topology
        self._topology: bytes | None = None
        self.items = VersionedItems(meta_store, prefix=APPLIED_PREFIX)
        self.mirror = Mirror(self.items, self._changed)
        if meta_store.meta_get(_IMPORTED_KEY) is None and not self.items.snapshot():
            # First start on a gossip-era data dir: serve its catalog (and keep its
            # datasets' storage) until the log's import lands; version 0 yields to it.
            self.items.merge([Item(i.key, i.value, 0) for i in _importable(
                VersionedItems(meta_store).snapshot())])
        joined = meta_store.meta_get(_JOINED_KEY)
        self.log = self._new_log(log_settings(config, json.loads(joined) if joined else None))
        self._tasks: list[asyncio.Task[None]] = []
        # The catch-up barrier in flight, and the one that follows it (shared by every
        # request that arrived while the one in flight had already started).
        self._catching_up: asyncio.Future[None] | None = None
        self._next_catch_up: asyncio.Future[None] | None = None
        self._left = False  # the applied topology no longer names this node
        # Told when staleness starts and ends (health: the Data service NOT_SERVING).
        self.on_stale: Callable[[bool], Awaitable[None]] | None = None
        # Asks the peers whether the cluster removed this node (set by the node).
        self.ask_peers: Callable[[], Awaitable[PeerView | None]] | None = None
        self._probe: asyncio.Task[None] | None = None  # the ask in flight
        self._freshness: asyncio.Task[None] | None = None  # the barrier in flight

    def _changed(self) -> None:
        """Applied metadata changed: rebuild the views; adopt a new topology."""
        self._on_change()
        raw = dict(self.items.live("topology/")).get("current")
        if raw is not None and raw != self._topology:
            self._topology = raw
            self._on_topology(raw)
            self._left = self.config.node.id not in {int(m["id"])
                                                     for m in json.loads(raw)["members"]}
            if self._left:
                self.log.step_down()  # out of the cluster: let another voter remove us

    def _voter_endpoints(self) -> dict[int, str]:
        """Voters' Raft endpoints by node id: the configured ones, then those the log
        recorded when it promoted a node (a promoted node has no configured ones)."""
        settings = self.log.settings
        known = dict(zip(settings.voter_ids, settings.voters))
        raw = dict(self.items.live("topology/")).get("voters")
        known.update({int(i): a for i, a in json.loads(raw).items()} if raw else {})
        return known

    def _voter_address(self, node_id: int, address: str) -> str:
        return self._voter_endpoints().get(node_id) or raft_address(address)

    def wants_voter(self, members: int, leaving: list[tuple[int, str]]) -> bool:
        """Whether the voters, without those of the ``leaving`` members, are fewer than
        the target (the configured voters, or every member up to five)."""
        gone = {self._voter_address(i, a) for i, a in leaving}
        target = min(len(self.config.metadata.voters) or MAX_VOTERS, members)
        return len(set(self.log.voters()) - gone) < target

    async def add_voter(self, node_id: int, address: str) -> None:
        """Make a promoted node's member a voter, and record its endpoint in the log
        (which commits the addition before it)."""
        endpoints = {str(i): a for i, a in {**self._voter_endpoints(), node_id: address}.items()}

        async def step(remaining: float) -> bool:
            await self.log.add_voter(address, remaining)
            await self.log.submit({"op": "voter_endpoints", "endpoints": endpoints}, remaining)
            return address in self.log.voters()

        await _retrying(step)

    async def retire_voters(self, members: list[tuple[int, str]]) -> None:
        """Members that left the topology stop voting (by their Raft endpoints)."""
        for node_id, address in members:
            endpoint = self._voter_address(node_id, address)

            async def step(remaining: float, endpoint: str = endpoint) -> bool:
                await self.log.remove_voter(endpoint, remaining)
                await self.log.barrier(remaining)
                return endpoint not in self.log.voters()

            await _retrying(step)

    def pending_voters(self) -> dict[str, Any] | None:
        """The voter change the log records after a switch, until a driver settles it
        ({"change", "joined": [ids], "leaving": [{"id", "address"}]}); None: none."""
        raw = dict(self.items.live("topology/")).get("current")
        return json.loads(raw).get("voters_pending") if raw is not None else None

    async def commit_topology(self, command: dict[str, Any]) -> dict[str, Any]:
        """A membership-change command through the log; applied here when it returns."""
        return await self.log.submit(command, self.command_timeout)

    def _new_log(self, settings: LogSettings) -> MetadataLog:
        return MetadataLog(settings, on_applied=self.mirror.applied,
                           on_restored=self.mirror.restored)

    async def join(self, voters: list[str], timeout: float = CATCH_UP_S) -> None:
        """Follow another cluster's log as a learner (a node being added to it), or, once
        a learner of it, vote in it (``voters`` lists this node's own Raft endpoint). Only
        a node without metadata of its own may join: nothing of it would survive. A
        learner answers once caught up, within ``timeout``; asked again, it waits again."""
        if not voters or len(voters) > 2 * MAX_VOTERS:
            raise InvalidRequest(f"voters must list 1 to {2 * MAX_VOTERS} endpoints")
        for voter in voters:
            host, sep, port = voter.rpartition(":")
            if not host or not sep or not port.isdigit() or not 0 < int(port) < 65536:
                raise InvalidRequest(f"voter {voter!r} is not host:port")
        current = self.log.settings
        promote = own_raft_address(self.config) in voters
        if set(voters) == set(current.voters) or (promote and current.votes):
            if not (promote and current.votes):
                await self.caught_up(timeout)
            # Told again to vote (a driver resuming a change whose first driver died
            # after promoting this node): this member waits for the log to add it, so
            # it cannot catch up before the driver commits that.
            return
        if promote and self._meta_store.meta_get(_JOINED_KEY) is None:
            raise InvalidRequest("only a node that follows the cluster's metadata log as a "
                                 "learner can become one of its voters")
        if not promote:
            if current.votes and len(current.voters) > 1:
                raise InvalidRequest("this node votes in a metadata log of its own cluster; "
                                     "only a node started on its own can join another")
            if any(not item.deleted for item in self.items.snapshot()):
                raise InvalidRequest("this node holds metadata of its own (tenants, tokens "
                                     "or datasets); join a cluster only with a fresh node")
        self._restart_log(voters, "learner" if promote else "standalone")
        if promote:  # counted once the log adds it: the driver commits that next
            log.info("voting in the metadata log of %s", ", ".join(voters))
            return
        log.info("following the metadata log of %s as a learner", ", ".join(voters))
        await self.caught_up(timeout)

    def _restart_log(self, voters: list[str], kind: str) -> None:
        """Follow (or vote in) the log of ``voters`` with a fresh journal: a member
        catches up from the leader (the applied copy is kept; replaying the log onto it
        is a no-op). The old journal is moved aside as ``metadata.<kind>-<ms>``. A promoted
        learner or a removed voter keeps its copy's freshness (the same cluster's log); a
        node joining another cluster starts unconfirmed."""
        current = self.log.settings
        self.log.close()
        aside = current.directory.with_name(f"{current.directory.name}.{kind}-"
                                            f"{int(time.time() * 1000)}")
        if current.directory.exists():
            current.directory.rename(aside)
        self._meta_store.meta_put(_JOINED_KEY, json.dumps(sorted(voters)).encode())
        previous, self.log = self.log, self._new_log(log_settings(self.config, sorted(voters)))
        if kind != "standalone":  # the same cluster's log: the copy's freshness holds
            self.log.inherit_freshness(previous)
        self.log.start()

    async def _follow_if_removed(self) -> None:
        """A voter that cannot reach a majority asks its peers whether the cluster removed
        it while it was away (see ``node.removal_probe``); if so it follows the log as a
        learner, applies its removal, and the node then drops the data it no longer owns."""
        if self.ask_peers is None or not self.log.settings.votes or self.log.has_majority():
            return
        try:
            view = await self.ask_peers()
        except Exception as exc:  # asked again at the next check
            log.warning("could not ask the peers about this node's membership: %s", exc)
            return
        if (view is None or view.names_me or self.log.settings.self_address in view.voters
                or not self.log.settings.votes or self.log.has_majority()):
            return  # (the last two: things changed while it asked)
        log.warning("this node was removed from the cluster while it was away (the voters "
                    "are %s): following the metadata log as a learner to apply its removal",
                    ", ".join(view.voters))
        self._restart_log(view.voters, "removed")

    async def caught_up(self, timeout: float) -> None:
        """Return once this node has applied everything committed so far: a node being
        added must know every dataset before it plans what to pull."""
        await self.log.barrier(timeout)

    @property
    def command_timeout(self) -> float:
        """The deadline of an admin call that brought none."""
        return self.config.metadata.command_timeout_s

    def start(self, legacy: VersionedItems) -> None:
        """Join the log; offer a gossip-era catalog once; sample contact with a majority."""
        self._changed()  # the topology this node last applied, before the log replays
        self.log.start()
        self._tasks.append(asyncio.create_task(self._watch(), name="metadata-watch"))
        if self._meta_store.meta_get(_IMPORTED_KEY) is None:
            self._tasks.append(asyncio.create_task(self._import(legacy), name="metadata-import"))

    async def stop(self) -> None:
        """Stop the background work and Raft."""
        tasks = [*self._tasks, *(t for t in (self._probe, self._freshness) if t is not None)]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self.log.close()

    async def _watch(self) -> None:
        was_stale = False
        tick = 0
        while True:
            tick += 1
            if self._left and tick % 10 == 0:
                # A leader cannot commit its own removal, and a handover is refused while
                # no follower has the leader's last entry: ask again (once a second) until
                # another voter leads and removes this one. A no-op unless leader.
                self.log.step_down()
            if tick % REMOVAL_CHECK_TICKS == 0 and (self._probe is None or self._probe.done()):
                # its own task: asking unreachable peers must not delay the staleness
                # checks of this loop
                self._probe = asyncio.create_task(self._follow_if_removed(),
                                                  name="metadata-removal-probe")
            self.log.note_majority()
            if (self.log.settings.max_staleness_s > 0
                    and self.log.seconds_since_fresh() >= self.log.freshness_period_s
                    and (self._freshness is None or self._freshness.done())):
                # its own task: a barrier waits on the log, the checks here must not
                self._freshness = asyncio.create_task(self._renew_freshness(),
                                                      name="metadata-freshness")
            stale = self.log.stale()
            if stale != was_stale:
                was_stale = stale
                # a node that just started is stale until its first barrier: not news
                starting = self.log.seconds_since_fresh() == float("inf")
                log.log(logging.WARNING if stale and not starting else logging.INFO,
                        "metadata %s", self.stale_reason() if stale else
                        "fresh: this node holds the metadata log's latest commands")
                if self.on_stale is not None:
                    await self.on_stale(stale)
            await asyncio.sleep(0.1)

    async def _import(self, legacy: VersionedItems) -> None:
        """A data dir of the gossip version holds the catalog as LWW items: offer them to
        the log until one command commits (the log takes them only while it is empty)."""
        items = [(i.key, i.value.decode("latin-1")) for i in _importable(legacy.snapshot())]
        if items:
            while True:
                try:
                    result = await self.log.submit({"op": "import", "items": items}, 10.0)
                    log.info("imported %s catalog items of the previous version into the "
                             "metadata log", result.get("imported"))
                    break
                except Exception as exc:  # no majority yet: keep offering
                    log.info("catalog import waits for the metadata log: %s", exc)
                    await asyncio.sleep(1.0)
        self._meta_store.meta_put(_IMPORTED_KEY, b"1")

    async def _renew_freshness(self) -> None:
        """One barrier, shared with the requests' catch-ups (``catch_up``): once it
        completes, this node is known to hold every metadata command committed before
        it started (``MetadataLog.stale``)."""
        try:
            await self.catch_up()
        except Unavailable as exc:  # no majority, or slow: staleness grows, and says why
            log.debug("metadata freshness barrier failed: %s", exc)

    def stale_reason(self) -> str:
        """Why tenant calls are refused now ("" = they are not)."""
        if not self.log.stale():
            return ""
        since = self.log.seconds_since_fresh()
        shown = "ever since it started" if since == float("inf") else f"for {since:.0f}s"
        return (f"metadata stale: this node has not confirmed it holds the metadata log's "
                f"latest commands {shown} (metadata majority "
                f"{'reachable' if self.log.has_majority() else 'unreachable'}; "
                f"metadata.max_staleness_s = {self.config.metadata.max_staleness_s:g})")

    async def catch_up(self) -> bool:
        """Asked for a dataset this node has not applied: wait until it has applied what
        the leader had committed when the request arrived (a barrier through the log).

        Coalesced: at most one barrier is in flight. A request that finds none starts
        one; a request that finds one in flight (it started before the request came, so
        it may not cover what the request needs) waits for the next one, which every
        such request shares and which starts when the one in flight ends. Requests naming
        what does not exist thus cannot flood the log. The caller bounds the wait by its
        deadline (cancelling this leaves the shared barrier running).

        A failed barrier raises Unavailable: not having applied a name is no proof that it
        does not exist, so the caller must not answer NotFound (which nobody retries)."""
        try:
            await asyncio.shield(self._catch_up_barrier())
        except Exception as exc:
            raise Unavailable(f"this node has not applied that name yet and could not reach "
                              f"the metadata log to check ({exc}); ask again") from exc
        return True

    def _catch_up_barrier(self) -> "asyncio.Future[None]":
        if self._next_catch_up is not None:  # queued behind the one in flight: share it
            return self._next_catch_up
        if self._catching_up is None:
            self._catching_up = self._watched(asyncio.ensure_future(
                self.log.barrier(CATCH_UP_TIMEOUT_S)))
            return self._catching_up
        self._next_catch_up = self._watched(asyncio.ensure_future(
            self._barrier_after(self._catching_up)))
        return self._next_catch_up

    async def _barrier_after(self, previous: "asyncio.Future[None]") -> None:
        await asyncio.wait([previous])  # never raises: its outcome is not ours
        # Starting now: this one is in flight, and later requests queue behind it.
        self._catching_up, self._next_catch_up = self._next_catch_up, None
        await self.log.barrier(CATCH_UP_TIMEOUT_S)

    def _watched(self, barrier: "asyncio.Future[None]") -> "asyncio.Future[None]":
        barrier.add_done_callback(self._caught_up)
        return barrier

    def _caught_up(self, barrier: "asyncio.Future[None]") -> None:
        if self._catching_up is barrier:
            self._catching_up = None
        if self._next_catch_up is barrier:  # cancelled before it started
            self._next_catch_up = None
        if not barrier.cancelled():
            barrier.exception()  # retrieved: a failed barrier only means NotFound

    def info(self) -> dict[str, Any]:
        """Status fields for NodeInfo and metrics."""
        pending = self.pending_voters()
        return {"metadata": admin_pb2.MetadataStatus(
            **self.log.status(), applied_commands=self.mirror.applied_seq, enabled=True,
            voters_pending_change=pending["change"] if pending else 0)}


class MetadataCollector:
    """Prometheus families for the metadata log, read at scrape time."""

    def __init__(self, metadata: NodeMetadata) -> None:
        self._metadata = metadata

    def describe(self) -> Iterable[Metric]:
        return []

    def collect(self) -> Iterable[Metric]:
        log_ = self._metadata.log
        status = log_.status()
        families: list[Metric] = [
            GaugeMetricFamily(f"manhattan_metadata_{name}", text, value=float(status[name]))
            for name, text in (
                ("commit_index", "Raft commit index this node knows."),
                ("applied_index", "Raft log index this node has applied."),
                ("has_majority", "1 while this node sees a metadata leader and majority."),
                ("stale", "1 while tenant calls are refused (cut off > max_staleness_s)."),
                ("seconds_since_majority", "Seconds since this node last saw a majority."),
                ("term", "Raft term."))]
        commands = CounterMetricFamily("manhattan_metadata_commands",
                                       "Metadata commands submitted through this node, by "
                                       "outcome.", labels=["outcome"])
        for outcome, count in sorted(log_.commands.items()):
            commands.add_metric([outcome], count)
        return [*families, commands]


async def _retrying(step: Callable[[float], Awaitable[bool]]) -> None:
    """Run a voter change until it reports done: pysyncobj refuses one while a new
    leader has not committed in its term or the previous change is not applied yet, and
    a newcomer's first campaign may depose the leader (each a passing refusal)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + PROMOTION_TIMEOUT_S
    while True:
        try:
            if await step(max(deadline - loop.time(), 0.1)):
                return
        except (Unavailable, Timeout):
            if loop.time() >= deadline:
                raise
        if loop.time() >= deadline:
            raise Timeout("the metadata voter change did not take effect within "
                          f"{PROMOTION_TIMEOUT_S:.0f}s")
        await asyncio.sleep(0.2)


def _importable(items: list[Item]) -> list[Item]:
    """The live catalog items of a gossip-era node worth carrying into the log."""
    return [i for i in items if not i.deleted and not _is_admin_token(i.key, i.value)
            and i.key.startswith(("tenant/", "dataset/", "token/", "limits/"))]


def _is_admin_token(key: str, value: bytes) -> bool:
    if not key.startswith("token/"):
        return False
    try:
        return TokenRecord.from_json(value).tenant == ADMIN
    except ValueError:
        return True  # unreadable: not worth importing
