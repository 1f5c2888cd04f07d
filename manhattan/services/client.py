"""SDK for the social service: ``SocialClient(endpoint, token=...)`` and
``AsyncSocialClient``. The token is the service's API token (``api_token`` in the
``social.toml`` it writes); a call without the right one is ``Unauthenticated``.

It lives next to the service (the storage SDK, ``manhattan.client``, knows nothing of
tweets) and returns the service's own types (``manhattan.services.types``). Both
clients share request building and reply parsing (``_Operations``); they differ only in
how a call is made. Errors are the same ``ManhattanError`` classes as the storage
SDK's (``InvalidRequest`` for a 281-character tweet, ``NotFound`` for an unknown user,
...). Reads and ``next_ids`` are retried on ``Unavailable`` and ``ConnectionLost`` (a
read lost with its connection). A post takes its id first
(from a block fetched with ``NextId``, one call per 16 posts) and sends it, so a post
whose outcome is unknown (``Timeout``) or that was not sent (``Unavailable``) is retried
with the same id: stored once, never twice. The other writes are not retried.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import grpc
from tenacity import AsyncRetrying, Retrying, retry_if_exception_type, stop_after_attempt, \
    wait_exponential

from manhattan.client import ConnectionLost, Timeout, Unavailable
from manhattan.client.errors import from_rpc_error
from manhattan.proto.v1 import social_pb2, social_pb2_grpc
from manhattan.services.types import SocialStats, SocialUser, TimelinePage, Tweet, UserPage

__all__ = ["AsyncSocialClient", "SocialClient", "SocialStats", "SocialUser", "TimelinePage",
           "Tweet", "UserPage"]

DEFAULT_TIMEOUT = 5.0
# Social replies are small (a page is at most 200 tweets): gRPC's default limits hold.
CHANNEL_OPTIONS = (("grpc.keepalive_time_ms", 30_000), ("grpc.enable_retries", 0),
                   ("grpc.initial_reconnect_backoff_ms", 200),
                   ("grpc.min_reconnect_backoff_ms", 200))
_READS = {"GetUser", "GetTweet", "HomeTimeline", "UserTimeline", "Followers", "Following",
          "NextId", "Stats"}


def _auth(token: str) -> tuple[tuple[str, str], ...]:
    """The metadata every call carries: the service's API token."""
    if not token:
        raise ValueError("the social service needs its API token (api_token in social.toml)")
    return (("authorization", f"Bearer {token}"),)


def _tweet(p: social_pb2.Tweet) -> Tweet:
    return Tweet(p.id, p.author, p.text, p.created_at_ms, p.reply_to)


def _user(p: social_pb2.UserResponse) -> SocialUser:
    return SocialUser(p.name, p.created_at_ms, p.followers, p.following, p.celebrity, p.tweets)


def _page(p: social_pb2.TimelineResponse) -> TimelinePage:
    return TimelinePage([_tweet(t) for t in p.tweets], p.next_cursor or None,
                        p.status == social_pb2.REBUILDING)


def _users(p: social_pb2.UserListResponse) -> UserPage:
    return UserPage(list(p.users), p.next_cursor or None, p.total)


def _stats(p: social_pb2.StatsResponse) -> SocialStats:
    return SocialStats(p.fanout_pending, p.fanout_lag_ms, p.deliveries, p.jobs_done,
                       p.celebrity_threshold, p.datacenter, p.worker, p.ids_issued,
                       p.clock_backward_errors, p.fanout_paused)


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

    def _post(self, author: str, text: str, reply_to: int, tweet_id: int) -> Any:
        """The PostTweet call under ``tweet_id``: retried as one idempotent call."""
        return self._run("PostTweet", social_pb2.PostTweetRequest(
            author=author, text=text, reply_to=reply_to, id=tweet_id),
            lambda r: _tweet(r.tweet))

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

    def set_fanout(self, *, paused: bool) -> Any:
        """Pause or resume the service's fan-out workers (posts are still taken and
        queued). -> bool, whether they are paused now"""
        return self._run("SetFanout", social_pb2.SetFanoutRequest(paused=paused),
                         lambda r: r.paused)


def _retry_args(rpc: str) -> dict[str, Any]:
    # A post carries its id: a retry of an unknown outcome stores the same tweet.
    retry_on = (Unavailable, Timeout) if rpc == "PostTweet" else (Unavailable, ConnectionLost)
    attempts = 4 if rpc in _READS or rpc == "PostTweet" else 1
    return {"stop": stop_after_attempt(attempts), "reraise": True,
            "retry": retry_if_exception_type(retry_on),
            "wait": wait_exponential(multiplier=0.05, max=1.0)}


class _PostIds:
    """Post ids taken from ``NextId`` a block at a time (one call per ``BLOCK`` posts),
    each used while fresh: the service takes an id under a second old without looking it
    up, and a tweet's time is its id's."""

    BLOCK = 16
    MAX_AGE_S = 0.5

    def __init__(self) -> None:
        self._ids: deque[int] = deque()
        self._taken_at = 0.0
        self._lock = threading.Lock()

    def take(self) -> int | None:
        with self._lock:
            if self._ids and time.monotonic() - self._taken_at <= self.MAX_AGE_S:
                return self._ids.popleft()
            self._ids.clear()
            return None

    def keep(self, ids: list[int], taken_at: float) -> int:
        """Keep a fresh block; the first id is the caller's."""
        with self._lock:
            if not self._ids or self._ids[-1] < ids[0]:  # never swap a newer block out
                self._ids = deque(ids[1:])
                self._taken_at = taken_at
        return ids[0]


class SocialClient(_Operations):
    """Blocking client of the social service. Thread-safe; close() or use ``with``."""

    def __init__(self, endpoint: str, *, token: str, timeout: float = DEFAULT_TIMEOUT
                 ) -> None:
        self.endpoint = endpoint
        self.timeout = timeout
        self._metadata = _auth(token)
        self._channel = grpc.insecure_channel(endpoint, options=CHANNEL_OPTIONS)
        self._stub = social_pb2_grpc.SocialStub(self._channel)
        self._ids = _PostIds()

    def _run(self, rpc: str, request: Any, parse: Callable[[Any], Any]) -> Any:
        for attempt in Retrying(**_retry_args(rpc)):
            with attempt:
                try:
                    return parse(getattr(self._stub, rpc)(request, timeout=self.timeout,
                                                          metadata=self._metadata))
                except grpc.RpcError as exc:
                    raise from_rpc_error(exc) from None
        raise AssertionError("unreachable")  # pragma: no cover

    def next_id(self) -> int:
        """One Snowflake ID."""
        return self.next_ids(1)[0]

    def post(self, author: str, text: str, reply_to: int = 0, *,
             tweet_id: int | None = None) -> Tweet:
        """Post a tweet (1-280 characters); returns once stored, before fan-out. Takes an
        id first (or uses ``tweet_id``, from ``next_id``) so retries store it once."""
        if not tweet_id:
            tweet_id = self._ids.take()
        if not tweet_id:
            asked = time.monotonic()
            tweet_id = self._ids.keep(self.next_ids(_PostIds.BLOCK), asked)
        return self._post(author, text, reply_to, tweet_id)

    def close(self) -> None:
        self._channel.close()

    def __enter__(self) -> "SocialClient":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class AsyncSocialClient(_Operations):
    """asyncio client of the social service; ``await close()`` or ``async with``."""

    def __init__(self, endpoint: str, *, token: str, timeout: float = DEFAULT_TIMEOUT
                 ) -> None:
        self.endpoint = endpoint
        self.timeout = timeout
        self._metadata = _auth(token)
        self._channel = grpc.aio.insecure_channel(endpoint, options=CHANNEL_OPTIONS)
        self._stub = social_pb2_grpc.SocialStub(self._channel)
        self._ids = _PostIds()

    async def _run(self, rpc: str, request: Any, parse: Callable[[Any], Any]) -> Any:
        async for attempt in AsyncRetrying(**_retry_args(rpc)):
            with attempt:
                try:
                    return parse(await getattr(self._stub, rpc)(
                        request, timeout=self.timeout, metadata=self._metadata))
                except grpc.RpcError as exc:
                    raise from_rpc_error(exc) from None
        raise AssertionError("unreachable")  # pragma: no cover

    async def next_id(self) -> int:
        """One Snowflake ID."""
        return (await self.next_ids(1))[0]

    async def post(self, author: str, text: str, reply_to: int = 0, *,
                   tweet_id: int | None = None) -> Tweet:
        """``SocialClient.post``, asyncio."""
        if not tweet_id:
            tweet_id = self._ids.take()
        if not tweet_id:
            asked = time.monotonic()
            tweet_id = self._ids.keep(await self.next_ids(_PostIds.BLOCK), asked)
        return await self._post(author, text, reply_to, tweet_id)

    async def close(self) -> None:
        await self._channel.close()

    async def __aenter__(self) -> "AsyncSocialClient":
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()
