from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class TimelineStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TIMELINE_STATUS_UNSPECIFIED: _ClassVar[TimelineStatus]
    READY: _ClassVar[TimelineStatus]
    REBUILDING: _ClassVar[TimelineStatus]
TIMELINE_STATUS_UNSPECIFIED: TimelineStatus
READY: TimelineStatus
REBUILDING: TimelineStatus

class SetFanoutRequest(_message.Message):
    __slots__ = ("paused",)
    PAUSED_FIELD_NUMBER: _ClassVar[int]
    paused: bool
    def __init__(self, paused: _Optional[bool] = ...) -> None: ...

class SetFanoutResponse(_message.Message):
    __slots__ = ("paused",)
    PAUSED_FIELD_NUMBER: _ClassVar[int]
    paused: bool
    def __init__(self, paused: _Optional[bool] = ...) -> None: ...

class CreateUserRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class GetUserRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class UserResponse(_message.Message):
    __slots__ = ("name", "created_at_ms", "followers", "following", "celebrity", "tweets")
    NAME_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_MS_FIELD_NUMBER: _ClassVar[int]
    FOLLOWERS_FIELD_NUMBER: _ClassVar[int]
    FOLLOWING_FIELD_NUMBER: _ClassVar[int]
    CELEBRITY_FIELD_NUMBER: _ClassVar[int]
    TWEETS_FIELD_NUMBER: _ClassVar[int]
    name: str
    created_at_ms: int
    followers: int
    following: int
    celebrity: bool
    tweets: int
    def __init__(self, name: _Optional[str] = ..., created_at_ms: _Optional[int] = ..., followers: _Optional[int] = ..., following: _Optional[int] = ..., celebrity: _Optional[bool] = ..., tweets: _Optional[int] = ...) -> None: ...

class PostTweetRequest(_message.Message):
    __slots__ = ("author", "text", "reply_to", "id")
    AUTHOR_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    REPLY_TO_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    author: str
    text: str
    reply_to: int
    id: int
    def __init__(self, author: _Optional[str] = ..., text: _Optional[str] = ..., reply_to: _Optional[int] = ..., id: _Optional[int] = ...) -> None: ...

class Tweet(_message.Message):
    __slots__ = ("id", "author", "text", "reply_to", "created_at_ms")
    ID_FIELD_NUMBER: _ClassVar[int]
    AUTHOR_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    REPLY_TO_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_MS_FIELD_NUMBER: _ClassVar[int]
    id: int
    author: str
    text: str
    reply_to: int
    created_at_ms: int
    def __init__(self, id: _Optional[int] = ..., author: _Optional[str] = ..., text: _Optional[str] = ..., reply_to: _Optional[int] = ..., created_at_ms: _Optional[int] = ...) -> None: ...

class TweetResponse(_message.Message):
    __slots__ = ("tweet",)
    TWEET_FIELD_NUMBER: _ClassVar[int]
    tweet: Tweet
    def __init__(self, tweet: _Optional[_Union[Tweet, _Mapping]] = ...) -> None: ...

class GetTweetRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: int
    def __init__(self, id: _Optional[int] = ...) -> None: ...

class DeleteTweetRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: int
    def __init__(self, id: _Optional[int] = ...) -> None: ...

class DeleteTweetResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class FollowRequest(_message.Message):
    __slots__ = ("follower", "followee")
    FOLLOWER_FIELD_NUMBER: _ClassVar[int]
    FOLLOWEE_FIELD_NUMBER: _ClassVar[int]
    follower: str
    followee: str
    def __init__(self, follower: _Optional[str] = ..., followee: _Optional[str] = ...) -> None: ...

class FollowResponse(_message.Message):
    __slots__ = ("changed",)
    CHANGED_FIELD_NUMBER: _ClassVar[int]
    changed: bool
    def __init__(self, changed: _Optional[bool] = ...) -> None: ...

class TimelineRequest(_message.Message):
    __slots__ = ("user", "limit", "cursor")
    USER_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    CURSOR_FIELD_NUMBER: _ClassVar[int]
    user: str
    limit: int
    cursor: bytes
    def __init__(self, user: _Optional[str] = ..., limit: _Optional[int] = ..., cursor: _Optional[bytes] = ...) -> None: ...

class TimelineResponse(_message.Message):
    __slots__ = ("tweets", "next_cursor", "status")
    TWEETS_FIELD_NUMBER: _ClassVar[int]
    NEXT_CURSOR_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    tweets: _containers.RepeatedCompositeFieldContainer[Tweet]
    next_cursor: bytes
    status: TimelineStatus
    def __init__(self, tweets: _Optional[_Iterable[_Union[Tweet, _Mapping]]] = ..., next_cursor: _Optional[bytes] = ..., status: _Optional[_Union[TimelineStatus, str]] = ...) -> None: ...

class UserListRequest(_message.Message):
    __slots__ = ("user", "limit", "cursor")
    USER_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    CURSOR_FIELD_NUMBER: _ClassVar[int]
    user: str
    limit: int
    cursor: bytes
    def __init__(self, user: _Optional[str] = ..., limit: _Optional[int] = ..., cursor: _Optional[bytes] = ...) -> None: ...

class UserListResponse(_message.Message):
    __slots__ = ("users", "next_cursor", "total")
    USERS_FIELD_NUMBER: _ClassVar[int]
    NEXT_CURSOR_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    users: _containers.RepeatedScalarFieldContainer[str]
    next_cursor: bytes
    total: int
    def __init__(self, users: _Optional[_Iterable[str]] = ..., next_cursor: _Optional[bytes] = ..., total: _Optional[int] = ...) -> None: ...

class NextIdRequest(_message.Message):
    __slots__ = ("count",)
    COUNT_FIELD_NUMBER: _ClassVar[int]
    count: int
    def __init__(self, count: _Optional[int] = ...) -> None: ...

class NextIdResponse(_message.Message):
    __slots__ = ("ids",)
    IDS_FIELD_NUMBER: _ClassVar[int]
    ids: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, ids: _Optional[_Iterable[int]] = ...) -> None: ...

class StatsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class StatsResponse(_message.Message):
    __slots__ = ("fanout_pending", "fanout_lag_ms", "deliveries", "jobs_done", "celebrity_threshold", "worker", "datacenter", "ids_issued", "clock_backward_errors", "fanout_paused")
    FANOUT_PENDING_FIELD_NUMBER: _ClassVar[int]
    FANOUT_LAG_MS_FIELD_NUMBER: _ClassVar[int]
    DELIVERIES_FIELD_NUMBER: _ClassVar[int]
    JOBS_DONE_FIELD_NUMBER: _ClassVar[int]
    CELEBRITY_THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    WORKER_FIELD_NUMBER: _ClassVar[int]
    DATACENTER_FIELD_NUMBER: _ClassVar[int]
    IDS_ISSUED_FIELD_NUMBER: _ClassVar[int]
    CLOCK_BACKWARD_ERRORS_FIELD_NUMBER: _ClassVar[int]
    FANOUT_PAUSED_FIELD_NUMBER: _ClassVar[int]
    fanout_pending: int
    fanout_lag_ms: int
    deliveries: int
    jobs_done: int
    celebrity_threshold: int
    worker: int
    datacenter: int
    ids_issued: int
    clock_backward_errors: int
    fanout_paused: bool
    def __init__(self, fanout_pending: _Optional[int] = ..., fanout_lag_ms: _Optional[int] = ..., deliveries: _Optional[int] = ..., jobs_done: _Optional[int] = ..., celebrity_threshold: _Optional[int] = ..., worker: _Optional[int] = ..., datacenter: _Optional[int] = ..., ids_issued: _Optional[int] = ..., clock_backward_errors: _Optional[int] = ..., fanout_paused: _Optional[bool] = ...) -> None: ...
