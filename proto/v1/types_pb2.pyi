from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Consistency(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CONSISTENCY_DEFAULT: _ClassVar[Consistency]
    ONE: _ClassVar[Consistency]
    QUORUM: _ClassVar[Consistency]
    ALL: _ClassVar[Consistency]
    SERIAL: _ClassVar[Consistency]

class Durability(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DURABILITY_DEFAULT: _ClassVar[Durability]
    BUFFERED: _ClassVar[Durability]
    SYNC: _ClassVar[Durability]
CONSISTENCY_DEFAULT: Consistency
ONE: Consistency
QUORUM: Consistency
ALL: Consistency
SERIAL: Consistency
DURABILITY_DEFAULT: Durability
BUFFERED: Durability
SYNC: Durability

class Version(_message.Message):
    __slots__ = ("timestamp", "writer", "superseded_by")
    TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    WRITER_FIELD_NUMBER: _ClassVar[int]
    SUPERSEDED_BY_FIELD_NUMBER: _ClassVar[int]
    timestamp: int
    writer: int
    superseded_by: int
    def __init__(self, timestamp: _Optional[int] = ..., writer: _Optional[int] = ..., superseded_by: _Optional[int] = ...) -> None: ...

class Key(_message.Message):
    __slots__ = ("pkey", "lkey")
    PKEY_FIELD_NUMBER: _ClassVar[int]
    LKEY_FIELD_NUMBER: _ClassVar[int]
    pkey: bytes
    lkey: bytes
    def __init__(self, pkey: _Optional[bytes] = ..., lkey: _Optional[bytes] = ...) -> None: ...

class Record(_message.Message):
    __slots__ = ("pkey", "lkey", "value", "version", "expires_at_ms")
    PKEY_FIELD_NUMBER: _ClassVar[int]
    LKEY_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_MS_FIELD_NUMBER: _ClassVar[int]
    pkey: bytes
    lkey: bytes
    value: bytes
    version: Version
    expires_at_ms: int
    def __init__(self, pkey: _Optional[bytes] = ..., lkey: _Optional[bytes] = ..., value: _Optional[bytes] = ..., version: _Optional[_Union[Version, _Mapping]] = ..., expires_at_ms: _Optional[int] = ...) -> None: ...
