from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class PositionRange(_message.Message):
    __slots__ = ("start", "end", "after")
    START_FIELD_NUMBER: _ClassVar[int]
    END_FIELD_NUMBER: _ClassVar[int]
    AFTER_FIELD_NUMBER: _ClassVar[int]
    start: int
    end: int
    after: bytes
    def __init__(self, start: _Optional[int] = ..., end: _Optional[int] = ..., after: _Optional[bytes] = ...) -> None: ...

class RepairRequest(_message.Message):
    __slots__ = ("dataset", "all_peers")
    DATASET_FIELD_NUMBER: _ClassVar[int]
    ALL_PEERS_FIELD_NUMBER: _ClassVar[int]
    dataset: str
    all_peers: bool
    def __init__(self, dataset: _Optional[str] = ..., all_peers: _Optional[bool] = ...) -> None: ...

class RepairProgress(_message.Message):
    __slots__ = ("node_id", "dataset", "peer", "exchanges_total", "exchanges_done", "keys_compared", "ranges_differing", "records_exchanged", "exchanges_failed", "error", "done")
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    DATASET_FIELD_NUMBER: _ClassVar[int]
    PEER_FIELD_NUMBER: _ClassVar[int]
    EXCHANGES_TOTAL_FIELD_NUMBER: _ClassVar[int]
    EXCHANGES_DONE_FIELD_NUMBER: _ClassVar[int]
    KEYS_COMPARED_FIELD_NUMBER: _ClassVar[int]
    RANGES_DIFFERING_FIELD_NUMBER: _ClassVar[int]
    RECORDS_EXCHANGED_FIELD_NUMBER: _ClassVar[int]
    EXCHANGES_FAILED_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    DONE_FIELD_NUMBER: _ClassVar[int]
    node_id: int
    dataset: str
    peer: int
    exchanges_total: int
    exchanges_done: int
    keys_compared: int
    ranges_differing: int
    records_exchanged: int
    exchanges_failed: int
    error: str
    done: bool
    def __init__(self, node_id: _Optional[int] = ..., dataset: _Optional[str] = ..., peer: _Optional[int] = ..., exchanges_total: _Optional[int] = ..., exchanges_done: _Optional[int] = ..., keys_compared: _Optional[int] = ..., ranges_differing: _Optional[int] = ..., records_exchanged: _Optional[int] = ..., exchanges_failed: _Optional[int] = ..., error: _Optional[str] = ..., done: _Optional[bool] = ...) -> None: ...

class ExchangeOpen(_message.Message):
    __slots__ = ("dataset", "from_node", "ranges", "epoch", "keys_per_s")
    DATASET_FIELD_NUMBER: _ClassVar[int]
    FROM_NODE_FIELD_NUMBER: _ClassVar[int]
    RANGES_FIELD_NUMBER: _ClassVar[int]
    EPOCH_FIELD_NUMBER: _ClassVar[int]
    KEYS_PER_S_FIELD_NUMBER: _ClassVar[int]
    dataset: str
    from_node: int
    ranges: _containers.RepeatedCompositeFieldContainer[PositionRange]
    epoch: int
    keys_per_s: int
    def __init__(self, dataset: _Optional[str] = ..., from_node: _Optional[int] = ..., ranges: _Optional[_Iterable[_Union[PositionRange, _Mapping]]] = ..., epoch: _Optional[int] = ..., keys_per_s: _Optional[int] = ...) -> None: ...

class TreeNodes(_message.Message):
    __slots__ = ("level", "indices")
    LEVEL_FIELD_NUMBER: _ClassVar[int]
    INDICES_FIELD_NUMBER: _ClassVar[int]
    level: int
    indices: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, level: _Optional[int] = ..., indices: _Optional[_Iterable[int]] = ...) -> None: ...

class SegmentKeys(_message.Message):
    __slots__ = ("segments",)
    SEGMENTS_FIELD_NUMBER: _ClassVar[int]
    segments: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, segments: _Optional[_Iterable[int]] = ...) -> None: ...

class FetchKeys(_message.Message):
    __slots__ = ("keys",)
    KEYS_FIELD_NUMBER: _ClassVar[int]
    keys: _containers.RepeatedScalarFieldContainer[bytes]
    def __init__(self, keys: _Optional[_Iterable[bytes]] = ...) -> None: ...

class PushRecords(_message.Message):
    __slots__ = ("keys", "values")
    KEYS_FIELD_NUMBER: _ClassVar[int]
    VALUES_FIELD_NUMBER: _ClassVar[int]
    keys: _containers.RepeatedScalarFieldContainer[bytes]
    values: _containers.RepeatedScalarFieldContainer[bytes]
    def __init__(self, keys: _Optional[_Iterable[bytes]] = ..., values: _Optional[_Iterable[bytes]] = ...) -> None: ...

class ExchangeFinish(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ExchangeRequest(_message.Message):
    __slots__ = ("open", "children", "segment_keys", "fetch", "push", "finish")
    OPEN_FIELD_NUMBER: _ClassVar[int]
    CHILDREN_FIELD_NUMBER: _ClassVar[int]
    SEGMENT_KEYS_FIELD_NUMBER: _ClassVar[int]
    FETCH_FIELD_NUMBER: _ClassVar[int]
    PUSH_FIELD_NUMBER: _ClassVar[int]
    FINISH_FIELD_NUMBER: _ClassVar[int]
    open: ExchangeOpen
    children: TreeNodes
    segment_keys: SegmentKeys
    fetch: FetchKeys
    push: PushRecords
    finish: ExchangeFinish
    def __init__(self, open: _Optional[_Union[ExchangeOpen, _Mapping]] = ..., children: _Optional[_Union[TreeNodes, _Mapping]] = ..., segment_keys: _Optional[_Union[SegmentKeys, _Mapping]] = ..., fetch: _Optional[_Union[FetchKeys, _Mapping]] = ..., push: _Optional[_Union[PushRecords, _Mapping]] = ..., finish: _Optional[_Union[ExchangeFinish, _Mapping]] = ...) -> None: ...

class NodeHash(_message.Message):
    __slots__ = ("index", "hash")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    HASH_FIELD_NUMBER: _ClassVar[int]
    index: int
    hash: int
    def __init__(self, index: _Optional[int] = ..., hash: _Optional[int] = ...) -> None: ...

class ExchangeReply(_message.Message):
    __slots__ = ("hashes", "keys", "keys_list", "versions", "fetched_keys", "fetched_values", "applied", "answered")
    HASHES_FIELD_NUMBER: _ClassVar[int]
    KEYS_FIELD_NUMBER: _ClassVar[int]
    KEYS_LIST_FIELD_NUMBER: _ClassVar[int]
    VERSIONS_FIELD_NUMBER: _ClassVar[int]
    FETCHED_KEYS_FIELD_NUMBER: _ClassVar[int]
    FETCHED_VALUES_FIELD_NUMBER: _ClassVar[int]
    APPLIED_FIELD_NUMBER: _ClassVar[int]
    ANSWERED_FIELD_NUMBER: _ClassVar[int]
    hashes: _containers.RepeatedCompositeFieldContainer[NodeHash]
    keys: int
    keys_list: _containers.RepeatedScalarFieldContainer[bytes]
    versions: _containers.RepeatedScalarFieldContainer[bytes]
    fetched_keys: _containers.RepeatedScalarFieldContainer[bytes]
    fetched_values: _containers.RepeatedScalarFieldContainer[bytes]
    applied: int
    answered: int
    def __init__(self, hashes: _Optional[_Iterable[_Union[NodeHash, _Mapping]]] = ..., keys: _Optional[int] = ..., keys_list: _Optional[_Iterable[bytes]] = ..., versions: _Optional[_Iterable[bytes]] = ..., fetched_keys: _Optional[_Iterable[bytes]] = ..., fetched_values: _Optional[_Iterable[bytes]] = ..., applied: _Optional[int] = ..., answered: _Optional[int] = ...) -> None: ...

class StreamRangesRequest(_message.Message):
    __slots__ = ("dataset", "ranges", "chunk_records", "from_node")
    DATASET_FIELD_NUMBER: _ClassVar[int]
    RANGES_FIELD_NUMBER: _ClassVar[int]
    CHUNK_RECORDS_FIELD_NUMBER: _ClassVar[int]
    FROM_NODE_FIELD_NUMBER: _ClassVar[int]
    dataset: str
    ranges: _containers.RepeatedCompositeFieldContainer[PositionRange]
    chunk_records: int
    from_node: int
    def __init__(self, dataset: _Optional[str] = ..., ranges: _Optional[_Iterable[_Union[PositionRange, _Mapping]]] = ..., chunk_records: _Optional[int] = ..., from_node: _Optional[int] = ...) -> None: ...

class RangeChunk(_message.Message):
    __slots__ = ("range", "keys", "values", "range_done")
    RANGE_FIELD_NUMBER: _ClassVar[int]
    KEYS_FIELD_NUMBER: _ClassVar[int]
    VALUES_FIELD_NUMBER: _ClassVar[int]
    RANGE_DONE_FIELD_NUMBER: _ClassVar[int]
    range: int
    keys: _containers.RepeatedScalarFieldContainer[bytes]
    values: _containers.RepeatedScalarFieldContainer[bytes]
    range_done: bool
    def __init__(self, range: _Optional[int] = ..., keys: _Optional[_Iterable[bytes]] = ..., values: _Optional[_Iterable[bytes]] = ..., range_done: _Optional[bool] = ...) -> None: ...

class TransferStatusRequest(_message.Message):
    __slots__ = ("epoch",)
    EPOCH_FIELD_NUMBER: _ClassVar[int]
    epoch: int
    def __init__(self, epoch: _Optional[int] = ...) -> None: ...

class TransferStatusReply(_message.Message):
    __slots__ = ("node_id", "epoch", "ranges_total", "ranges_done", "records", "bytes", "done", "error", "stream_ms")
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    EPOCH_FIELD_NUMBER: _ClassVar[int]
    RANGES_TOTAL_FIELD_NUMBER: _ClassVar[int]
    RANGES_DONE_FIELD_NUMBER: _ClassVar[int]
    RECORDS_FIELD_NUMBER: _ClassVar[int]
    BYTES_FIELD_NUMBER: _ClassVar[int]
    DONE_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    STREAM_MS_FIELD_NUMBER: _ClassVar[int]
    node_id: int
    epoch: int
    ranges_total: int
    ranges_done: int
    records: int
    bytes: int
    done: bool
    error: str
    stream_ms: int
    def __init__(self, node_id: _Optional[int] = ..., epoch: _Optional[int] = ..., ranges_total: _Optional[int] = ..., ranges_done: _Optional[int] = ..., records: _Optional[int] = ..., bytes: _Optional[int] = ..., done: _Optional[bool] = ..., error: _Optional[str] = ..., stream_ms: _Optional[int] = ...) -> None: ...

class CleanupRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class CleanupReply(_message.Message):
    __slots__ = ("ranges_dropped",)
    RANGES_DROPPED_FIELD_NUMBER: _ClassVar[int]
    ranges_dropped: int
    def __init__(self, ranges_dropped: _Optional[int] = ...) -> None: ...

class MembershipChangeRequest(_message.Message):
    __slots__ = ("kind", "address", "node_id", "zone", "weight")
    class Kind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        KIND_UNSPECIFIED: _ClassVar[MembershipChangeRequest.Kind]
        ADD: _ClassVar[MembershipChangeRequest.Kind]
        DECOMMISSION: _ClassVar[MembershipChangeRequest.Kind]
        REPLACE: _ClassVar[MembershipChangeRequest.Kind]
        REMOVE: _ClassVar[MembershipChangeRequest.Kind]
        ABORT: _ClassVar[MembershipChangeRequest.Kind]
    KIND_UNSPECIFIED: MembershipChangeRequest.Kind
    ADD: MembershipChangeRequest.Kind
    DECOMMISSION: MembershipChangeRequest.Kind
    REPLACE: MembershipChangeRequest.Kind
    REMOVE: MembershipChangeRequest.Kind
    ABORT: MembershipChangeRequest.Kind
    KIND_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    ZONE_FIELD_NUMBER: _ClassVar[int]
    WEIGHT_FIELD_NUMBER: _ClassVar[int]
    kind: MembershipChangeRequest.Kind
    address: str
    node_id: int
    zone: str
    weight: int
    def __init__(self, kind: _Optional[_Union[MembershipChangeRequest.Kind, str]] = ..., address: _Optional[str] = ..., node_id: _Optional[int] = ..., zone: _Optional[str] = ..., weight: _Optional[int] = ...) -> None: ...

class NodeTransfer(_message.Message):
    __slots__ = ("node_id", "ranges_total", "ranges_done", "records", "bytes", "done", "error", "stream_ms")
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    RANGES_TOTAL_FIELD_NUMBER: _ClassVar[int]
    RANGES_DONE_FIELD_NUMBER: _ClassVar[int]
    RECORDS_FIELD_NUMBER: _ClassVar[int]
    BYTES_FIELD_NUMBER: _ClassVar[int]
    DONE_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    STREAM_MS_FIELD_NUMBER: _ClassVar[int]
    node_id: int
    ranges_total: int
    ranges_done: int
    records: int
    bytes: int
    done: bool
    error: str
    stream_ms: int
    def __init__(self, node_id: _Optional[int] = ..., ranges_total: _Optional[int] = ..., ranges_done: _Optional[int] = ..., records: _Optional[int] = ..., bytes: _Optional[int] = ..., done: _Optional[bool] = ..., error: _Optional[str] = ..., stream_ms: _Optional[int] = ...) -> None: ...

class MembershipProgress(_message.Message):
    __slots__ = ("phase", "epoch", "transfers", "message", "done")
    PHASE_FIELD_NUMBER: _ClassVar[int]
    EPOCH_FIELD_NUMBER: _ClassVar[int]
    TRANSFERS_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    DONE_FIELD_NUMBER: _ClassVar[int]
    phase: str
    epoch: int
    transfers: _containers.RepeatedCompositeFieldContainer[NodeTransfer]
    message: str
    done: bool
    def __init__(self, phase: _Optional[str] = ..., epoch: _Optional[int] = ..., transfers: _Optional[_Iterable[_Union[NodeTransfer, _Mapping]]] = ..., message: _Optional[str] = ..., done: _Optional[bool] = ...) -> None: ...
