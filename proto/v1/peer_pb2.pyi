from manhattan.proto.v1 import types_pb2 as _types_pb2
from manhattan.proto.v1 import cluster_pb2 as _cluster_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Entry(_message.Message):
    __slots__ = ("found", "version", "value", "expires_at_ms", "tombstone", "counter")
    FOUND_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_MS_FIELD_NUMBER: _ClassVar[int]
    TOMBSTONE_FIELD_NUMBER: _ClassVar[int]
    COUNTER_FIELD_NUMBER: _ClassVar[int]
    found: bool
    version: _types_pb2.Version
    value: bytes
    expires_at_ms: int
    tombstone: bool
    counter: bool
    def __init__(self, found: _Optional[bool] = ..., version: _Optional[_Union[_types_pb2.Version, _Mapping]] = ..., value: _Optional[bytes] = ..., expires_at_ms: _Optional[int] = ..., tombstone: _Optional[bool] = ..., counter: _Optional[bool] = ...) -> None: ...

class ReplicaWrite(_message.Message):
    __slots__ = ("pkey", "lkey", "entry")
    PKEY_FIELD_NUMBER: _ClassVar[int]
    LKEY_FIELD_NUMBER: _ClassVar[int]
    ENTRY_FIELD_NUMBER: _ClassVar[int]
    pkey: bytes
    lkey: bytes
    entry: Entry
    def __init__(self, pkey: _Optional[bytes] = ..., lkey: _Optional[bytes] = ..., entry: _Optional[_Union[Entry, _Mapping]] = ...) -> None: ...

class ApplyOp(_message.Message):
    __slots__ = ("dataset", "writes", "sync")
    DATASET_FIELD_NUMBER: _ClassVar[int]
    WRITES_FIELD_NUMBER: _ClassVar[int]
    SYNC_FIELD_NUMBER: _ClassVar[int]
    dataset: str
    writes: _containers.RepeatedCompositeFieldContainer[ReplicaWrite]
    sync: bool
    def __init__(self, dataset: _Optional[str] = ..., writes: _Optional[_Iterable[_Union[ReplicaWrite, _Mapping]]] = ..., sync: _Optional[bool] = ...) -> None: ...

class ApplyBlobOp(_message.Message):
    __slots__ = ("dataset", "writes", "sync")
    DATASET_FIELD_NUMBER: _ClassVar[int]
    WRITES_FIELD_NUMBER: _ClassVar[int]
    SYNC_FIELD_NUMBER: _ClassVar[int]
    dataset: str
    writes: bytes
    sync: bool
    def __init__(self, dataset: _Optional[str] = ..., writes: _Optional[bytes] = ..., sync: _Optional[bool] = ...) -> None: ...

class ReadOp(_message.Message):
    __slots__ = ("dataset", "keys", "max_bytes")
    DATASET_FIELD_NUMBER: _ClassVar[int]
    KEYS_FIELD_NUMBER: _ClassVar[int]
    MAX_BYTES_FIELD_NUMBER: _ClassVar[int]
    dataset: str
    keys: _containers.RepeatedCompositeFieldContainer[_types_pb2.Key]
    max_bytes: int
    def __init__(self, dataset: _Optional[str] = ..., keys: _Optional[_Iterable[_Union[_types_pb2.Key, _Mapping]]] = ..., max_bytes: _Optional[int] = ...) -> None: ...

class ScanOp(_message.Message):
    __slots__ = ("dataset", "pkey", "start", "end", "limit", "reverse", "cursor", "max_bytes")
    DATASET_FIELD_NUMBER: _ClassVar[int]
    PKEY_FIELD_NUMBER: _ClassVar[int]
    START_FIELD_NUMBER: _ClassVar[int]
    END_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    REVERSE_FIELD_NUMBER: _ClassVar[int]
    CURSOR_FIELD_NUMBER: _ClassVar[int]
    MAX_BYTES_FIELD_NUMBER: _ClassVar[int]
    dataset: str
    pkey: bytes
    start: bytes
    end: bytes
    limit: int
    reverse: bool
    cursor: bytes
    max_bytes: int
    def __init__(self, dataset: _Optional[str] = ..., pkey: _Optional[bytes] = ..., start: _Optional[bytes] = ..., end: _Optional[bytes] = ..., limit: _Optional[int] = ..., reverse: _Optional[bool] = ..., cursor: _Optional[bytes] = ..., max_bytes: _Optional[int] = ...) -> None: ...

class TrimOp(_message.Message):
    __slots__ = ("dataset", "pkey", "start", "end", "keep", "version", "sync")
    DATASET_FIELD_NUMBER: _ClassVar[int]
    PKEY_FIELD_NUMBER: _ClassVar[int]
    START_FIELD_NUMBER: _ClassVar[int]
    END_FIELD_NUMBER: _ClassVar[int]
    KEEP_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    SYNC_FIELD_NUMBER: _ClassVar[int]
    dataset: str
    pkey: bytes
    start: bytes
    end: bytes
    keep: int
    version: _types_pb2.Version
    sync: bool
    def __init__(self, dataset: _Optional[str] = ..., pkey: _Optional[bytes] = ..., start: _Optional[bytes] = ..., end: _Optional[bytes] = ..., keep: _Optional[int] = ..., version: _Optional[_Union[_types_pb2.Version, _Mapping]] = ..., sync: _Optional[bool] = ...) -> None: ...

class CounterAddOp(_message.Message):
    __slots__ = ("dataset", "pkey", "lkey", "delta", "op_id", "sync", "seen", "deadline_ms", "read")
    DATASET_FIELD_NUMBER: _ClassVar[int]
    PKEY_FIELD_NUMBER: _ClassVar[int]
    LKEY_FIELD_NUMBER: _ClassVar[int]
    DELTA_FIELD_NUMBER: _ClassVar[int]
    OP_ID_FIELD_NUMBER: _ClassVar[int]
    SYNC_FIELD_NUMBER: _ClassVar[int]
    SEEN_FIELD_NUMBER: _ClassVar[int]
    DEADLINE_MS_FIELD_NUMBER: _ClassVar[int]
    READ_FIELD_NUMBER: _ClassVar[int]
    dataset: str
    pkey: bytes
    lkey: bytes
    delta: int
    op_id: bytes
    sync: bool
    seen: Entry
    deadline_ms: int
    read: bool
    def __init__(self, dataset: _Optional[str] = ..., pkey: _Optional[bytes] = ..., lkey: _Optional[bytes] = ..., delta: _Optional[int] = ..., op_id: _Optional[bytes] = ..., sync: _Optional[bool] = ..., seen: _Optional[_Union[Entry, _Mapping]] = ..., deadline_ms: _Optional[int] = ..., read: _Optional[bool] = ...) -> None: ...

class ReplicaOp(_message.Message):
    __slots__ = ("id", "apply", "apply_blob", "read", "scan", "paxos_prepare", "paxos_propose", "paxos_commit", "counter_add", "trim")
    ID_FIELD_NUMBER: _ClassVar[int]
    APPLY_FIELD_NUMBER: _ClassVar[int]
    APPLY_BLOB_FIELD_NUMBER: _ClassVar[int]
    READ_FIELD_NUMBER: _ClassVar[int]
    SCAN_FIELD_NUMBER: _ClassVar[int]
    PAXOS_PREPARE_FIELD_NUMBER: _ClassVar[int]
    PAXOS_PROPOSE_FIELD_NUMBER: _ClassVar[int]
    PAXOS_COMMIT_FIELD_NUMBER: _ClassVar[int]
    COUNTER_ADD_FIELD_NUMBER: _ClassVar[int]
    TRIM_FIELD_NUMBER: _ClassVar[int]
    id: int
    apply: ApplyOp
    apply_blob: ApplyBlobOp
    read: ReadOp
    scan: ScanOp
    paxos_prepare: PaxosPrepareOp
    paxos_propose: PaxosProposeOp
    paxos_commit: PaxosCommitOp
    counter_add: CounterAddOp
    trim: TrimOp
    def __init__(self, id: _Optional[int] = ..., apply: _Optional[_Union[ApplyOp, _Mapping]] = ..., apply_blob: _Optional[_Union[ApplyBlobOp, _Mapping]] = ..., read: _Optional[_Union[ReadOp, _Mapping]] = ..., scan: _Optional[_Union[ScanOp, _Mapping]] = ..., paxos_prepare: _Optional[_Union[PaxosPrepareOp, _Mapping]] = ..., paxos_propose: _Optional[_Union[PaxosProposeOp, _Mapping]] = ..., paxos_commit: _Optional[_Union[PaxosCommitOp, _Mapping]] = ..., counter_add: _Optional[_Union[CounterAddOp, _Mapping]] = ..., trim: _Optional[_Union[TrimOp, _Mapping]] = ...) -> None: ...

class ReplicaBatch(_message.Message):
    __slots__ = ("ops",)
    OPS_FIELD_NUMBER: _ClassVar[int]
    ops: _containers.RepeatedCompositeFieldContainer[ReplicaOp]
    def __init__(self, ops: _Optional[_Iterable[_Union[ReplicaOp, _Mapping]]] = ...) -> None: ...

class ReplicaReply(_message.Message):
    __slots__ = ("id", "code", "message", "applied", "entries", "scanned", "next_cursor", "hlc", "kept", "paxos", "trimmed", "trim_floor")
    ID_FIELD_NUMBER: _ClassVar[int]
    CODE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    APPLIED_FIELD_NUMBER: _ClassVar[int]
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    SCANNED_FIELD_NUMBER: _ClassVar[int]
    NEXT_CURSOR_FIELD_NUMBER: _ClassVar[int]
    HLC_FIELD_NUMBER: _ClassVar[int]
    KEPT_FIELD_NUMBER: _ClassVar[int]
    PAXOS_FIELD_NUMBER: _ClassVar[int]
    TRIMMED_FIELD_NUMBER: _ClassVar[int]
    TRIM_FLOOR_FIELD_NUMBER: _ClassVar[int]
    id: int
    code: int
    message: str
    applied: _containers.RepeatedScalarFieldContainer[bool]
    entries: _containers.RepeatedCompositeFieldContainer[Entry]
    scanned: _containers.RepeatedCompositeFieldContainer[ReplicaWrite]
    next_cursor: bytes
    hlc: int
    kept: _containers.RepeatedCompositeFieldContainer[_types_pb2.Version]
    paxos: PaxosReply
    trimmed: int
    trim_floor: bytes
    def __init__(self, id: _Optional[int] = ..., code: _Optional[int] = ..., message: _Optional[str] = ..., applied: _Optional[_Iterable[bool]] = ..., entries: _Optional[_Iterable[_Union[Entry, _Mapping]]] = ..., scanned: _Optional[_Iterable[_Union[ReplicaWrite, _Mapping]]] = ..., next_cursor: _Optional[bytes] = ..., hlc: _Optional[int] = ..., kept: _Optional[_Iterable[_Union[_types_pb2.Version, _Mapping]]] = ..., paxos: _Optional[_Union[PaxosReply, _Mapping]] = ..., trimmed: _Optional[int] = ..., trim_floor: _Optional[bytes] = ...) -> None: ...

class ReplicaReplies(_message.Message):
    __slots__ = ("replies",)
    REPLIES_FIELD_NUMBER: _ClassVar[int]
    replies: _containers.RepeatedCompositeFieldContainer[ReplicaReply]
    def __init__(self, replies: _Optional[_Iterable[_Union[ReplicaReply, _Mapping]]] = ...) -> None: ...

class PingRequest(_message.Message):
    __slots__ = ("from_node", "topology_epoch", "catalog_version", "wall_ms", "hlc")
    FROM_NODE_FIELD_NUMBER: _ClassVar[int]
    TOPOLOGY_EPOCH_FIELD_NUMBER: _ClassVar[int]
    CATALOG_VERSION_FIELD_NUMBER: _ClassVar[int]
    WALL_MS_FIELD_NUMBER: _ClassVar[int]
    HLC_FIELD_NUMBER: _ClassVar[int]
    from_node: int
    topology_epoch: int
    catalog_version: int
    wall_ms: int
    hlc: int
    def __init__(self, from_node: _Optional[int] = ..., topology_epoch: _Optional[int] = ..., catalog_version: _Optional[int] = ..., wall_ms: _Optional[int] = ..., hlc: _Optional[int] = ...) -> None: ...

class PingResponse(_message.Message):
    __slots__ = ("node_id", "topology_epoch", "catalog_version", "wall_ms", "hlc")
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    TOPOLOGY_EPOCH_FIELD_NUMBER: _ClassVar[int]
    CATALOG_VERSION_FIELD_NUMBER: _ClassVar[int]
    WALL_MS_FIELD_NUMBER: _ClassVar[int]
    HLC_FIELD_NUMBER: _ClassVar[int]
    node_id: int
    topology_epoch: int
    catalog_version: int
    wall_ms: int
    hlc: int
    def __init__(self, node_id: _Optional[int] = ..., topology_epoch: _Optional[int] = ..., catalog_version: _Optional[int] = ..., wall_ms: _Optional[int] = ..., hlc: _Optional[int] = ...) -> None: ...

class GetCatalogRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class CatalogItem(_message.Message):
    __slots__ = ("key", "value", "version", "deleted")
    KEY_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    DELETED_FIELD_NUMBER: _ClassVar[int]
    key: str
    value: bytes
    version: int
    deleted: bool
    def __init__(self, key: _Optional[str] = ..., value: _Optional[bytes] = ..., version: _Optional[int] = ..., deleted: _Optional[bool] = ...) -> None: ...

class CatalogSnapshot(_message.Message):
    __slots__ = ("version", "items")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    version: int
    items: _containers.RepeatedCompositeFieldContainer[CatalogItem]
    def __init__(self, version: _Optional[int] = ..., items: _Optional[_Iterable[_Union[CatalogItem, _Mapping]]] = ...) -> None: ...

class PaxosProposal(_message.Message):
    __slots__ = ("ballot", "none", "entry")
    BALLOT_FIELD_NUMBER: _ClassVar[int]
    NONE_FIELD_NUMBER: _ClassVar[int]
    ENTRY_FIELD_NUMBER: _ClassVar[int]
    ballot: _types_pb2.Version
    none: bool
    entry: Entry
    def __init__(self, ballot: _Optional[_Union[_types_pb2.Version, _Mapping]] = ..., none: _Optional[bool] = ..., entry: _Optional[_Union[Entry, _Mapping]] = ...) -> None: ...

class PaxosPrepareOp(_message.Message):
    __slots__ = ("dataset", "pkey", "lkey", "ballot", "peek", "topology_epoch")
    DATASET_FIELD_NUMBER: _ClassVar[int]
    PKEY_FIELD_NUMBER: _ClassVar[int]
    LKEY_FIELD_NUMBER: _ClassVar[int]
    BALLOT_FIELD_NUMBER: _ClassVar[int]
    PEEK_FIELD_NUMBER: _ClassVar[int]
    TOPOLOGY_EPOCH_FIELD_NUMBER: _ClassVar[int]
    dataset: str
    pkey: bytes
    lkey: bytes
    ballot: _types_pb2.Version
    peek: bool
    topology_epoch: int
    def __init__(self, dataset: _Optional[str] = ..., pkey: _Optional[bytes] = ..., lkey: _Optional[bytes] = ..., ballot: _Optional[_Union[_types_pb2.Version, _Mapping]] = ..., peek: _Optional[bool] = ..., topology_epoch: _Optional[int] = ...) -> None: ...

class PaxosProposeOp(_message.Message):
    __slots__ = ("dataset", "pkey", "lkey", "proposal", "granted_after", "commit_on_accept", "grant", "topology_epoch")
    DATASET_FIELD_NUMBER: _ClassVar[int]
    PKEY_FIELD_NUMBER: _ClassVar[int]
    LKEY_FIELD_NUMBER: _ClassVar[int]
    PROPOSAL_FIELD_NUMBER: _ClassVar[int]
    GRANTED_AFTER_FIELD_NUMBER: _ClassVar[int]
    COMMIT_ON_ACCEPT_FIELD_NUMBER: _ClassVar[int]
    GRANT_FIELD_NUMBER: _ClassVar[int]
    TOPOLOGY_EPOCH_FIELD_NUMBER: _ClassVar[int]
    dataset: str
    pkey: bytes
    lkey: bytes
    proposal: PaxosProposal
    granted_after: _types_pb2.Version
    commit_on_accept: bool
    grant: _types_pb2.Version
    topology_epoch: int
    def __init__(self, dataset: _Optional[str] = ..., pkey: _Optional[bytes] = ..., lkey: _Optional[bytes] = ..., proposal: _Optional[_Union[PaxosProposal, _Mapping]] = ..., granted_after: _Optional[_Union[_types_pb2.Version, _Mapping]] = ..., commit_on_accept: _Optional[bool] = ..., grant: _Optional[_Union[_types_pb2.Version, _Mapping]] = ..., topology_epoch: _Optional[int] = ...) -> None: ...

class PaxosCommitOp(_message.Message):
    __slots__ = ("dataset", "pkey", "lkey", "proposal", "sync", "grant")
    DATASET_FIELD_NUMBER: _ClassVar[int]
    PKEY_FIELD_NUMBER: _ClassVar[int]
    LKEY_FIELD_NUMBER: _ClassVar[int]
    PROPOSAL_FIELD_NUMBER: _ClassVar[int]
    SYNC_FIELD_NUMBER: _ClassVar[int]
    GRANT_FIELD_NUMBER: _ClassVar[int]
    dataset: str
    pkey: bytes
    lkey: bytes
    proposal: PaxosProposal
    sync: bool
    grant: _types_pb2.Version
    def __init__(self, dataset: _Optional[str] = ..., pkey: _Optional[bytes] = ..., lkey: _Optional[bytes] = ..., proposal: _Optional[_Union[PaxosProposal, _Mapping]] = ..., sync: _Optional[bool] = ..., grant: _Optional[_Union[_types_pb2.Version, _Mapping]] = ...) -> None: ...

class PaxosReply(_message.Message):
    __slots__ = ("ok", "promised", "accepted", "committed", "current", "granted", "stored")
    OK_FIELD_NUMBER: _ClassVar[int]
    PROMISED_FIELD_NUMBER: _ClassVar[int]
    ACCEPTED_FIELD_NUMBER: _ClassVar[int]
    COMMITTED_FIELD_NUMBER: _ClassVar[int]
    CURRENT_FIELD_NUMBER: _ClassVar[int]
    GRANTED_FIELD_NUMBER: _ClassVar[int]
    STORED_FIELD_NUMBER: _ClassVar[int]
    ok: bool
    promised: _types_pb2.Version
    accepted: PaxosProposal
    committed: PaxosProposal
    current: Entry
    granted: bool
    stored: bool
    def __init__(self, ok: _Optional[bool] = ..., promised: _Optional[_Union[_types_pb2.Version, _Mapping]] = ..., accepted: _Optional[_Union[PaxosProposal, _Mapping]] = ..., committed: _Optional[_Union[PaxosProposal, _Mapping]] = ..., current: _Optional[_Union[Entry, _Mapping]] = ..., granted: _Optional[bool] = ..., stored: _Optional[bool] = ...) -> None: ...
