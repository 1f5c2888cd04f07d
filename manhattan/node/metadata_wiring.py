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
from manhattan.metadata.log import MAX_VOTERS
from manhattan.errors import InvalidRequest
from manhattan.node.config import ConfigError, NodeConfig
from manhattan.proto.v1 import admin_pb2
from manhattan.tenancy import VersionedItems
from manhattan.tenancy.tokens import ADMIN, TokenRecord

log = logging.getLogger("manhattan.metadata")

APPLIED_PREFIX = b"metadata/applied/"
_IMPORTED_KEY = b"metadata/imported"
_JOINED_KEY = b"metadata/joined"  # the voters a node added to a cluster follows
MEMBER_PORT_OFFSET = 1000
CATCH_UP_EVERY_S = 1.0


def _derived(address: str) -> str:
    host, _, port = address.rpartition(":")
    return f"{host}:{int(port) + MEMBER_PORT_OFFSET}"


def log_settings(config: NodeConfig, joined: list[str] | None = None) -> LogSettings:
    """Where this node's log lives, and the voters, from the node configuration (or,
    for a node added to a cluster, the voters it was told to follow)."""
    md = config.metadata
    members = sorted(config.cluster.members, key=lambda m: m.id)
    directory = md.dir or config.node.data_dir / "metadata"
    secret = config.node.admin_token or "manhattan-single-node"
    timing = dict(max_staleness_s=md.max_staleness_s, election_timeout_s=md.election_timeout_s,
                  connection_timeout_s=md.connection_timeout_s)
    if joined:
        return LogSettings("learner", tuple(joined), Path(directory), secret, **timing)
    if not members:  # a node alone commits alone
        host = config.node.listen.rpartition(":")[0]
        own = md.listen or f"{host}:0"
        return LogSettings(own, (own,), Path(directory), secret, **timing)
    addresses = {m.id: m.metadata_address or _derived(m.address) for m in members}
    voter_ids = md.voters or [m.id for m in members][:MAX_VOTERS]
    unknown = set(voter_ids) - set(addresses)
    if unknown:
        raise ConfigError(f"metadata.voters: {sorted(unknown)} are not among cluster.members")
    own = md.listen or addresses.get(config.node.id) or _derived(config.advertise_address)
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
        joined = meta_store.meta_get(_JOINED_KEY)
        self.log = self._new_log(log_settings(config, json.loads(joined) if joined else None))
        self._tasks: list[asyncio.Task[None]] = []
        self._catching_up: asyncio.Future[None] | None = None
        self._caught_up_at = -CATCH_UP_EVERY_S
        # Told when staleness starts and ends (health: the Data service NOT_SERVING).
        self.on_stale: Callable[[bool], Awaitable[None]] | None = None

    def _changed(self) -> None:
        """Applied metadata changed: rebuild the views; adopt a new topology."""
        self._on_change()
        raw = dict(self.items.live("topology/")).get("current")
        if raw is not None and raw != self._topology:
            self._topology = raw
            self._on_topology(raw)

    async def retire_voters(self, node_ids: list[int]) -> None:
        """Nodes that left the topology stop voting (by their configured endpoints)."""
        settings = self.log.settings
        addresses = dict(zip(settings.voter_ids, settings.voters))
        for node_id in node_ids:
            if node_id in addresses:
                await self.log.remove_voter(addresses[node_id], self.command_timeout)

    async def commit_topology(self, command: dict[str, Any]) -> dict[str, Any]:
        """A membership-change command through the log; applied here when it returns."""
        return await self.log.submit(command, self.command_timeout)

    def _new_log(self, settings: LogSettings) -> MetadataLog:
        return MetadataLog(settings, on_applied=self.mirror.applied,
                           on_restored=self.mirror.restored)

    async def join(self, voters: list[str]) -> None:
        """Follow another cluster's log as a learner (a node being added to it). Only a
        node without metadata of its own may: nothing of it would survive the switch."""
        if not voters or len(voters) > 2 * MAX_VOTERS:
            raise InvalidRequest(f"voters must list 1 to {2 * MAX_VOTERS} endpoints")
        for voter in voters:
            host, sep, port = voter.rpartition(":")
            if not host or not sep or not port.isdigit() or not 0 < int(port) < 65536:
                raise InvalidRequest(f"voter {voter!r} is not host:port")
        current = self.log.settings
        if set(voters) == set(current.voters):
            await self.caught_up()
            return
        if current.votes and len(current.voters) > 1:
            raise InvalidRequest("this node votes in a metadata log of its own cluster; "
                                 "only a node started on its own can join another")
        if any(not item.deleted for item in self.items.snapshot()):
            raise InvalidRequest("this node holds metadata of its own (tenants, tokens or "
                                 "datasets); join a cluster only with a fresh node")
        self.log.close()
        aside = current.directory.with_name(f"{current.directory.name}.standalone-"
                                            f"{int(time.time() * 1000)}")
        if current.directory.exists():
            current.directory.rename(aside)
        self._meta_store.meta_put(_JOINED_KEY, json.dumps(sorted(voters)).encode())
        self.log = self._new_log(log_settings(self.config, sorted(voters)))
        self.log.start()
        log.info("following the metadata log of %s as a learner", ", ".join(voters))
        await self.caught_up()

    async def caught_up(self, timeout: float = 10.0) -> None:
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
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self.log.close()

    async def _watch(self) -> None:
        was_stale = False
        while True:
            self.log.note_majority()
            stale = self.log.stale()
            if stale != was_stale:
                was_stale = stale
                log.warning("metadata %s", self.stale_reason() if stale else
                            "fresh again: a metadata majority is reachable")
                if self.on_stale is not None:
                    await self.on_stale(stale)
            await asyncio.sleep(0.1)

    async def _import(self, legacy: VersionedItems) -> None:
        """A data dir of the gossip version holds the catalog as LWW items: offer them to
        the log until one command commits (the log takes them only while it is empty)."""
        items = [(i.key, i.value.decode("latin-1")) for i in legacy.snapshot()
                 if not i.deleted and not _is_admin_token(i.key, i.value)
                 and i.key.startswith(("tenant/", "dataset/", "token/", "limits/"))]
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

    def stale_reason(self) -> str:
        """Why tenant calls are refused now ("" = they are not)."""
        if not self.log.stale():
            return ""
        return (f"metadata stale: no contact with a metadata majority for "
                f"{self.log.seconds_since_majority():.0f}s (metadata.max_staleness_s = "
                f"{self.config.metadata.max_staleness_s:g})")

    async def catch_up(self) -> bool:
        """Asked for a dataset this node has not applied: wait for the log (one barrier,
        shared by concurrent callers, at most one a second, so requests naming what does
        not exist cannot flood the log). False: none may start now, or it failed."""
        if self._catching_up is None:
            if time.monotonic() - self._caught_up_at < CATCH_UP_EVERY_S:
                return False
            self._caught_up_at = time.monotonic()
            self._catching_up = asyncio.ensure_future(self.log.barrier(1.0))
            self._catching_up.add_done_callback(self._caught_up)
        try:
            await asyncio.shield(self._catching_up)
        except Exception:
            return False
        return True

    def _caught_up(self, barrier: "asyncio.Future[None]") -> None:
        self._catching_up = None
        if not barrier.cancelled():
            barrier.exception()  # retrieved: a failed barrier only means NotFound

    def info(self) -> dict[str, Any]:
        """Status fields for NodeInfo and metrics."""
        return {"metadata": admin_pb2.MetadataStatus(
            **self.log.status(), applied_commands=self.mirror.applied_seq, enabled=True)}


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


def _is_admin_token(key: str, value: bytes) -> bool:
    if not key.startswith("token/"):
        return False
    try:
        return TokenRecord.from_json(value).tenant == ADMIN
    except ValueError:
        return True  # unreadable: not worth importing
