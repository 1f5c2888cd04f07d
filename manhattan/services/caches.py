"""Short-lived read caches of the social service, in the spirit of Twitter's tweet caches.

A home page hydrates up to 50 tweets and merges the newest tweets of every
followed celebrity; the same few hot tweets and celebrity timelines are read
by many users within a second. Tweets never change once written, so a cached
copy is only ever stale by a deletion, and a celebrity's newest ids only by a
post made since: both caches expire quickly (``TweetCache`` 5 s,
``RecentIdsCache`` 1 s), a delete through this process evicts at once, and
another service process may show a deleted tweet or miss a new celebrity
tweet for at most that long — the same window its fan-out queue already has.

Fan-out's follower lists are different: a stale one loses deliveries for good, so
``FollowerLists`` is exact, not timed (see there).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Iterable
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class TtlCache(Generic[K, V]):
    """A bounded LRU whose entries expire ``ttl_s`` after they were stored."""

    def __init__(self, ttl_s: float, max_entries: int) -> None:
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self._entries: OrderedDict[K, tuple[float, V]] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def get(self, key: K) -> V | None:
        entry = self._entries.get(key)
        if entry is None or entry[0] < time.monotonic():
            if entry is not None:
                del self._entries[key]
            self.misses += 1
            return None
        self._entries.move_to_end(key)
        self.hits += 1
        return entry[1]

    def put(self, key: K, value: V) -> None:
        self._entries[key] = (time.monotonic() + self.ttl_s, value)
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def evict(self, keys: Iterable[K]) -> None:
        for key in keys:
            self._entries.pop(key, None)


class FollowerLists:
    """Whole follower lists for fan-out, each tagged with the author's follower-changes
    counter (``FOLLOWER_CHANGES``) as it was read before the list was: the list is
    current while the counter still reads the same. Every follow and unfollow, through
    any service process, moves the counter after it wrote the edge, so no process serves
    a list that misses a finished follow. ``ttl_s`` bounds what a change that skipped the
    counter can leave stale (a bulk load, a follow whose caller gave up between its
    edge and the counter). Bounded by the names held in all (LRU)."""

    def __init__(self, ttl_s: float = 60.0, max_names: int = 500_000) -> None:
        self.ttl_s = ttl_s
        self.max_names = max_names
        self._lists: OrderedDict[str, tuple[float, int, list[str]]] = OrderedDict()
        self._names = 0

    def get(self, author: str, changes: int) -> list[str] | None:
        """The cached list, if it was read at ``changes`` and has not expired."""
        entry = self._lists.get(author)
        if entry is None or entry[1] != changes or entry[0] < time.monotonic():
            return None
        self._lists.move_to_end(author)
        return entry[2]

    def put(self, author: str, changes: int, names: list[str]) -> None:
        self.evict(author)
        if len(names) > self.max_names:
            return
        self._lists[author] = (time.monotonic() + self.ttl_s, changes, names)
        self._names += len(names)
        while self._names > self.max_names:
            _, (_, _, dropped) = self._lists.popitem(last=False)
            self._names -= len(dropped)

    def evict(self, author: str) -> None:
        entry = self._lists.pop(author, None)
        if entry is not None:
            self._names -= len(entry[2])


class RecentIdsCache:
    """The newest ``depth`` tweet ids of a user (newest first), answered from memory
    when the cached list covers the question.

    A list shorter than ``depth`` holds every tweet the user had when it was read,
    so it answers any question; a full one answers questions whose ids it spans.
    """

    def __init__(self, ttl_s: float = 1.0, depth: int = 200, max_users: int = 10_000) -> None:
        self.depth = depth
        self._lists: TtlCache[str, list[int]] = TtlCache(ttl_s, max_users)

    def lookup(self, user: str, *, below: int, limit: int) -> list[int] | None:
        """Ids < ``below``, newest first, at most ``limit``; None when not covered."""
        newest = self._lists.get(user)
        if newest is None:
            return None
        answer = [i for i in newest if i < below][:limit]
        complete = len(newest) < self.depth
        return answer if complete or len(answer) == limit else None

    def store(self, user: str, newest: list[int]) -> None:
        self._lists.put(user, newest)

    def evict(self, user: str) -> None:
        self._lists.evict([user])
