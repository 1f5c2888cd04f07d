"""Home timelines, the read side: stored entries + celebrities, merged by id.

A page is the newest ``limit`` tweets below the cursor from three kinds of
source, merged by id descending and hydrated with one multi-get:

* the stored timeline, newest first, down to the trim floor and at most
  ``cap`` entries deep (entries of authors no longer followed are skipped);
* the own timelines of followed celebrities (never pushed, merged here);
* below the stored part (past the floor or the cap, or for a user whose
  timeline is being rebuilt): the own timelines of everyone followed, so a
  feed does not end where the stored timeline does.

Each source yields at most the ``need`` newest ids below the cursor, so the
first ``need`` of their union are exactly the page. The cursor carries the id
to continue below and how many stored entries were consumed.
"""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from manhattan.client import InvalidRequest
from manhattan.services.config import SocialConfig
from manhattan.services.graph import Graph
from manhattan.services.home import HomeTimelines
from manhattan.services.leases import wall_ms
from manhattan.services.schema import Tweet
from manhattan.services.tweets import Tweets
from manhattan.services.users import Users

TOP = 1 << 63
MAX_ROUNDS = 8
_CURSOR = struct.Struct(">QI")


@dataclass(frozen=True, slots=True)
class TimelinePage:
    tweets: list[Tweet]
    cursor: bytes
    rebuilding: bool


def encode_cursor(below: int, rank: int) -> bytes:
    return _CURSOR.pack(below, rank)


def decode_cursor(cursor: bytes) -> tuple[int, int]:
    if not cursor:
        return TOP, 0
    if len(cursor) != _CURSOR.size:
        raise InvalidRequest("cursor is not one this service returned")
    below, rank = _CURSOR.unpack(cursor)
    return below, rank


class HomeReader:
    """Builds home-timeline pages."""

    def __init__(self, users: Users, graph: Graph, tweets: Tweets, home: HomeTimelines,
                 config: SocialConfig,
                 start_rebuild: Callable[[str], Awaitable[None]]) -> None:
        self.users = users
        self.graph = graph
        self.tweets = tweets
        self.home = home
        self.config = config
        self.start_rebuild = start_rebuild
        self.rebuilds_started = 0

    async def page(self, user: str, *, limit: int, cursor: bytes) -> TimelinePage:
        below, rank = decode_cursor(cursor)
        state = await self.users.timeline_state(user)
        horizon_ms = int(self.config.inactive_after_s * 1000)
        now = wall_ms()
        rebuilding = state.rebuild_job != 0
        if not rebuilding and now - state.seen_ms > horizon_ms:
            await self.start_rebuild(user)
            self.rebuilds_started += 1
            rebuilding = True
        elif now - state.seen_ms > horizon_ms // 20:
            await self.users.touch(user, now)
        following, celebrities = await asyncio.gather(self.graph.all_following(user),
                                                      self.graph.celebrities())
        authors = {user, *following}
        followed_celebrities = [c for c in celebrities if c in authors and c != user]
        tweets: list[Tweet] = []
        cap, floor = self.config.timeline_cap, state.floor
        for _ in range(MAX_ROUNDS):
            need = limit - len(tweets)
            if need <= 0 or below == 0:
                break
            stored: list[tuple[int, str]] = []
            deep_top: int | None = None
            cutoff = -1
            capped = False
            if not rebuilding and rank < cap and below > floor + 1:
                take = min(need, cap - rank)
                stored = await self.home.newest(user, below=below, floor=floor, limit=take)
                if len(stored) < take:
                    deep_top = min(below, floor + 1)  # reached the floor
                elif rank + take >= cap:
                    deep_top = stored[-1][0]  # reached the cap
                    capped = True
                else:
                    cutoff = stored[-1][0]  # more stored below: stop there this round
            else:
                deep_top = below
            pulls = [self.tweets.recent_ids(c, below=below, above=-1, limit=need)
                     for c in followed_celebrities]
            if deep_top is not None:
                pulls += [self.tweets.recent_ids(a, below=deep_top, above=-1, limit=need)
                          for a in authors]
            pulled = await asyncio.gather(*pulls)
            candidates = {i for i, author in stored if author in authors}
            for ids in pulled:
                candidates.update(ids)
            chosen = sorted((i for i in candidates if i >= cutoff), reverse=True)[:need]
            found = await self.tweets.get_many(chosen)
            tweets += [found[i] for i in chosen if i in found and found[i].author in authors]
            if len(chosen) == need:
                below = chosen[-1]
            elif cutoff >= 0:
                below = cutoff
            else:
                below = 0  # every source is exhausted
            rank = cap if capped else rank + sum(1 for i, _ in stored if i >= below)
        return TimelinePage(tweets, encode_cursor(below, rank) if below else b"", rebuilding)
