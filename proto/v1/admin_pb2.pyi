from manhattan.proto.v1 import types_pb2 as _types_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Tenant(_message.Message):
    __slots__ = ("name", "created_at_ms", "incarnation")
    NAME_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_MS_FIELD_NUMBER: _ClassVar[int]
    INCARNATION_FIELD_NUMBER: _ClassVar[int]
    name: str
    created_at_ms: int
    incarnation: int
    def __init__(self, name: _Optional[str] = ..., created_at_ms: _Optional[int] = ..., incarnation: _Optional[int] = ...) -> None: ...

class CreateTenantRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class CreateTenantResponse(_message.Message):
    __slots__ = ("tenant", "token")
    TENANT_FIELD_NUMBER: _ClassVar[int]
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    tenant: Tenant
    token: str
    def __init__(self, tenant: _Optional[_Union[Tenant, _Mapping]] = ..., token: _Optional[str] = ...) -> None: ...

class ListTenantsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListTenantsResponse(_message.Message):
    __slots__ = ("tenants",)
    TENANTS_FIELD_NUMBER: _ClassVar[int]
    tenants: _containers.RepeatedCompositeFieldContainer[Tenant]
    def __init__(self, tenants: _Optional[_Iterable[_Union[Tenant, _Mapping]]] = ...) -> None: ...

class DatasetSpec(_message.Message):
    __slots__ = ("name", "tenant", "replication_factor", "read_consistency", "write_consistency", "durability", "default_ttl_ms", "created_at_ms", "incarnation", "kind")
    NAME_FIELD_NUMBER: _ClassVar[int]
    TENANT_FIELD_NUMBER: _ClassVar[int]
    REPLICATION_FACTOR_FIELD_NUMBER: _ClassVar[int]
    READ_CONSISTENCY_FIELD_NUMBER: _ClassVar[int]
    WRITE_CONSISTENCY_FIELD_NUMBER: _ClassVar[int]
    DURABILITY_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_TTL_MS_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_MS_FIELD_NUMBER: _ClassVar[int]
    INCARNATION_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    name: str
    tenant: str
    replication_factor: int
    read_consistency: _types_pb2.Consistency
    write_consistency: _types_pb2.Consistency
    durability: _types_pb2.Durability
    default_ttl_ms: int
    created_at_ms: int
    incarnation: int
    kind: str
    def __init__(self, name: _Optional[str] = ..., tenant: _Optional[str] = ..., replication_factor: _Optional[int] = ..., read_consistency: _Optional[_Union[_types_pb2.Consistency, str]] = ..., write_consistency: _Optional[_Union[_types_pb2.Consistency, str]] = ..., durability: _Optional[_Union[_types_pb2.Durability, str]] = ..., default_ttl_ms: _Optional[int] = ..., created_at_ms: _Optional[int] = ..., incarnation: _Optional[int] = ..., kind: _Optional[str] = ...) -> None: ...

class CreateDatasetRequest(_message.Message):
    __slots__ = ("spec",)
    SPEC_FIELD_NUMBER: _ClassVar[int]
    spec: DatasetSpec
    def __init__(self, spec: _Optional[_Union[DatasetSpec, _Mapping]] = ...) -> None: ...

class CreateDatasetResponse(_message.Message):
    __slots__ = ("dataset",)
    DATASET_FIELD_NUMBER: _ClassVar[int]
    dataset: DatasetSpec
    def __init__(self, dataset: _Optional[_Union[DatasetSpec, _Mapping]] = ...) -> None: ...

class ListDatasetsRequest(_message.Message):
    __slots__ = ("tenant", "local")
    TENANT_FIELD_NUMBER: _ClassVar[int]
    LOCAL_FIELD_NUMBER: _ClassVar[int]
    tenant: str
    local: bool
    def __init__(self, tenant: _Optional[str] = ..., local: _Optional[bool] = ...) -> None: ...

class ListDatasetsResponse(_message.Message):
    __slots__ = ("datasets",)
    DATASETS_FIELD_NUMBER: _ClassVar[int]
    datasets: _containers.RepeatedCompositeFieldContainer[DatasetSpec]
    def __init__(self, datasets: _Optional[_Iterable[_Union[DatasetSpec, _Mapping]]] = ...) -> None: ...

class DropDatasetRequest(_message.Message):
    __slots__ = ("name", "tenant")
    NAME_FIELD_NUMBER: _ClassVar[int]
    TENANT_FIELD_NUMBER: _ClassVar[int]
    name: str
    tenant: str
    def __init__(self, name: _Optional[str] = ..., tenant: _Optional[str] = ...) -> None: ...

class DropDatasetResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class DropTenantRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class DropTenantResponse(_message.Message):
    __slots__ = ("datasets",)
    DATASETS_FIELD_NUMBER: _ClassVar[int]
    datasets: _containers.RepeatedCompositeFieldContainer[DatasetSpec]
    def __init__(self, datasets: _Optional[_Iterable[_Union[DatasetSpec, _Mapping]]] = ...) -> None: ...

class NodeInfoRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class NodeInfoResponse(_message.Message):
    __slots__ = ("node_id", "address", "version", "started_at_ms", "clock_ms", "datasets", "approximate_keys", "disk_bytes", "topology_epoch", "hints_pending", "hints_dropped", "hints_replayed", "read_repairs", "metrics_address", "requests_total", "requests_per_second", "repair_running", "repair_progress", "repair_keys_compared", "repair_ranges_differing", "repair_records_exchanged", "repair_last_completed_ms", "streaming_active", "streaming_progress", "streaming_records", "streaming_bytes", "snapshots", "metadata", "clock_ahead_ms", "clock_refusing_writes", "hlc", "timestamps_refused")
    class HintsPendingEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: int
        value: int
        def __init__(self, key: _Optional[int] = ..., value: _Optional[int] = ...) -> None: ...
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    STARTED_AT_MS_FIELD_NUMBER: _ClassVar[int]
    CLOCK_MS_FIELD_NUMBER: _ClassVar[int]
    DATASETS_FIELD_NUMBER: _ClassVar[int]
    APPROXIMATE_KEYS_FIELD_NUMBER: _ClassVar[int]
    DISK_BYTES_FIELD_NUMBER: _ClassVar[int]
    TOPOLOGY_EPOCH_FIELD_NUMBER: _ClassVar[int]
    HINTS_PENDING_FIELD_NUMBER: _ClassVar[int]
    HINTS_DROPPED_FIELD_NUMBER: _ClassVar[int]
    HINTS_REPLAYED_FIELD_NUMBER: _ClassVar[int]
    READ_REPAIRS_FIELD_NUMBER: _ClassVar[int]
    METRICS_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    REQUESTS_TOTAL_FIELD_NUMBER: _ClassVar[int]
    REQUESTS_PER_SECOND_FIELD_NUMBER: _ClassVar[int]
    REPAIR_RUNNING_FIELD_NUMBER: _ClassVar[int]
    REPAIR_PROGRESS_FIELD_NUMBER: _ClassVar[int]
    REPAIR_KEYS_COMPARED_FIELD_NUMBER: _ClassVar[int]
    REPAIR_RANGES_DIFFERING_FIELD_NUMBER: _ClassVar[int]
    REPAIR_RECORDS_EXCHANGED_FIELD_NUMBER: _ClassVar[int]
    REPAIR_LAST_COMPLETED_MS_FIELD_NUMBER: _ClassVar[int]
    STREAMING_ACTIVE_FIELD_NUMBER: _ClassVar[int]
    STREAMING_PROGRESS_FIELD_NUMBER: _ClassVar[int]
    STREAMING_RECORDS_FIELD_NUMBER: _ClassVar[int]
    STREAMING_BYTES_FIELD_NUMBER: _ClassVar[int]
    SNAPSHOTS_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    CLOCK_AHEAD_MS_FIELD_NUMBER: _ClassVar[int]
    CLOCK_REFUSING_WRITES_FIELD_NUMBER: _ClassVar[int]
    HLC_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMPS_REFUSED_FIELD_NUMBER: _ClassVar[int]
    node_id: int
    address: str
    version: str
    started_at_ms: int
    clock_ms: int
    datasets: _containers.RepeatedScalarFieldContainer[str]
    approximate_keys: int
    disk_bytes: int
    topology_epoch: int
    hints_pending: _containers.ScalarMap[int, int]
    hints_dropped: int
    hints_replayed: int
    read_repairs: int
    metrics_address: str
    requests_total: int
    requests_per_second: float
    repair_running: bool
    repair_progress: float
    repair_keys_compared: int
    repair_ranges_differing: int
    repair_records_exchanged: int
    repair_last_completed_ms: int
    streaming_active: int
    streaming_progress: float
    streaming_records: int
    streaming_bytes: int
    snapshots: int
    metadata: MetadataStatus
    clock_ahead_ms: float
    clock_refusing_writes: bool
    hlc: int
    timestamps_refused: int
    def __init__(self, node_id: _Optional[int] = ..., address: _Optional[str] = ..., version: _Optional[str] = ..., started_at_ms: _Optional[int] = ..., clock_ms: _Optional[int] = ..., datasets: _Optional[_Iterable[str]] = ..., approximate_keys: _Optional[int] = ..., disk_bytes: _Optional[int] = ..., topology_epoch: _Optional[int] = ..., hints_pending: _Optional[_Mapping[int, int]] = ..., hints_dropped: _Optional[int] = ..., hints_replayed: _Optional[int] = ..., read_repairs: _Optional[int] = ..., metrics_address: _Optional[str] = ..., requests_total: _Optional[int] = ..., requests_per_second: _Optional[float] = ..., repair_running: _Optional[bool] = ..., repair_progress: _Optional[float] = ..., repair_keys_compared: _Optional[int] = ..., repair_ranges_differing: _Optional[int] = ..., repair_records_exchanged: _Optional[int] = ..., repair_last_completed_ms: _Optional[int] = ..., streaming_active: _Optional[int] = ..., streaming_progress: _Optional[float] = ..., streaming_records: _Optional[int] = ..., streaming_bytes: _Optional[int] = ..., snapshots: _Optional[int] = ..., metadata: _Optional[_Union[MetadataStatus, _Mapping]] = ..., clock_ahead_ms: _Optional[float] = ..., clock_refusing_writes: _Optional[bool] = ..., hlc: _Optional[int] = ..., timestamps_refused: _Optional[int] = ...) -> None: ...

class JoinMetadataRequest(_message.Message):
    __slots__ = ("voters",)
    VOTERS_FIELD_NUMBER: _ClassVar[int]
    voters: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, voters: _Optional[_Iterable[str]] = ...) -> None: ...

class JoinMetadataResponse(_message.Message):
    __slots__ = ("status",)
    STATUS_FIELD_NUMBER: _ClassVar[int]
    status: MetadataStatus
    def __init__(self, status: _Optional[_Union[MetadataStatus, _Mapping]] = ...) -> None: ...

class MetadataStatus(_message.Message):
    __slots__ = ("role", "leader", "term", "commit_index", "applied_index", "has_majority", "stale", "seconds_since_majority", "voters", "applied_commands", "enabled", "voters_pending_change")
    ROLE_FIELD_NUMBER: _ClassVar[int]
    LEADER_FIELD_NUMBER: _ClassVar[int]
    TERM_FIELD_NUMBER: _ClassVar[int]
    COMMIT_INDEX_FIELD_NUMBER: _ClassVar[int]
    APPLIED_INDEX_FIELD_NUMBER: _ClassVar[int]
    HAS_MAJORITY_FIELD_NUMBER: _ClassVar[int]
    STALE_FIELD_NUMBER: _ClassVar[int]
    SECONDS_SINCE_MAJORITY_FIELD_NUMBER: _ClassVar[int]
    VOTERS_FIELD_NUMBER: _ClassVar[int]
    APPLIED_COMMANDS_FIELD_NUMBER: _ClassVar[int]
    ENABLED_FIELD_NUMBER: _ClassVar[int]
    VOTERS_PENDING_CHANGE_FIELD_NUMBER: _ClassVar[int]
    role: str
    leader: str
    term: int
    commit_index: int
    applied_index: int
    has_majority: bool
    stale: bool
    seconds_since_majority: float
    voters: _containers.RepeatedScalarFieldContainer[str]
    applied_commands: int
    enabled: bool
    voters_pending_change: int
    def __init__(self, role: _Optional[str] = ..., leader: _Optional[str] = ..., term: _Optional[int] = ..., commit_index: _Optional[int] = ..., applied_index: _Optional[int] = ..., has_majority: _Optional[bool] = ..., stale: _Optional[bool] = ..., seconds_since_majority: _Optional[float] = ..., voters: _Optional[_Iterable[str]] = ..., applied_commands: _Optional[int] = ..., enabled: _Optional[bool] = ..., voters_pending_change: _Optional[int] = ...) -> None: ...

class Snapshot(_message.Message):
    __slots__ = ("name", "node_id", "created_at_ms", "size_bytes", "path", "topology_epoch", "datasets")
    NAME_FIELD_NUMBER: _ClassVar[int]
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_MS_FIELD_NUMBER: _ClassVar[int]
    SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    TOPOLOGY_EPOCH_FIELD_NUMBER: _ClassVar[int]
    DATASETS_FIELD_NUMBER: _ClassVar[int]
    name: str
    node_id: int
    created_at_ms: int
    size_bytes: int
    path: str
    topology_epoch: int
    datasets: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, name: _Optional[str] = ..., node_id: _Optional[int] = ..., created_at_ms: _Optional[int] = ..., size_bytes: _Optional[int] = ..., path: _Optional[str] = ..., topology_epoch: _Optional[int] = ..., datasets: _Optional[_Iterable[str]] = ...) -> None: ...

class CreateSnapshotRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class CreateSnapshotResponse(_message.Message):
    __slots__ = ("snapshot",)
    SNAPSHOT_FIELD_NUMBER: _ClassVar[int]
    snapshot: Snapshot
    def __init__(self, snapshot: _Optional[_Union[Snapshot, _Mapping]] = ...) -> None: ...

class ListSnapshotsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListSnapshotsResponse(_message.Message):
    __slots__ = ("snapshots",)
    SNAPSHOTS_FIELD_NUMBER: _ClassVar[int]
    snapshots: _containers.RepeatedCompositeFieldContainer[Snapshot]
    def __init__(self, snapshots: _Optional[_Iterable[_Union[Snapshot, _Mapping]]] = ...) -> None: ...

class DeleteSnapshotRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class DeleteSnapshotResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class TokenInfo(_message.Message):
    __slots__ = ("token_id", "tenant", "read_only", "datasets", "created_at_ms", "expires_at_ms")
    TOKEN_ID_FIELD_NUMBER: _ClassVar[int]
    TENANT_FIELD_NUMBER: _ClassVar[int]
    READ_ONLY_FIELD_NUMBER: _ClassVar[int]
    DATASETS_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_MS_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_MS_FIELD_NUMBER: _ClassVar[int]
    token_id: str
    tenant: str
    read_only: bool
    datasets: _containers.RepeatedScalarFieldContainer[str]
    created_at_ms: int
    expires_at_ms: int
    def __init__(self, token_id: _Optional[str] = ..., tenant: _Optional[str] = ..., read_only: _Optional[bool] = ..., datasets: _Optional[_Iterable[str]] = ..., created_at_ms: _Optional[int] = ..., expires_at_ms: _Optional[int] = ...) -> None: ...

class CreateTokenRequest(_message.Message):
    __slots__ = ("tenant", "read_only", "datasets")
    TENANT_FIELD_NUMBER: _ClassVar[int]
    READ_ONLY_FIELD_NUMBER: _ClassVar[int]
    DATASETS_FIELD_NUMBER: _ClassVar[int]
    tenant: str
    read_only: bool
    datasets: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, tenant: _Optional[str] = ..., read_only: _Optional[bool] = ..., datasets: _Optional[_Iterable[str]] = ...) -> None: ...

class CreateTokenResponse(_message.Message):
    __slots__ = ("token", "info")
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    INFO_FIELD_NUMBER: _ClassVar[int]
    token: str
    info: TokenInfo
    def __init__(self, token: _Optional[str] = ..., info: _Optional[_Union[TokenInfo, _Mapping]] = ...) -> None: ...

class ListTokensRequest(_message.Message):
    __slots__ = ("tenant",)
    TENANT_FIELD_NUMBER: _ClassVar[int]
    tenant: str
    def __init__(self, tenant: _Optional[str] = ...) -> None: ...

class ListTokensResponse(_message.Message):
    __slots__ = ("tokens",)
    TOKENS_FIELD_NUMBER: _ClassVar[int]
    tokens: _containers.RepeatedCompositeFieldContainer[TokenInfo]
    def __init__(self, tokens: _Optional[_Iterable[_Union[TokenInfo, _Mapping]]] = ...) -> None: ...

class RevokeTokenRequest(_message.Message):
    __slots__ = ("token_id",)
    TOKEN_ID_FIELD_NUMBER: _ClassVar[int]
    token_id: str
    def __init__(self, token_id: _Optional[str] = ...) -> None: ...

class RevokeTokenResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class RotateTokenRequest(_message.Message):
    __slots__ = ("token_id", "grace_ms")
    TOKEN_ID_FIELD_NUMBER: _ClassVar[int]
    GRACE_MS_FIELD_NUMBER: _ClassVar[int]
    token_id: str
    grace_ms: int
    def __init__(self, token_id: _Optional[str] = ..., grace_ms: _Optional[int] = ...) -> None: ...

class Limits(_message.Message):
    __slots__ = ("ops_per_second", "bytes_per_second", "storage_quota_bytes", "burst_seconds")
    OPS_PER_SECOND_FIELD_NUMBER: _ClassVar[int]
    BYTES_PER_SECOND_FIELD_NUMBER: _ClassVar[int]
    STORAGE_QUOTA_BYTES_FIELD_NUMBER: _ClassVar[int]
    BURST_SECONDS_FIELD_NUMBER: _ClassVar[int]
    ops_per_second: float
    bytes_per_second: float
    storage_quota_bytes: int
    burst_seconds: float
    def __init__(self, ops_per_second: _Optional[float] = ..., bytes_per_second: _Optional[float] = ..., storage_quota_bytes: _Optional[int] = ..., burst_seconds: _Optional[float] = ...) -> None: ...

class SetLimitsRequest(_message.Message):
    __slots__ = ("tenant", "dataset", "ops_per_second", "bytes_per_second", "storage_quota_bytes", "burst_seconds")
    TENANT_FIELD_NUMBER: _ClassVar[int]
    DATASET_FIELD_NUMBER: _ClassVar[int]
    OPS_PER_SECOND_FIELD_NUMBER: _ClassVar[int]
    BYTES_PER_SECOND_FIELD_NUMBER: _ClassVar[int]
    STORAGE_QUOTA_BYTES_FIELD_NUMBER: _ClassVar[int]
    BURST_SECONDS_FIELD_NUMBER: _ClassVar[int]
    tenant: str
    dataset: str
    ops_per_second: float
    bytes_per_second: float
    storage_quota_bytes: int
    burst_seconds: float
    def __init__(self, tenant: _Optional[str] = ..., dataset: _Optional[str] = ..., ops_per_second: _Optional[float] = ..., bytes_per_second: _Optional[float] = ..., storage_quota_bytes: _Optional[int] = ..., burst_seconds: _Optional[float] = ...) -> None: ...

class SetLimitsResponse(_message.Message):
    __slots__ = ("limits",)
    LIMITS_FIELD_NUMBER: _ClassVar[int]
    limits: Limits
    def __init__(self, limits: _Optional[_Union[Limits, _Mapping]] = ...) -> None: ...

class DescribeTenantRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class DatasetLimits(_message.Message):
    __slots__ = ("dataset", "limits")
    DATASET_FIELD_NUMBER: _ClassVar[int]
    LIMITS_FIELD_NUMBER: _ClassVar[int]
    dataset: str
    limits: Limits
    def __init__(self, dataset: _Optional[str] = ..., limits: _Optional[_Union[Limits, _Mapping]] = ...) -> None: ...

class DescribeTenantResponse(_message.Message):
    __slots__ = ("tenant", "limits", "datasets", "tokens")
    TENANT_FIELD_NUMBER: _ClassVar[int]
    LIMITS_FIELD_NUMBER: _ClassVar[int]
    DATASETS_FIELD_NUMBER: _ClassVar[int]
    TOKENS_FIELD_NUMBER: _ClassVar[int]
    tenant: Tenant
    limits: Limits
    datasets: _containers.RepeatedCompositeFieldContainer[DatasetLimits]
    tokens: _containers.RepeatedCompositeFieldContainer[TokenInfo]
    def __init__(self, tenant: _Optional[_Union[Tenant, _Mapping]] = ..., limits: _Optional[_Union[Limits, _Mapping]] = ..., datasets: _Optional[_Iterable[_Union[DatasetLimits, _Mapping]]] = ..., tokens: _Optional[_Iterable[_Union[TokenInfo, _Mapping]]] = ...) -> None: ...

class AuditEntry(_message.Message):
    __slots__ = ("at_ms", "node_id", "actor", "action", "target", "detail")
    AT_MS_FIELD_NUMBER: _ClassVar[int]
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    TARGET_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    at_ms: int
    node_id: int
    actor: str
    action: str
    target: str
    detail: str
    def __init__(self, at_ms: _Optional[int] = ..., node_id: _Optional[int] = ..., actor: _Optional[str] = ..., action: _Optional[str] = ..., target: _Optional[str] = ..., detail: _Optional[str] = ...) -> None: ...

class ListAuditRequest(_message.Message):
    __slots__ = ("limit", "since_ms")
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    SINCE_MS_FIELD_NUMBER: _ClassVar[int]
    limit: int
    since_ms: int
    def __init__(self, limit: _Optional[int] = ..., since_ms: _Optional[int] = ...) -> None: ...

class ListAuditResponse(_message.Message):
    __slots__ = ("entries",)
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    entries: _containers.RepeatedCompositeFieldContainer[AuditEntry]
    def __init__(self, entries: _Optional[_Iterable[_Union[AuditEntry, _Mapping]]] = ...) -> None: ...
