"""SDK for the social service: ``SocialClient(endpoint)`` and ``AsyncSocialClient``.

Both share request building and reply parsing (``_Operations``); they differ only in
how a call is made. Errors are the same ``ManhattanError`` classes as the
storage SDK's (``InvalidRequest`` for a 281-character tweet, ``NotFound`` for
an unknown user, ...). Reads and ``next_ids`` are retried on ``Unavailable`` and
``ConnectionLost``; writes are not (a retried post could post twice).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import grpc
from tenacity import AsyncRetrying, Retrying, retry_if_exception_type, stop_after_attempt, \
    wait_exponential

from manhattan.client.core import CHANNEL_OPTIONS, DEFAULT_TIMEOUT
from manhattan.client.errors import ConnectionLost, Unavailable, from_rpc_error
from manhattan.proto.v1 import social_pb2, social_pb2_grpc

_READS = {"GetUser", "GetTweet", "HomeTimeline", "UserTimeline", "Followers", "Following",
          "NextId", "Stats"}


@dataclass(frozen=True, slots=True)
class Tweet:
    id: int
    author: str
    text: str
    created_at_ms: int
    reply_to: int = 0


@dataclass(frozen=True, slots=True)
class SocialUser:
    name: str
    created_at_ms: int
    followers: int
    following: int
    celebrity: bool


@dataclass(frozen=True, slots=True)
class TimelinePage:
    """A page of tweets, newest first; ``cursor`` is None at the end. ``rebuilding``: the
    user was inactive and the stored timeline is being rebuilt (the page is complete)."""

    tweets: list[Tweet]
    cursor: bytes | None
    rebuilding: bool = False


@dataclass(frozen=True, slots=True)
class UserPage:
    users: list[str]
    cursor: bytes | None
    total: int


@dataclass(frozen=True, slots=True)
class SocialStats:
    fanout_pending: int
    fanout_lag_ms: int
    deliveries: int
    jobs_done: int
    celebrity_threshold: int
    datacenter: int
    worker: int
    ids_issued: int
    clock_backward_errors: int


def _tweet(p: social_pb2.Tweet) -> Tweet:
    return Tweet(p.id, p.author, p.text, p.created_at_ms, p.reply_to)


def _user(p: social_pb2.UserResponse) -> SocialUser:
    return SocialUser(p.name, p.created_at_ms, p.followers, p.following, p.celebrity)


def _page(p: social_pb2.TimelineResponse) -> TimelinePage:
    return TimelinePage([_tweet(t) for t in p.tweets], p.next_cursor or None,
                        p.status == social_pb2.REBUILDING)


def _users(p: social_pb2.UserListResponse) -> UserPage:
    return UserPage(list(p.users), p.next_cursor or None, p.total)


def _stats(p: social_pb2.StatsResponse) -> SocialStats:
    return SocialStats(p.fanout_pending, p.fanout_lag_ms, p.deliveries, p.jobs_done,
                       p.celebrity_threshold, p.datacenter, p.worker, p.ids_issued,
                       p.clock_backward_errors)


class _Operations:
    """Every operation, once: builds the request and names the parser. ``_run`` makes the
    call (blocking in ``SocialClient``; a coroutine in ``AsyncSocialClient``)."""

    def _run(self, rpc: str, request: Any, parse: Callable[[Any], Any]) -> Any:
        raise NotImplementedError

    def create_user(self, name: str) -> Any:
        """Register a user (1-15 of a-z, 0-9, '_'). -> SocialUser"""
        return self._run("CreateUser", social_pb2.CreateUserRequest(name=name), _user)

    def user(self, name: str) -> Any:
        """A user's profile, counts and celebrity flag. -> SocialUser"""
        return self._run("GetUser", social_pb2.GetUserRequest(name=name), _user)

    def post(self, author: str, text: str, reply_to: int = 0) -> Any:
        """Post a tweet (1-280 characters); returns once stored, before fan-out. -> Tweet"""
        return self._run("PostTweet", social_pb2.PostTweetRequest(
            author=author, text=text, reply_to=reply_to), lambda r: _tweet(r.tweet))

    def tweet(self, tweet_id: int) -> Any:
        """One tweet. -> Tweet"""
        return self._run("GetTweet", social_pb2.GetTweetRequest(id=tweet_id),
                         lambda r: _tweet(r.tweet))

    def delete(self, tweet_id: int) -> Any:
        """Delete a tweet (and, in the background, from every timeline). -> None"""
        return self._run("DeleteTweet", social_pb2.DeleteTweetRequest(id=tweet_id),
                         lambda r: None)

    def follow(self, follower: str, followee: str) -> Any:
        """-> bool: False if already following."""
        return self._run("Follow", social_pb2.FollowRequest(
            follower=follower, followee=followee), lambda r: r.changed)

    def unfollow(self, follower: str, followee: str) -> Any:
        """-> bool: False if not following."""
        return self._run("Unfollow", social_pb2.FollowRequest(
            follower=follower, followee=followee), lambda r: r.changed)

    def home(self, user: str, limit: int = 0, cursor: bytes | None = None) -> Any:
        """A page of the home timeline, newest first. -> TimelinePage"""
        return self._run("HomeTimeline", social_pb2.TimelineRequest(
            user=user, limit=limit, cursor=cursor or b""), _page)

    def user_timeline(self, user: str, limit: int = 0, cursor: bytes | None = None) -> Any:
        """A page of the user's own tweets, newest first. -> TimelinePage"""
        return self._run("UserTimeline", social_pb2.TimelineRequest(
            user=user, limit=limit, cursor=cursor or b""), _page)

    def followers(self, user: str, limit: int = 0, cursor: bytes | None = None) -> Any:
        """-> UserPage"""
        return self._run("Followers", social_pb2.UserListRequest(
            user=user, limit=limit, cursor=cursor or b""), _users)

    def following(self, user: str, limit: int = 0, cursor: bytes | None = None) -> Any:
        """-> UserPage"""
        return self._run("Following", social_pb2.UserListRequest(
            user=user, limit=limit, cursor=cursor or b""), _users)

    def next_ids(self, count: int = 1) -> Any:
        """``count`` (1-4096) Snowflake IDs, ascending. -> list[int]"""
        return self._run("NextId", social_pb2.NextIdRequest(count=count), lambda r: list(r.ids))

    def stats(self) -> Any:
        """Fan-out backlog and lag, deliveries, ID generator state. -> SocialStats"""
        return self._run("Stats", social_pb2.StatsRequest(), _stats)


def _retry_args(rpc: str) -> dict[str, Any]:
    attempts = 4 if rpc in _READS else 1
    return {"stop": stop_after_attempt(attempts), "reraise": True,
            # reads only (writes get one attempt): nothing was done, or a read was lost
            "retry": retry_if_exception_type((Unavailable, ConnectionLost)),
            "wait": wait_exponential(multiplier=0.05, max=1.0)}


class SocialClient(_Operations):
    """Blocking client of the social service. Thread-safe; close() or use ``with``."""

    def __init__(self, endpoint: str, *, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.endpoint = endpoint
        self.timeout = timeout
        self._channel = grpc.insecure_channel(endpoint, options=CHANNEL_OPTIONS)
        self._stub = social_pb2_grpc.SocialStub(self._channel)

    def _run(self, rpc: str, request: Any, parse: Callable[[Any], Any]) -> Any:
        for attempt in Retrying(**_retry_args(rpc)):
            with attempt:
                try:
                    return parse(getattr(self._stub, rpc)(request, timeout=self.timeout))
                except grpc.RpcError as exc:
                    raise from_rpc_error(exc) from None
        raise AssertionError("unreachable")  # pragma: no cover

    def next_id(self) -> int:
        """One Snowflake ID."""
        return self.next_ids(1)[0]

    def close(self) -> None:
        self._channel.close()

    def __enter__(self) -> "SocialClient":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class AsyncSocialClient(_Operations):
    """asyncio client of the social service; ``await close()`` or ``async with``."""

    def __init__(self, endpoint: str, *, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.endpoint = endpoint
        self.timeout = timeout
        self._channel = grpc.aio.insecure_channel(endpoint, options=CHANNEL_OPTIONS)
        self._stub = social_pb2_grpc.SocialStub(self._channel)

    async def _run(self, rpc: str, request: Any, parse: Callable[[Any], Any]) -> Any:
        async for attempt in AsyncRetrying(**_retry_args(rpc)):
            with attempt:
                try:
                    return parse(await getattr(self._stub, rpc)(request, timeout=self.timeout))
                except grpc.RpcError as exc:
                    raise from_rpc_error(exc) from None
        raise AssertionError("unreachable")  # pragma: no cover

    async def next_id(self) -> int:
        """One Snowflake ID."""
        return (await self.next_ids(1))[0]

    async def close(self) -> None:
        await self._channel.close()

    async def __aenter__(self) -> "AsyncSocialClient":
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()
