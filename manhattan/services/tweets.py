"""Tweets and user timelines (``user_tweets``: a user's own tweets, newest first).

A tweet is written here by its deliver job (the post itself is the job, see
:mod:`manhattan.services.queue`). A deleted tweet keeps a small ``deleted`` marker
beside its tombstone, so a deliver job that runs late cannot bring it back.
"""

from __future__ import annotations

import asyncio
import struct

from manhattan.client import AsyncClient, Delete, InvalidRequest, Put
from manhattan.services.caches import RecentIdsCache, TtlCache
from manhattan.services.scans import first_records
from manhattan.services.schema import (
    TOP, Datasets, Tweet, decode_tweet, encode_tweet, id_key, key_id,
)
from manhattan.types import Consistency, Durability

Q = Consistency.QUORUM
DELETED = b"deleted"
MAX_PAGE = 200
TWEET_CACHE_TTL_S = 5.0
TWEET_CACHE_ENTRIES = 100_000


class Tweets:
    """Store, fetch and delete tweets; list a user's own."""

    def __init__(self, client: AsyncClient, datasets: Datasets) -> None:
        self.tweets = client.dataset(datasets.tweets)
        self.by_user = client.dataset(datasets.user_tweets)
        self.cache: TtlCache[int, Tweet] = TtlCache(TWEET_CACHE_TTL_S, TWEET_CACHE_ENTRIES)
        self.recent = RecentIdsCache()  # celebrities' newest ids, merged into many pages

    async def store(self, tweets: list[Tweet]) -> None:
        """The tweets and their authors' timeline entries (durable; idempotent): one
        write per dataset and replica set, however many tweets."""
        for tweet in tweets:
            self.recent.evict(tweet.author)  # its author's newest ids change now
        await asyncio.gather(
            self.tweets.put_many([Put(id_key(t.id), b"", encode_tweet(t)) for t in tweets],
                                 consistency=Q, durability=Durability.SYNC),
            self.by_user.put_many([Put(t.author, id_key(t.id), b"") for t in tweets],
                                  consistency=Q, durability=Durability.SYNC))

    async def lookup(self, tweet_id: int) -> tuple[Tweet | None, bool]:
        """(the stored tweet or None, whether it was deleted): one read."""
        record, deleted = await self.tweets.get_many(
            [(id_key(tweet_id), b""), (id_key(tweet_id), DELETED)], consistency=Q)
        if deleted is not None:
            return None, True
        return (decode_tweet(record.value) if record is not None else None), False

    async def is_deleted(self, tweet_id: int) -> bool:
        return await self.tweets.get(id_key(tweet_id), DELETED, consistency=Q) is not None

    async def deleted_among(self, ids: list[int]) -> set[int]:
        """Which of ``ids`` were deleted: one multi-get of their markers."""
        found = await self.tweets.get_many([(id_key(i), DELETED) for i in ids], consistency=Q)
        return {i for i, record in zip(ids, found) if record is not None}

    async def get_many(self, ids: list[int]) -> dict[int, Tweet]:
        """The tweets that exist among ``ids``: the cached ones, the rest with one
        multi-get (see manhattan.services.caches for how stale a cached one can be)."""
        found: dict[int, Tweet] = {}
        missing = []
        for i in ids:
            cached = self.cache.get(i)
            if cached is None:
                missing.append(i)
            else:
                found[i] = cached
        if missing:
            records = await self.tweets.get_many([(id_key(i), b"") for i in missing],
                                                 consistency=Q)
            for i, record in zip(missing, records):
                if record is not None:
                    found[i] = self._cached(decode_tweet(record.value))
        return found

    def _cached(self, tweet: Tweet) -> Tweet:
        self.cache.put(tweet.id, tweet)
        return tweet

    async def delete(self, tweet_id: int, author: str) -> None:
        """Mark deleted and drop the tweet and its timeline entry (idempotent)."""
        self.cache.evict([tweet_id])
        self.recent.evict(author)
        key = id_key(tweet_id)
        await asyncio.gather(
            self.tweets.put_many([Put(key, DELETED, b""), Delete(key, b"")], consistency=Q,
                                 durability=Durability.SYNC),
            self.by_user.delete(author, key, consistency=Q, durability=Durability.SYNC))

    async def recent_ids(self, user: str, *, below: int, above: int, limit: int) -> list[int]:
        """Ids of ``user``'s tweets with above < id < below, newest first."""
        if below <= above + 1 or limit <= 0:
            return []
        records = await first_records(self.by_user, user, limit, start=id_key(above + 1),
                                      end=id_key(below), reverse=True)
        return [key_id(r.lkey) for r in records]

    async def recent_ids_cached(self, user: str, *, below: int, limit: int) -> list[int]:
        """``recent_ids`` (above -1) from the short-lived cache of ``user``'s newest ids
        when it covers the question, else read (and, for the newest, cached)."""
        cached = self.recent.lookup(user, below=below, limit=limit)
        if cached is not None:
            return cached
        if below != TOP:
            return await self.recent_ids(user, below=below, above=-1, limit=limit)
        newest = await self.recent_ids(user, below=TOP, above=-1,
                                       limit=max(limit, self.recent.depth))
        self.recent.store(user, newest)
        return newest[:limit]

    async def user_timeline(self, user: str, *, limit: int, cursor: bytes
                            ) -> tuple[list[Tweet], bytes]:
        """A page of ``user``'s tweets, newest first, and the cursor for the next one."""
        below = decode_id_cursor(cursor) if cursor else TOP
        ids = await self.recent_ids(user, below=below, above=-1, limit=limit + 1)
        more = len(ids) > limit
        ids = ids[:limit]
        found = await self.get_many(ids)
        tweets = [found[i] for i in ids if i in found]
        return tweets, (encode_id_cursor(ids[-1]) if more and ids else b"")


def encode_id_cursor(tweet_id: int) -> bytes:
    return struct.pack(">Q", tweet_id)


def decode_id_cursor(cursor: bytes) -> int:
    if len(cursor) != 8:
        raise InvalidRequest("cursor is not one this service returned")
    return struct.unpack(">Q", cursor)[0]
