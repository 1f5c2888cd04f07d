from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class MemberState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    MEMBER_STATE_UNSPECIFIED: _ClassVar[MemberState]
    JOINING: _ClassVar[MemberState]
    NORMAL: _ClassVar[MemberState]
    LEAVING: _ClassVar[MemberState]
MEMBER_STATE_UNSPECIFIED: MemberState
JOINING: MemberState
NORMAL: MemberState
LEAVING: MemberState

class MemberMessage(_message.Message):
    __slots__ = ("id", "address", "zone", "weight", "state", "alive")
    ID_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    ZONE_FIELD_NUMBER: _ClassVar[int]
    WEIGHT_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    ALIVE_FIELD_NUMBER: _ClassVar[int]
    id: int
    address: str
    zone: str
    weight: int
    state: MemberState
    alive: bool
    def __init__(self, id: _Optional[int] = ..., address: _Optional[str] = ..., zone: _Optional[str] = ..., weight: _Optional[int] = ..., state: _Optional[_Union[MemberState, str]] = ..., alive: _Optional[bool] = ...) -> None: ...

class TopologyMessage(_message.Message):
    __slots__ = ("epoch", "members", "vnodes")
    EPOCH_FIELD_NUMBER: _ClassVar[int]
    MEMBERS_FIELD_NUMBER: _ClassVar[int]
    VNODES_FIELD_NUMBER: _ClassVar[int]
    epoch: int
    members: _containers.RepeatedCompositeFieldContainer[MemberMessage]
    vnodes: int
    def __init__(self, epoch: _Optional[int] = ..., members: _Optional[_Iterable[_Union[MemberMessage, _Mapping]]] = ..., vnodes: _Optional[int] = ...) -> None: ...

class GetTopologyRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...
