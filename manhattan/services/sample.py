"""A generated sample network for ``make run``, tests and benchmarks.

Follow counts and followee choice are power-law (a few accounts are followed by
most users, most by few), like real social graphs. Everything is written in bulk
straight into the datasets, in the layout the service itself writes (users and both
edge directions as ``Graph.follow`` does; tweets, own timelines and home timelines as
a finished fan-out leaves them, capped like a trim), through the batch path: large
``put_many`` calls, several in flight at once. A thousand users, tens of thousands
of edges and thousands of tweets through the one-at-a-time API would take minutes.
``on_progress(stage, done, total)`` reports each stage (``users``, ``follows``,
``tweets``, ``timelines``) as records are acknowledged.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from manhattan.client import AsyncDataset, Put
from manhattan.services.leases import wall_ms
from manhattan.services.schema import (
    CELEBRITIES_KEY, FLOOR, FOLLOWERS_COUNT, FOLLOWING_COUNT, PROFILE, SEEN, TWEETS_COUNT,
    encode_json, encode_tweet, id_key,
)
from manhattan.services.snowflake import decode
from manhattan.services.social import Social
from manhattan.services.types import Tweet
from manhattan.types import Consistency

Progress = Callable[[str, int, int], None]

NAMED = ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy"]
STARS = ["katy", "barack", "nasa", "cristiano", "rihanna"]
WORDS = ("coffee rain deploy cluster replica quorum timeline tea garden river train book music "
         "sunset bug fix release weekend hiking pizza cat dog ocean city lights code review").split()
BATCH = 1000  # records per put_many
IN_FLIGHT = 6  # put_many calls at once
ADDS_IN_FLIGHT = 64  # counter adds at once (one key each)


@dataclass(frozen=True)
class Network:
    users: list[str]
    edges: list[tuple[str, str]]  # (follower, followee)

    def followers(self) -> Counter[str]:
        return Counter(b for _, b in self.edges)


def generate(users: int = 1000, *, seed: int = 7, mean_following: int = 20,
             stars: int = 3, star_followers: float = 0.6) -> Network:
    """``users`` users; each follows a power-law number of others, chosen with
    Zipf-like popularity; ``stars`` accounts are followed by ``star_followers`` of users."""
    rng = random.Random(seed)
    names = (STARS[:stars] + NAMED + [f"user{i:04d}" for i in range(users)])[:users]
    weights = [1.0 / (rank + 1) ** 1.1 for rank in range(len(names))]
    edges: set[tuple[str, str]] = set()
    for follower in names:
        count = min(len(names) - 1, int(rng.paretovariate(1.5) * mean_following / 3))
        for followee in rng.choices(names, weights, k=count):
            if followee != follower:
                edges.add((follower, followee))
        for star in names[:stars]:
            if star != follower and rng.random() < star_followers:
                edges.add((follower, star))
    return Network(names, sorted(edges))


async def load(social: Social, network: Network, *,
               on_progress: Progress | None = None) -> None:
    """Write users, both directions of every edge, counts and the celebrity set."""
    now = wall_ms()
    users = social.users.data
    puts = []
    followers, following = network.followers(), Counter(a for a, _ in network.edges)
    for name in network.users:
        puts += [Put(name, PROFILE, encode_json({"created_at_ms": now}))]
    stars = [n for n, c in followers.items() if c > social.config.celebrity_threshold]
    await put_all("users", [(users, puts),
                            (social.home.data, [Put(n, SEEN, str(now)) for n in network.users]),
                            (social.graph.celebrity_data,
                             [Put(CELEBRITIES_KEY, n, b"") for n in stars])], on_progress)
    await put_all("follows", [
        (social.graph.following, [Put(a, b, b"") for a, b in network.edges]),
        (social.graph.followers, [Put(b, a, b"") for a, b in network.edges])], on_progress)
    await add_all("counts", social.users.counts, [
        (name, key, n) for name in network.users
        for key, n in ((FOLLOWERS_COUNT, followers[name]), (FOLLOWING_COUNT, following[name]))
        if n], on_progress)


async def load_tweets(social: Social, network: Network, tweets: list[tuple[str, str]],
                      ids: list[int], *, on_progress: Progress | None = None) -> list[Tweet]:
    """Store ``tweets`` under ``ids`` (ascending, issued by the service) as a finished
    fan-out leaves them: the tweet, its author's own timeline entry, and an entry in the
    author's and every follower's home timeline unless the author is a celebrity. Each
    home timeline keeps its newest ``timeline_cap`` entries above a trim floor."""
    if len(ids) != len(tweets):
        raise ValueError(f"{len(tweets)} tweets need as many ids, not {len(ids)}")
    followers: dict[str, list[str]] = defaultdict(list)
    for follower, followee in network.edges:
        followers[followee].append(follower)
    threshold = social.config.celebrity_threshold
    stored = [Tweet(i, author, text, decode(i).timestamp_ms)
              for i, (author, text) in zip(ids, tweets)]
    homes: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for tweet in stored:
        fans = followers[tweet.author]
        for user in [tweet.author, *(fans if len(fans) <= threshold else ())]:
            homes[user].append((tweet.id, tweet.author))
    entries, floors = [], []
    cap = social.config.timeline_cap
    for user, timeline in homes.items():
        timeline.sort(reverse=True)
        entries += [Put(user, id_key(i), author) for i, author in timeline[:cap]]
        if len(timeline) > cap:  # as a trim leaves it: the floor first, then the rest
            floors.append(Put(user, FLOOR, str(timeline[cap][0])))
    await put_all("tweets", [
        (social.tweets.tweets, [Put(id_key(t.id), b"", encode_tweet(t)) for t in stored]),
        (social.tweets.by_user, [Put(t.author, id_key(t.id), b"") for t in stored])],
        on_progress)
    await put_all("timelines", [(social.home.data, floors + entries)],
                  on_progress)
    await add_all("tweet counts", social.users.counts,
                  [(author, TWEETS_COUNT, n) for author, n in
                   Counter(t.author for t in stored).items()], on_progress,
                  op_prefix=b"sample-tweets:" + id_key(ids[0]) if ids else b"")
    return stored


async def put_all(stage: str, work: list[tuple[AsyncDataset, list[Put]]],
                  on_progress: Progress | None) -> None:
    """Every put, ``BATCH`` per call and ``IN_FLIGHT`` calls at once (the SDK splits a
    call by replica set and sends the parts concurrently), reporting progress."""
    await _bounded(stage, [
        (len(chunk), lambda d=dataset, c=chunk: d.put_many(c, consistency=Consistency.QUORUM))
        for dataset, puts in work
        for chunk in (puts[start:start + BATCH] for start in range(0, len(puts), BATCH))],
        on_progress, IN_FLIGHT)


async def add_all(stage: str, counts: AsyncDataset, adds: list[tuple[str, bytes, int]],
                  on_progress: Progress | None, op_prefix: bytes = b"sample:") -> None:
    """Counter adds (pkey, lkey, delta), ``ADDS_IN_FLIGHT`` at once. Each op id names
    its counter (under ``op_prefix``), so a load run again counts once (within the dedup
    window)."""
    await _bounded(stage, [
        (1, lambda p=pkey, k=lkey, n=delta: counts.add(
            p, k, n, op_id=(op_prefix + p.encode() + b"/" + k)[-64:],
            consistency=Consistency.QUORUM))
        for pkey, lkey, delta in adds], on_progress, ADDS_IN_FLIGHT)


async def _bounded(stage: str, calls: list[tuple[int, Callable[[], Awaitable[object]]]],
                   on_progress: Progress | None, in_flight: int) -> None:
    """Run the calls (each worth ``n`` records) ``in_flight`` at once, reporting progress."""
    total = sum(n for n, _ in calls)
    done = 0
    limit = asyncio.Semaphore(in_flight)
    if on_progress is not None:
        on_progress(stage, 0, total)

    async def one(n: int, call: Callable[[], Awaitable[object]]) -> None:
        nonlocal done
        async with limit:
            await call()
        done += n
        if on_progress is not None:
            on_progress(stage, done, total)
    await asyncio.gather(*(one(n, call) for n, call in calls))


def sample_tweets(network: Network, count: int, *, seed: int = 11) -> list[tuple[str, str]]:
    """(author, text) pairs; popular accounts post more."""
    rng = random.Random(seed)
    weights = [1.0 / (rank + 1) ** 0.6 for rank in range(len(network.users))]
    authors = rng.choices(network.users, weights, k=count)
    return [(a, " ".join(rng.choices(WORDS, k=rng.randint(3, 12)))) for a in authors]
