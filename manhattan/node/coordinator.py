"""The request coordinator: versions writes with the HLC and applies them.

On a single node the coordinator writes to the local engine; the cluster
layer replaces the apply and read steps with replica fan-out, keeping this
surface.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from manhattan.hlc import HybridClock, physical_ms
from manhattan.storage import Entry, GroupCommit, Record, RocksEngine, ScanPage, Version, Write
from manhattan.tenancy import DatasetSpec
from manhattan.types import Consistency, Durability


@dataclass(frozen=True, slots=True)
class Mutation:
    """A client's put (or delete) before the coordinator versions it."""

    pkey: bytes
    lkey: bytes
    value: bytes = b""
    ttl_ms: int = 0
    delete: bool = False


class LocalCoordinator:
    """Coordinates requests against this node's engine alone."""

    def __init__(
        self, engine: RocksEngine, clock: HybridClock, node_id: int, group_commit: GroupCommit
    ) -> None:
        self.engine = engine
        self.clock = clock
        self.node_id = node_id
        self.group_commit = group_commit

    def _version(self, spec: DatasetSpec, mutation: Mutation) -> Write:
        timestamp = self.clock.now()
        ttl = mutation.ttl_ms or spec.default_ttl_ms
        expires = physical_ms(timestamp) + ttl if ttl and not mutation.delete else 0
        entry = Entry(Version(timestamp, self.node_id), b"" if mutation.delete else mutation.value,
                      expires, mutation.delete)
        return Write(mutation.pkey, mutation.lkey, entry)

    async def write(
        self,
        spec: DatasetSpec,
        mutations: Sequence[Mutation],
        durability: Durability = Durability.DEFAULT,
        consistency: Consistency = Consistency.DEFAULT,
    ) -> list[Version]:
        """Version and apply mutations atomically; wait for fsync when durable."""
        writes = [self._version(spec, m) for m in mutations]
        if writes:
            self.engine.apply(spec.name, writes)
            if (durability or spec.durability) == Durability.SYNC:
                await self.group_commit.durable()
        return [w.entry.version for w in writes]

    async def read(
        self, spec: DatasetSpec, pkey: bytes, lkey: bytes,
        consistency: Consistency = Consistency.DEFAULT,
    ) -> Record | None:
        """The live record, or None."""
        return self.engine.get(spec.name, pkey, lkey)

    async def read_many(
        self, spec: DatasetSpec, keys: Sequence[tuple[bytes, bytes]],
        consistency: Consistency = Consistency.DEFAULT,
    ) -> list[Record | None]:
        """Live records in request order (None where absent)."""
        return [self.engine.get(spec.name, pkey, lkey) for pkey, lkey in keys]

    async def scan(
        self, spec: DatasetSpec, pkey: bytes, *, start: bytes | None, end: bytes | None,
        limit: int, reverse: bool, cursor: bytes | None,
        consistency: Consistency = Consistency.DEFAULT,
    ) -> ScanPage:
        """One page of a scan inside one pkey."""
        return self.engine.scan(
            spec.name, pkey, start=start, end=end, limit=limit, reverse=reverse, cursor=cursor
        )
