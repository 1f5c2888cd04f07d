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
from collections.abc import Callable
from dataclasses import dataclass

from manhattan.client import AsyncDataset, Put
from manhattan.services.leases import wall_ms
from manhattan.services.schema import (
    CELEBRITIES_KEY, FLOOR, FOLLOWERS_COUNT, FOLLOWING_COUNT, PROFILE, SEEN, encode_json,
    encode_tweet, id_key,
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
        puts += [Put(name, PROFILE, encode_json({"created_at_ms": now})),
                 Put(name, FOLLOWERS_COUNT, str(followers[name])),
                 Put(name, FOLLOWING_COUNT, str(following[name]))]
    stars = [n for n, c in followers.items() if c > social.config.celebrity_threshold]
    await put_all("users", [(users, puts),
                            (social.home.data, [Put(n, SEEN, str(now)) for n in network.users]),
                            (social.graph.celebrity_data,
                             [Put(CELEBRITIES_KEY, n, b"") for n in stars])], on_progress)
    await put_all("follows", [
        (social.graph.following, [Put(a, b, b"") for a, b in network.edges]),
        (social.graph.followers, [Put(b, a, b"") for a, b in network.edges])], on_progress)


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
    return stored


async def put_all(stage: str, work: list[tuple[AsyncDataset, list[Put]]],
                  on_progress: Progress | None) -> None:
    """Every put, ``BATCH`` per call and ``IN_FLIGHT`` calls at once (the SDK splits a
    call by replica set and sends the parts concurrently), reporting progress."""
    total = sum(len(puts) for _, puts in work)
    done = 0
    limit = asyncio.Semaphore(IN_FLIGHT)
    if on_progress is not None:
        on_progress(stage, 0, total)

    async def one(dataset: AsyncDataset, chunk: list[Put]) -> None:
        nonlocal done
        async with limit:
            await dataset.put_many(chunk, consistency=Consistency.QUORUM)
        done += len(chunk)
        if on_progress is not None:
            on_progress(stage, done, total)
    await asyncio.gather(*(one(dataset, puts[start:start + BATCH]) for dataset, puts in work
                           for start in range(0, len(puts), BATCH)))


def sample_tweets(network: Network, count: int, *, seed: int = 11) -> list[tuple[str, str]]:
    """(author, text) pairs; popular accounts post more."""
    rng = random.Random(seed)
    weights = [1.0 / (rank + 1) ** 0.6 for rank in range(len(network.users))]
    authors = rng.choices(network.users, weights, k=count)
    return [(a, " ".join(rng.choices(WORDS, k=rng.randint(3, 12)))) for a in authors]
