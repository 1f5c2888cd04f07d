"""Value types the SDK returns (those the node shares, such as ``Record``, are
defined once in ``manhattan.types`` and re-exported here)."""

from __future__ import annotations

from dataclasses import dataclass, field
from manhattan.types import (
    AuditEntry, Consistency, Durability, Record, ScanPage, SnapshotInfo, Version,
)


@dataclass(frozen=True, slots=True)
class Tenant:
    """A tenant as the admin API reports it."""

    name: str
    created_at_ms: int
    # Unique per creation of this name (the metadata log's); 0 before the log existed.
    incarnation: int = 0


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
    # Unique per creation of this name (the metadata log's); 0 before the log existed.
    incarnation: int = 0
    # "kv" (last-writer-wins records) or "counter" (Dataset.add / Dataset.counter).
    kind: str = "kv"

    @property
    def storage_id(self) -> str:
        """How nodes key this dataset among themselves (``name@incarnation``)."""
        return f"{self.name}@{self.incarnation}" if self.incarnation else self.name


@dataclass(frozen=True, slots=True)
class CounterAdded:
    """An acknowledged ``Dataset.add``: the counter after it (as its shard owner saw
    it), whether this call counted (False: its op id had already been counted) and the
    op id, to repeat for a retry of your own."""

    value: int
    counted: bool
    op_id: bytes
    version: Version


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
    metadata: "MetadataStatus | None" = None
    """This node's member of the metadata log (None: the node runs without one)."""


@dataclass(frozen=True, slots=True)
class MetadataStatus:
    """One node's view of the replicated metadata log."""

    role: str
    """leader, follower, learner (applies the log, never votes) or stopped."""
    leader: str
    term: int
    commit_index: int
    applied_index: int
    has_majority: bool
    stale: bool
    seconds_since_majority: float
    voters: list[str]
    applied_commands: int
    voters_pending_change: int = 0
    """A change whose switch committed but whose voter change is unsettled (0: none)."""


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
class TrimResult:
    """What ``Dataset.trim`` did: the tombstones' version (records written after it
    are never trimmed), the most records one acknowledging replica deleted, and the
    highest lkey any of them deleted (None when none was)."""

    version: Version
    removed: int
    floor: bytes | None


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


__all__ = [
    "AuditEntry", "ClusterTopology", "CounterAdded", "DatasetInfo", "Delete", "Limits", "MemberInfo", "NodeInfo",
    "Put", "Record", "ScanPage", "SnapshotInfo", "Tenant", "TenantDescription", "TokenInfo",
    "TrimResult", "Version",
]
