"""The social service's datasets, key layout and value codecs.

Every dataset belongs to one tenant (default ``social``) and is named
``<namespace>-<role>`` so several deployments can share a cluster:

=============  ================  ==========================  =======================
role           pkey              lkey                        value
=============  ================  ==========================  =======================
users          user              ``profile``                 JSON profile
counts         user              ``n:followers`` /           a counter (kind counter:
               (counter)         ``n:following`` /           increments merged, never
                                 ``n:tweets``                lost)
tweets         tweet id (8 B)    ``""``                      JSON tweet
user_tweets    user              tweet id                    ``""``
followers      user              follower                    ``""``
following      user              followee                    ``""``
home           user              tweet id /                  author (for cheap filters) /
                                 ``\xff`` + state name      state: seen, rebuild, floor
celebrities    ``all``           user                        ``""``
queue          ``shard/<n>``     job id                      JSON job
leases         lease name        ``""``                      JSON lease
=============  ================  ==========================  =======================

Tweet ids are Snowflake IDs written big-endian, so lkey order is id order and
a reverse scan is newest-first. A home partition keeps its timeline's state
(last seen, rebuild in progress, trim floor) under lkeys starting ``\xff``, above
every id (ids are below 2**63, so their first byte is below 0x80): one reverse
scan from the top reads the state and then the newest entries.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass

from manhattan.services.types import Tweet
from manhattan.errors import InvalidRequest

ROLES = ("users", "tweets", "user_tweets", "followers", "following", "home", "celebrities",
         "queue", "leases", "counts")
COUNTER_ROLES = ("counts",)  # datasets of kind "counter"
MAX_TWEET_CHARS = 280
_USER = re.compile(r"^[a-z0-9_]{1,15}$")

PROFILE = b"profile"
FOLLOWERS_COUNT = b"n:followers"
FOLLOWING_COUNT = b"n:following"
TWEETS_COUNT = b"n:tweets"
# Moves (+1) after every follow or unfollow of the user, never back: a cached follower
# list read when it had a value is current while it still has that value.
FOLLOWER_CHANGES = b"n:follower_changes"
# Home-timeline state, in the user's home partition (see the module docstring).
HOME_STATE = b"\xff"
SEEN = HOME_STATE + b"seen"  # last visit, ms
REBUILD = HOME_STATE + b"rebuild"  # the running rebuild's job id
FLOOR = HOME_STATE + b"floor"  # entries at or below this id were trimmed
CELEBRITIES_KEY = b"all"


@dataclass(frozen=True, slots=True)
class Datasets:
    """The dataset names of one deployment."""

    namespace: str = "social"

    def __getattr__(self, role: str) -> str:
        if role in ROLES:
            return f"{self.namespace}-{role}"
        raise AttributeError(role)

    def all(self) -> list[str]:
        return [f"{self.namespace}-{role}" for role in ROLES]


TOP = 1 << 63  # above every Snowflake id: "below TOP" means from the newest


def id_key(tweet_id: int) -> bytes:
    """The 8-byte big-endian form: sorts like the number."""
    return tweet_id.to_bytes(8, "big")


def key_id(raw: bytes) -> int:
    return int.from_bytes(raw, "big")


def check_user(name: str, what: str = "user") -> str:
    """A user name: 1-15 of a-z, 0-9, '_' (case-insensitive, stored lowercase)."""
    lowered = (name or "").strip().lower()
    if not _USER.match(lowered):
        raise InvalidRequest(f"{what} name {name!r} is invalid: use 1-15 letters, digits or '_'")
    return lowered


def check_text(text: str) -> str:
    """Tweet text: 1-280 characters counted as code points, not only whitespace."""
    if not text or not text.strip():
        raise InvalidRequest("tweet text is empty")
    if len(text) > MAX_TWEET_CHARS:
        raise InvalidRequest(
            f"tweet text is {len(text)} characters; the limit is {MAX_TWEET_CHARS}")
    if "\x00" in text:
        raise InvalidRequest("tweet text contains a NUL character")
    return text


def encode_tweet(tweet: Tweet) -> bytes:
    """The stored form of a tweet (JSON of ``manhattan.services.types.Tweet``)."""
    return json.dumps(asdict(tweet), ensure_ascii=False, separators=(",", ":")).encode()


def decode_tweet(raw: bytes) -> Tweet:
    return Tweet(**json.loads(raw))


def encode_json(value: dict) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()
