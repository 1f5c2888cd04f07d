from manhattan.proto.v1 import types_pb2 as _types_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class GetRequest(_message.Message):
    __slots__ = ("dataset", "pkey", "lkey", "consistency")
    DATASET_FIELD_NUMBER: _ClassVar[int]
    PKEY_FIELD_NUMBER: _ClassVar[int]
    LKEY_FIELD_NUMBER: _ClassVar[int]
    CONSISTENCY_FIELD_NUMBER: _ClassVar[int]
    dataset: str
    pkey: bytes
    lkey: bytes
    consistency: _types_pb2.Consistency
    def __init__(self, dataset: _Optional[str] = ..., pkey: _Optional[bytes] = ..., lkey: _Optional[bytes] = ..., consistency: _Optional[_Union[_types_pb2.Consistency, str]] = ...) -> None: ...

class GetResponse(_message.Message):
    __slots__ = ("found", "record")
    FOUND_FIELD_NUMBER: _ClassVar[int]
    RECORD_FIELD_NUMBER: _ClassVar[int]
    found: bool
    record: _types_pb2.Record
    def __init__(self, found: _Optional[bool] = ..., record: _Optional[_Union[_types_pb2.Record, _Mapping]] = ...) -> None: ...

class PutRequest(_message.Message):
    __slots__ = ("dataset", "pkey", "lkey", "value", "ttl_ms", "consistency", "durability")
    DATASET_FIELD_NUMBER: _ClassVar[int]
    PKEY_FIELD_NUMBER: _ClassVar[int]
    LKEY_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    TTL_MS_FIELD_NUMBER: _ClassVar[int]
    CONSISTENCY_FIELD_NUMBER: _ClassVar[int]
    DURABILITY_FIELD_NUMBER: _ClassVar[int]
    dataset: str
    pkey: bytes
    lkey: bytes
    value: bytes
    ttl_ms: int
    consistency: _types_pb2.Consistency
    durability: _types_pb2.Durability
    def __init__(self, dataset: _Optional[str] = ..., pkey: _Optional[bytes] = ..., lkey: _Optional[bytes] = ..., value: _Optional[bytes] = ..., ttl_ms: _Optional[int] = ..., consistency: _Optional[_Union[_types_pb2.Consistency, str]] = ..., durability: _Optional[_Union[_types_pb2.Durability, str]] = ...) -> None: ...

class PutResponse(_message.Message):
    __slots__ = ("version",)
    VERSION_FIELD_NUMBER: _ClassVar[int]
    version: _types_pb2.Version
    def __init__(self, version: _Optional[_Union[_types_pb2.Version, _Mapping]] = ...) -> None: ...

class DeleteRequest(_message.Message):
    __slots__ = ("dataset", "pkey", "lkey", "consistency", "durability")
    DATASET_FIELD_NUMBER: _ClassVar[int]
    PKEY_FIELD_NUMBER: _ClassVar[int]
    LKEY_FIELD_NUMBER: _ClassVar[int]
    CONSISTENCY_FIELD_NUMBER: _ClassVar[int]
    DURABILITY_FIELD_NUMBER: _ClassVar[int]
    dataset: str
    pkey: bytes
    lkey: bytes
    consistency: _types_pb2.Consistency
    durability: _types_pb2.Durability
    def __init__(self, dataset: _Optional[str] = ..., pkey: _Optional[bytes] = ..., lkey: _Optional[bytes] = ..., consistency: _Optional[_Union[_types_pb2.Consistency, str]] = ..., durability: _Optional[_Union[_types_pb2.Durability, str]] = ...) -> None: ...

class DeleteResponse(_message.Message):
    __slots__ = ("version",)
    VERSION_FIELD_NUMBER: _ClassVar[int]
    version: _types_pb2.Version
    def __init__(self, version: _Optional[_Union[_types_pb2.Version, _Mapping]] = ...) -> None: ...

class ScanRequest(_message.Message):
    __slots__ = ("dataset", "pkey", "start", "end", "limit", "reverse", "cursor", "consistency")
    DATASET_FIELD_NUMBER: _ClassVar[int]
    PKEY_FIELD_NUMBER: _ClassVar[int]
    START_FIELD_NUMBER: _ClassVar[int]
    END_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    REVERSE_FIELD_NUMBER: _ClassVar[int]
    CURSOR_FIELD_NUMBER: _ClassVar[int]
    CONSISTENCY_FIELD_NUMBER: _ClassVar[int]
    dataset: str
    pkey: bytes
    start: bytes
    end: bytes
    limit: int
    reverse: bool
    cursor: bytes
    consistency: _types_pb2.Consistency
    def __init__(self, dataset: _Optional[str] = ..., pkey: _Optional[bytes] = ..., start: _Optional[bytes] = ..., end: _Optional[bytes] = ..., limit: _Optional[int] = ..., reverse: _Optional[bool] = ..., cursor: _Optional[bytes] = ..., consistency: _Optional[_Union[_types_pb2.Consistency, str]] = ...) -> None: ...

class ScanResponse(_message.Message):
    __slots__ = ("records", "next_cursor")
    RECORDS_FIELD_NUMBER: _ClassVar[int]
    NEXT_CURSOR_FIELD_NUMBER: _ClassVar[int]
    records: _containers.RepeatedCompositeFieldContainer[_types_pb2.Record]
    next_cursor: bytes
    def __init__(self, records: _Optional[_Iterable[_Union[_types_pb2.Record, _Mapping]]] = ..., next_cursor: _Optional[bytes] = ...) -> None: ...

class MultiGetRequest(_message.Message):
    __slots__ = ("dataset", "keys", "consistency", "paged")
    DATASET_FIELD_NUMBER: _ClassVar[int]
    KEYS_FIELD_NUMBER: _ClassVar[int]
    CONSISTENCY_FIELD_NUMBER: _ClassVar[int]
    PAGED_FIELD_NUMBER: _ClassVar[int]
    dataset: str
    keys: _containers.RepeatedCompositeFieldContainer[_types_pb2.Key]
    consistency: _types_pb2.Consistency
    paged: bool
    def __init__(self, dataset: _Optional[str] = ..., keys: _Optional[_Iterable[_Union[_types_pb2.Key, _Mapping]]] = ..., consistency: _Optional[_Union[_types_pb2.Consistency, str]] = ..., paged: _Optional[bool] = ...) -> None: ...

class GetResult(_message.Message):
    __slots__ = ("found", "record")
    FOUND_FIELD_NUMBER: _ClassVar[int]
    RECORD_FIELD_NUMBER: _ClassVar[int]
    found: bool
    record: _types_pb2.Record
    def __init__(self, found: _Optional[bool] = ..., record: _Optional[_Union[_types_pb2.Record, _Mapping]] = ...) -> None: ...

class MultiGetResponse(_message.Message):
    __slots__ = ("results", "next_index")
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_INDEX_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[GetResult]
    next_index: int
    def __init__(self, results: _Optional[_Iterable[_Union[GetResult, _Mapping]]] = ..., next_index: _Optional[int] = ...) -> None: ...

class Mutation(_message.Message):
    __slots__ = ("pkey", "lkey", "value", "ttl_ms", "delete")
    PKEY_FIELD_NUMBER: _ClassVar[int]
    LKEY_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    TTL_MS_FIELD_NUMBER: _ClassVar[int]
    DELETE_FIELD_NUMBER: _ClassVar[int]
    pkey: bytes
    lkey: bytes
    value: bytes
    ttl_ms: int
    delete: bool
    def __init__(self, pkey: _Optional[bytes] = ..., lkey: _Optional[bytes] = ..., value: _Optional[bytes] = ..., ttl_ms: _Optional[int] = ..., delete: _Optional[bool] = ...) -> None: ...

class MultiPutRequest(_message.Message):
    __slots__ = ("dataset", "mutations", "consistency", "durability", "compact_reply")
    DATASET_FIELD_NUMBER: _ClassVar[int]
    MUTATIONS_FIELD_NUMBER: _ClassVar[int]
    CONSISTENCY_FIELD_NUMBER: _ClassVar[int]
    DURABILITY_FIELD_NUMBER: _ClassVar[int]
    COMPACT_REPLY_FIELD_NUMBER: _ClassVar[int]
    dataset: str
    mutations: _containers.RepeatedCompositeFieldContainer[Mutation]
    consistency: _types_pb2.Consistency
    durability: _types_pb2.Durability
    compact_reply: bool
    def __init__(self, dataset: _Optional[str] = ..., mutations: _Optional[_Iterable[_Union[Mutation, _Mapping]]] = ..., consistency: _Optional[_Union[_types_pb2.Consistency, str]] = ..., durability: _Optional[_Union[_types_pb2.Durability, str]] = ..., compact_reply: _Optional[bool] = ...) -> None: ...

class MultiPutResponse(_message.Message):
    __slots__ = ("versions", "first", "count", "superseded")
    VERSIONS_FIELD_NUMBER: _ClassVar[int]
    FIRST_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    SUPERSEDED_FIELD_NUMBER: _ClassVar[int]
    versions: _containers.RepeatedCompositeFieldContainer[_types_pb2.Version]
    first: _types_pb2.Version
    count: int
    superseded: _containers.RepeatedCompositeFieldContainer[Superseded]
    def __init__(self, versions: _Optional[_Iterable[_Union[_types_pb2.Version, _Mapping]]] = ..., first: _Optional[_Union[_types_pb2.Version, _Mapping]] = ..., count: _Optional[int] = ..., superseded: _Optional[_Iterable[_Union[Superseded, _Mapping]]] = ...) -> None: ...

class Superseded(_message.Message):
    __slots__ = ("index", "by")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    BY_FIELD_NUMBER: _ClassVar[int]
    index: int
    by: int
    def __init__(self, index: _Optional[int] = ..., by: _Optional[int] = ...) -> None: ...

class CasRequest(_message.Message):
    __slots__ = ("dataset", "pkey", "lkey", "value", "ttl_ms", "delete", "if_version", "if_absent", "durability")
    DATASET_FIELD_NUMBER: _ClassVar[int]
    PKEY_FIELD_NUMBER: _ClassVar[int]
    LKEY_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    TTL_MS_FIELD_NUMBER: _ClassVar[int]
    DELETE_FIELD_NUMBER: _ClassVar[int]
    IF_VERSION_FIELD_NUMBER: _ClassVar[int]
    IF_ABSENT_FIELD_NUMBER: _ClassVar[int]
    DURABILITY_FIELD_NUMBER: _ClassVar[int]
    dataset: str
    pkey: bytes
    lkey: bytes
    value: bytes
    ttl_ms: int
    delete: bool
    if_version: _types_pb2.Version
    if_absent: bool
    durability: _types_pb2.Durability
    def __init__(self, dataset: _Optional[str] = ..., pkey: _Optional[bytes] = ..., lkey: _Optional[bytes] = ..., value: _Optional[bytes] = ..., ttl_ms: _Optional[int] = ..., delete: _Optional[bool] = ..., if_version: _Optional[_Union[_types_pb2.Version, _Mapping]] = ..., if_absent: _Optional[bool] = ..., durability: _Optional[_Union[_types_pb2.Durability, str]] = ...) -> None: ...

class CasResponse(_message.Message):
    __slots__ = ("applied", "version", "found", "current")
    APPLIED_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    FOUND_FIELD_NUMBER: _ClassVar[int]
    CURRENT_FIELD_NUMBER: _ClassVar[int]
    applied: bool
    version: _types_pb2.Version
    found: bool
    current: _types_pb2.Record
    def __init__(self, applied: _Optional[bool] = ..., version: _Optional[_Union[_types_pb2.Version, _Mapping]] = ..., found: _Optional[bool] = ..., current: _Optional[_Union[_types_pb2.Record, _Mapping]] = ...) -> None: ...

class SerialGetRequest(_message.Message):
    __slots__ = ("dataset", "pkey", "lkey", "seal")
    DATASET_FIELD_NUMBER: _ClassVar[int]
    PKEY_FIELD_NUMBER: _ClassVar[int]
    LKEY_FIELD_NUMBER: _ClassVar[int]
    SEAL_FIELD_NUMBER: _ClassVar[int]
    dataset: str
    pkey: bytes
    lkey: bytes
    seal: bool
    def __init__(self, dataset: _Optional[str] = ..., pkey: _Optional[bytes] = ..., lkey: _Optional[bytes] = ..., seal: _Optional[bool] = ...) -> None: ...

class PeekSerialRequest(_message.Message):
    __slots__ = ("dataset", "pkey", "lkey")
    DATASET_FIELD_NUMBER: _ClassVar[int]
    PKEY_FIELD_NUMBER: _ClassVar[int]
    LKEY_FIELD_NUMBER: _ClassVar[int]
    dataset: str
    pkey: bytes
    lkey: bytes
    def __init__(self, dataset: _Optional[str] = ..., pkey: _Optional[bytes] = ..., lkey: _Optional[bytes] = ...) -> None: ...

class PeekSerialResponse(_message.Message):
    __slots__ = ("node_id", "replicas", "accepted", "committed", "newest", "found", "record")
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    REPLICAS_FIELD_NUMBER: _ClassVar[int]
    ACCEPTED_FIELD_NUMBER: _ClassVar[int]
    COMMITTED_FIELD_NUMBER: _ClassVar[int]
    NEWEST_FIELD_NUMBER: _ClassVar[int]
    FOUND_FIELD_NUMBER: _ClassVar[int]
    RECORD_FIELD_NUMBER: _ClassVar[int]
    node_id: int
    replicas: _containers.RepeatedScalarFieldContainer[int]
    accepted: _types_pb2.Version
    committed: _types_pb2.Version
    newest: _types_pb2.Version
    found: bool
    record: _types_pb2.Record
    def __init__(self, node_id: _Optional[int] = ..., replicas: _Optional[_Iterable[int]] = ..., accepted: _Optional[_Union[_types_pb2.Version, _Mapping]] = ..., committed: _Optional[_Union[_types_pb2.Version, _Mapping]] = ..., newest: _Optional[_Union[_types_pb2.Version, _Mapping]] = ..., found: _Optional[bool] = ..., record: _Optional[_Union[_types_pb2.Record, _Mapping]] = ...) -> None: ...

class TrimRequest(_message.Message):
    __slots__ = ("dataset", "pkey", "start", "end", "keep", "consistency", "durability")
    DATASET_FIELD_NUMBER: _ClassVar[int]
    PKEY_FIELD_NUMBER: _ClassVar[int]
    START_FIELD_NUMBER: _ClassVar[int]
    END_FIELD_NUMBER: _ClassVar[int]
    KEEP_FIELD_NUMBER: _ClassVar[int]
    CONSISTENCY_FIELD_NUMBER: _ClassVar[int]
    DURABILITY_FIELD_NUMBER: _ClassVar[int]
    dataset: str
    pkey: bytes
    start: bytes
    end: bytes
    keep: int
    consistency: _types_pb2.Consistency
    durability: _types_pb2.Durability
    def __init__(self, dataset: _Optional[str] = ..., pkey: _Optional[bytes] = ..., start: _Optional[bytes] = ..., end: _Optional[bytes] = ..., keep: _Optional[int] = ..., consistency: _Optional[_Union[_types_pb2.Consistency, str]] = ..., durability: _Optional[_Union[_types_pb2.Durability, str]] = ...) -> None: ...

class TrimResponse(_message.Message):
    __slots__ = ("version", "removed", "floor")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    REMOVED_FIELD_NUMBER: _ClassVar[int]
    FLOOR_FIELD_NUMBER: _ClassVar[int]
    version: _types_pb2.Version
    removed: int
    floor: bytes
    def __init__(self, version: _Optional[_Union[_types_pb2.Version, _Mapping]] = ..., removed: _Optional[int] = ..., floor: _Optional[bytes] = ...) -> None: ...

class CounterAddRequest(_message.Message):
    __slots__ = ("dataset", "pkey", "lkey", "delta", "op_id", "consistency", "durability", "retry")
    DATASET_FIELD_NUMBER: _ClassVar[int]
    PKEY_FIELD_NUMBER: _ClassVar[int]
    LKEY_FIELD_NUMBER: _ClassVar[int]
    DELTA_FIELD_NUMBER: _ClassVar[int]
    OP_ID_FIELD_NUMBER: _ClassVar[int]
    CONSISTENCY_FIELD_NUMBER: _ClassVar[int]
    DURABILITY_FIELD_NUMBER: _ClassVar[int]
    RETRY_FIELD_NUMBER: _ClassVar[int]
    dataset: str
    pkey: bytes
    lkey: bytes
    delta: int
    op_id: bytes
    consistency: _types_pb2.Consistency
    durability: _types_pb2.Durability
    retry: bool
    def __init__(self, dataset: _Optional[str] = ..., pkey: _Optional[bytes] = ..., lkey: _Optional[bytes] = ..., delta: _Optional[int] = ..., op_id: _Optional[bytes] = ..., consistency: _Optional[_Union[_types_pb2.Consistency, str]] = ..., durability: _Optional[_Union[_types_pb2.Durability, str]] = ..., retry: _Optional[bool] = ...) -> None: ...

class CounterAddResponse(_message.Message):
    __slots__ = ("value", "counted", "version")
    VALUE_FIELD_NUMBER: _ClassVar[int]
    COUNTED_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    value: int
    counted: bool
    version: _types_pb2.Version
    def __init__(self, value: _Optional[int] = ..., counted: _Optional[bool] = ..., version: _Optional[_Union[_types_pb2.Version, _Mapping]] = ...) -> None: ...

class CounterGetRequest(_message.Message):
    __slots__ = ("dataset", "pkey", "lkey", "consistency")
    DATASET_FIELD_NUMBER: _ClassVar[int]
    PKEY_FIELD_NUMBER: _ClassVar[int]
    LKEY_FIELD_NUMBER: _ClassVar[int]
    CONSISTENCY_FIELD_NUMBER: _ClassVar[int]
    dataset: str
    pkey: bytes
    lkey: bytes
    consistency: _types_pb2.Consistency
    def __init__(self, dataset: _Optional[str] = ..., pkey: _Optional[bytes] = ..., lkey: _Optional[bytes] = ..., consistency: _Optional[_Union[_types_pb2.Consistency, str]] = ...) -> None: ...

class CounterGetResponse(_message.Message):
    __slots__ = ("value", "found", "version")
    VALUE_FIELD_NUMBER: _ClassVar[int]
    FOUND_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    value: int
    found: bool
    version: _types_pb2.Version
    def __init__(self, value: _Optional[int] = ..., found: _Optional[bool] = ..., version: _Optional[_Union[_types_pb2.Version, _Mapping]] = ...) -> None: ...
