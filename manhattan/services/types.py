"""The social service's value types: what its API returns, to the service's own code and
to its SDK (``manhattan.services.client``) alike. The service owns them; the storage SDK
(``manhattan.client``) knows nothing of tweets."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["SocialStats", "SocialUser", "TimelinePage", "Tweet", "UserPage"]


@dataclass(frozen=True, slots=True)
class Tweet:
    """One tweet; ``id`` is its Snowflake id (time-ordered), ``reply_to`` 0 for none."""

    id: int
    author: str
    text: str
    created_at_ms: int
    reply_to: int = 0


@dataclass(frozen=True, slots=True)
class SocialUser:
    """A user's profile, counts and celebrity flag (celebrities are merged at read)."""

    name: str
    created_at_ms: int
    followers: int = 0
    following: int = 0
    celebrity: bool = False
    tweets: int = 0  # tweets posted and not deleted (the service's counter)


@dataclass(frozen=True, slots=True)
class TimelinePage:
    """A page of tweets, newest first; ``cursor`` is None at the end. ``rebuilding``: the
    user was inactive and the stored timeline is being rebuilt (the page is complete)."""

    tweets: list[Tweet]
    cursor: bytes | None
    rebuilding: bool = False


@dataclass(frozen=True, slots=True)
class UserPage:
    """A page of a follower or followee list, in name order, and the list's total."""

    users: list[str]
    cursor: bytes | None
    total: int


@dataclass(frozen=True, slots=True)
class SocialStats:
    """Fan-out backlog and progress, and the ID generator's state, of one service process."""

    fanout_pending: int
    fanout_lag_ms: int
    deliveries: int
    jobs_done: int
    celebrity_threshold: int
    datacenter: int
    worker: int
    ids_issued: int
    clock_backward_errors: int
    fanout_paused: bool = False
