"""Value types the SDK returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

from manhattan.types import Consistency, Durability


class Version(NamedTuple):
    """HLC timestamp (ms << 16 | logical) and writer node id; last writer wins.

    ``superseded`` (a write's answer only) is nonzero when the write lost
    last-writer-wins at every replica that acknowledged it, to a version this
    client never observed: that version's timestamp. The write was stored, but
    another value is current."""

    timestamp: int
    writer: int
    superseded: int = 0


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
    metrics_address: str = ""
    """host:port of the node's Prometheus /metrics ("" when turned off)."""
    requests_total: int = 0
    requests_per_second: float = 0.0
    """Requests answered per second over about the last minute."""
    repair_running: bool = False
    repair_progress: float = 0.0
    repair_keys_compared: int = 0
    repair_ranges_differing: int = 0
    repair_records_exchanged: int = 0
    repair_last_completed_ms: int = 0
    streaming_active: int = 0
    streaming_progress: float = 0.0
    streaming_records: int = 0
    streaming_bytes: int = 0
    snapshots: int = 0
    clock_ahead_ms: float = 0.0
    """How far the node's wall clock runs ahead of the median of its peers'."""
    clock_refusing_writes: bool = False
    """True while the node refuses to coordinate writes (its clock runs far ahead)."""
    hlc: int = 0
    timestamps_refused: int = 0


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


@dataclass(frozen=True, slots=True)
class TokenInfo:
    """A token as the admin API reports it (never the secret)."""

    token_id: str
    tenant: str
    read_only: bool
    datasets: list[str] | None
    """The datasets it reaches; None: every dataset of the tenant."""
    created_at_ms: int
    expires_at_ms: int = 0


@dataclass(frozen=True, slots=True)
class Limits:
    """Rate limits (cluster-wide, per second) and storage quota; 0 means unlimited."""

    ops_per_second: float = 0.0
    bytes_per_second: float = 0.0
    storage_quota_bytes: int = 0
    burst_seconds: float = 1.0


@dataclass(frozen=True, slots=True)
class TenantDescription:
    """A tenant with its limits, its datasets' limits and its tokens."""

    tenant: Tenant
    limits: Limits
    dataset_limits: dict[str, Limits]
    tokens: list[TokenInfo]


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One admin action recorded by a node."""

    at_ms: int
    node_id: int
    actor: str
    action: str
    target: str
    detail: str = ""


@dataclass(frozen=True, slots=True)
class SnapshotInfo:
    """One snapshot on one node (a RocksDB checkpoint under <data_dir>/snapshots/<name>)."""

    name: str
    node_id: int
    created_at_ms: int
    size_bytes: int
    path: str
    topology_epoch: int = 0
    datasets: list[str] = field(default_factory=list)
