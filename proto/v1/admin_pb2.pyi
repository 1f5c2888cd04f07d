from manhattan.proto.v1 import types_pb2 as _types_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Tenant(_message.Message):
    __slots__ = ("name", "created_at_ms")
    NAME_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_MS_FIELD_NUMBER: _ClassVar[int]
    name: str
    created_at_ms: int
    def __init__(self, name: _Optional[str] = ..., created_at_ms: _Optional[int] = ...) -> None: ...

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
    __slots__ = ("name", "tenant", "replication_factor", "read_consistency", "write_consistency", "durability", "default_ttl_ms", "created_at_ms")
    NAME_FIELD_NUMBER: _ClassVar[int]
    TENANT_FIELD_NUMBER: _ClassVar[int]
    REPLICATION_FACTOR_FIELD_NUMBER: _ClassVar[int]
    READ_CONSISTENCY_FIELD_NUMBER: _ClassVar[int]
    WRITE_CONSISTENCY_FIELD_NUMBER: _ClassVar[int]
    DURABILITY_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_TTL_MS_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_MS_FIELD_NUMBER: _ClassVar[int]
    name: str
    tenant: str
    replication_factor: int
    read_consistency: _types_pb2.Consistency
    write_consistency: _types_pb2.Consistency
    durability: _types_pb2.Durability
    default_ttl_ms: int
    created_at_ms: int
    def __init__(self, name: _Optional[str] = ..., tenant: _Optional[str] = ..., replication_factor: _Optional[int] = ..., read_consistency: _Optional[_Union[_types_pb2.Consistency, str]] = ..., write_consistency: _Optional[_Union[_types_pb2.Consistency, str]] = ..., durability: _Optional[_Union[_types_pb2.Durability, str]] = ..., default_ttl_ms: _Optional[int] = ..., created_at_ms: _Optional[int] = ...) -> None: ...

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
    __slots__ = ("tenant",)
    TENANT_FIELD_NUMBER: _ClassVar[int]
    tenant: str
    def __init__(self, tenant: _Optional[str] = ...) -> None: ...

class ListDatasetsResponse(_message.Message):
    __slots__ = ("datasets",)
    DATASETS_FIELD_NUMBER: _ClassVar[int]
    datasets: _containers.RepeatedCompositeFieldContainer[DatasetSpec]
    def __init__(self, datasets: _Optional[_Iterable[_Union[DatasetSpec, _Mapping]]] = ...) -> None: ...

class DropDatasetRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class DropDatasetResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class NodeInfoRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class NodeInfoResponse(_message.Message):
    __slots__ = ("node_id", "address", "version", "started_at_ms", "clock_ms", "datasets", "approximate_keys", "disk_bytes", "topology_epoch", "hints_pending", "hints_dropped", "hints_replayed", "read_repairs")
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
    def __init__(self, node_id: _Optional[int] = ..., address: _Optional[str] = ..., version: _Optional[str] = ..., started_at_ms: _Optional[int] = ..., clock_ms: _Optional[int] = ..., datasets: _Optional[_Iterable[str]] = ..., approximate_keys: _Optional[int] = ..., disk_bytes: _Optional[int] = ..., topology_epoch: _Optional[int] = ..., hints_pending: _Optional[_Mapping[int, int]] = ..., hints_dropped: _Optional[int] = ..., hints_replayed: _Optional[int] = ..., read_repairs: _Optional[int] = ...) -> None: ...
