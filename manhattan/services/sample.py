"""A generated sample network for ``make run``, tests and benchmarks.

Follow counts and followee choice are power-law (a few accounts are followed by
most users, most by few), like real social graphs. Users and edges are written
in bulk straight into the datasets (the same layout ``Graph.follow`` writes),
because a thousand users with tens of thousands of edges through the one-edge
API would take minutes; tweets go through the service, so fan-out runs for real.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from manhattan.client import Put
from manhattan.services.leases import wall_ms
from manhattan.services.schema import (
    CELEBRITIES_KEY, FOLLOWERS_COUNT, FOLLOWING_COUNT, PROFILE, SEEN, encode_json,
)
from manhattan.services.social import Social
from manhattan.types import Consistency

NAMED = ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy"]
STARS = ["katy", "barack", "nasa", "cristiano", "rihanna"]
WORDS = ("coffee rain deploy cluster replica quorum timeline tea garden river train book music "
         "sunset bug fix release weekend hiking pizza cat dog ocean city lights code review").split()
BATCH = 500


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


async def load(social: Social, network: Network,
               on_progress: Callable[[str, int, int], None] | None = None) -> None:
    """Write users, both directions of every edge, counts and the celebrity set;
    ``on_progress(stage, done, total)`` hears of each batch ("users", "follows")."""
    report = on_progress or (lambda stage, done, total: None)
    now = wall_ms()
    q = Consistency.QUORUM
    users = social.users.data
    puts = []
    followers, following = network.followers(), Counter(a for a, _ in network.edges)
    for name in network.users:
        puts += [Put(name, PROFILE, encode_json({"created_at_ms": now})),
                 Put(name, SEEN, str(now)),
                 Put(name, FOLLOWERS_COUNT, str(followers[name])),
                 Put(name, FOLLOWING_COUNT, str(following[name]))]
    await _put_all(users, puts, q, lambda done: report("users", done, len(puts)))
    edges = len(network.edges)
    await _put_all(social.graph.following, [Put(a, b, b"") for a, b in network.edges], q,
                   lambda done: report("follows", done, 2 * edges))
    await _put_all(social.graph.followers, [Put(b, a, b"") for a, b in network.edges], q,
                   lambda done: report("follows", edges + done, 2 * edges))
    stars = [n for n, c in followers.items() if c > social.config.celebrity_threshold]
    await _put_all(social.graph.celebrity_data, [Put(CELEBRITIES_KEY, n, b"") for n in stars], q,
                   lambda done: None)


async def _put_all(dataset, puts: list[Put], consistency: Consistency,
                   done: Callable[[int], None]) -> None:
    done(0)
    for start in range(0, len(puts), BATCH):
        await dataset.put_many(puts[start:start + BATCH], consistency=consistency)
        done(min(start + BATCH, len(puts)))


def sample_tweets(network: Network, count: int, *, seed: int = 11) -> list[tuple[str, str]]:
    """(author, text) pairs; popular accounts post more."""
    rng = random.Random(seed)
    weights = [1.0 / (rank + 1) ** 0.6 for rank in range(len(network.users))]
    authors = rng.choices(network.users, weights, k=count)
    return [(a, " ".join(rng.choices(WORDS, k=rng.randint(3, 12)))) for a in authors]
