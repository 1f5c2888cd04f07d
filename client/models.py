"""Value types the SDK returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

from manhattan.types import Consistency, Durability


class Version(NamedTuple):
    """HLC timestamp (ms << 16 | logical) and writer node id; last writer wins."""

    timestamp: int
    writer: int


@dataclass(frozen=True, slots=True)
class Record:
    """A stored record."""

    pkey: bytes
    lkey: bytes
    value: bytes
    version: Version
    expires_at_ms: int = 0


@dataclass(frozen=True, slots=True)
class ScanPage:
    """One page of a scan; pass ``cursor`` back to continue, None at the end."""

    records: list[Record]
    cursor: bytes | None


@dataclass(frozen=True, slots=True)
class Tenant:
    """A tenant as the admin API reports it."""

    name: str
    created_at_ms: int


@dataclass(frozen=True, slots=True)
class DatasetInfo:
    """A dataset's settings."""

    name: str
    tenant: str
    replication_factor: int
    read_consistency: Consistency
    write_consistency: Consistency
    durability: Durability
    default_ttl_ms: int
    created_at_ms: int


@dataclass(frozen=True, slots=True)
class NodeInfo:
    """What a node says about itself."""

    node_id: int
    address: str
    version: str
    started_at_ms: int
    clock_ms: int
    datasets: list[str]
    approximate_keys: int
    disk_bytes: int
    topology_epoch: int = 0
    hints_pending: dict[int, int] = field(default_factory=dict)
    hints_dropped: int = 0
    hints_replayed: int = 0
    read_repairs: int = 0


@dataclass(frozen=True, slots=True)
class Put:
    """One put for ``put_many``."""

    pkey: bytes | str
    lkey: bytes | str
    value: bytes | str
    ttl: float | None = None


@dataclass(frozen=True, slots=True)
class Delete:
    """One delete for ``put_many``."""

    pkey: bytes | str
    lkey: bytes | str


@dataclass(frozen=True, slots=True)
class MemberInfo:
    """One member of the cluster and whether the answering node believes it alive."""

    id: int
    address: str
    zone: str
    weight: int
    state: str
    alive: bool


@dataclass(frozen=True, slots=True)
class ClusterTopology:
    """The cluster's members at one epoch."""

    epoch: int
    vnodes: int
    members: list[MemberInfo]
