"""The Twitter workload on Manhattan, a Redis Cluster and a single Redis, same data on each.

The graph is ``manhattan.services.sample.generate`` (power-law follow counts,
Zipf-like followee choice, a few stars followed by most users), loaded into each
system before it is measured. Authors above ``threshold`` followers are
celebrities on every system: their tweets are not pushed but merged at read.

* Manhattan: 3 nodes (RF=3, QUORUM) and ``manhattan social serve`` with its
  fan-out workers, driven through ``SocialClient`` (posts, home pages, stats).
* Redis (Cluster and single): the classic design. A tweet is a key (JSON, the
  same codec as Manhattan's); a home timeline is a list capped with LTRIM; a
  post is a pipeline (SET, own lists) and its fan-out batched pipelines of
  LPUSH+LTRIM to the followers (SMEMBERS); a page is LRANGE + SMISMEMBER of the
  celebrities, their LRANGEs, merged, and MGET hydration.

Workloads, each a row per system, measured in interleaved runs after a warm-up:
fan-out deliveries/s (Manhattan: deliveries and backlog from the service's own
stats, first post to drained queue), home pages of 50/s, the mixed workload of
100 page reads per post (ops/s until the fan-out it caused is done) and
acknowledged posts (latency). Results go to ``<results>/twitter.json``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import re
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Protocol

from manhattan.bench import report
from manhattan.bench.common import MIN_RUN_S, MIN_RUNS, Result, Settings
from manhattan.bench.rows import Ratio, Row, ratio
from manhattan import __version__ as manhattan_version
from manhattan.bench.stats import CpuMeter, Latencies
from manhattan.client import AsyncClient
from manhattan.services.client import SocialClient
from manhattan.node.local_cluster import LocalCluster
from manhattan.services import sample
from manhattan.services.config import SocialConfig
from manhattan.services.process import SocialProcess
from manhattan.services.schema import Tweet, decode_tweet, encode_tweet
from manhattan.services.server import social_api_token, write_social_file
from manhattan.services.snowflake import SnowflakeGenerator
from manhattan.services.social import Social, ensure_schema

NAME = "twitter"
TITLE = "Twitter workload (Manhattan social service vs Redis Cluster and a single Redis)"
SEED = 7
PAGE = 50
READS_PER_POST = 100
CAP = 800
FANOUT, PAGES, MIXED, POST = "fan-out", "home page", f"mixed {READS_PER_POST}:1", "post"
# The post row's deferred work, timed apart: the fan-out of the window's posts, drained
# after it (Manhattan's workers, Redis's deferred pipelines), its CPU per post.
POST_FANOUT = "post fan-out (deferred)"
# Acknowledged posts with this many callers in flight: the service's capacity to take
# posts, not one caller's round trip (the target is set at 8 callers).
POSTERS = 8
POST_CALLERS = f"post ({POSTERS} callers)"
WORKLOADS = (FANOUT, PAGES, MIXED, POST, POST_FANOUT, POST_CALLERS)
UNITS = {FANOUT: "deliveries", PAGES: "pages", MIXED: "ops", POST: "posts",
         POST_FANOUT: "posts", POST_CALLERS: "posts"}
Progress = Callable[[str], None]


@dataclass(frozen=True)
class Shape:
    """The size of the workload (full run or --quick)."""

    users: int
    fanout_posts: int  # posts per fan-out run, by the most followed non-celebrities
    prefill: int  # tweets posted before measuring (besides the stars' own)
    max_posts: int = 5000  # per post run: Redis defers each one's fan-out to after it
    star_posts: int = 55  # each celebrity's tweets: every follower's page is full
    threads: int = 4  # concurrent readers for pages and the mixed workload
    mean_following: int = 20
    stars: int = 3

    @property
    def threshold(self) -> int:
        """Half the users: the stars (followed by ~60-90%) are celebrities, the rest not."""
        return self.users // 2


FULL = Shape(users=5000, fanout_posts=48, prefill=600)
QUICK = Shape(users=300, fanout_posts=12, prefill=40, max_posts=200, threads=2)


@dataclass
class Data:
    """The same graph and tweet stream for every system."""

    shape: Shape
    network: sample.Network
    celebrities: frozenset[str]
    followers: dict[str, list[str]]
    following: dict[str, set[str]]
    readers: list[str]  # users who follow a celebrity, shuffled
    fanout_authors: list[str]  # the most followed non-celebrities
    tweets: list[tuple[str, str]]  # (author, text), popular authors post more
    posters: list[str]  # every user once, shuffled: the post workload's authors

    @classmethod
    def make(cls, shape: Shape) -> "Data":
        network = sample.generate(shape.users, seed=SEED, mean_following=shape.mean_following,
                                  stars=shape.stars)
        followers: dict[str, list[str]] = {}
        following: dict[str, set[str]] = {}
        for a, b in network.edges:
            followers.setdefault(b, []).append(a)
            following.setdefault(a, set()).add(b)
        counts = network.followers()
        stars = frozenset(n for n, c in counts.items() if c > shape.threshold)
        readers = [u for u in network.users if following.get(u, set()) & stars]
        random.Random(SEED).shuffle(readers)
        posters = list(network.users)
        random.Random(SEED + 2).shuffle(posters)
        authors = [n for n, _ in counts.most_common() if n not in stars][:6]
        return cls(shape, network, stars, followers, following, readers, authors,
                   sample.sample_tweets(network, 20_000, seed=SEED + 1), posters)


class System(Protocol):
    """One system under test, loaded with ``Data``."""

    name: str
    version: str

    def pids(self) -> list[int]: ...
    def setup(self, data: Data) -> None: ...
    def stop(self) -> None: ...
    def post(self, author: str, text: str, fanout_now: bool = True) -> None: ...
    def settle(self, timeout: float = 600.0) -> None: ...
    def deliveries(self) -> int: ...
    def page(self, user: str) -> int: ...


# -- Manhattan ------------------------------------------------------------------------------


class ManhattanTwitter:
    """3 nodes + the social service process; the SDK's ``SocialClient`` drives it."""

    name = "manhattan"
    version = f"manhattan {manhattan_version}"

    def __init__(self, root: Path, shape: Shape) -> None:
        self.root = root / "cluster"
        self.cluster = LocalCluster(self.root, nodes=3, base_port=None)
        self.config = SocialConfig(celebrity_threshold=shape.threshold)
        self.service = SocialProcess(self.root, options=[
            "--celebrity-threshold", str(shape.threshold),
            "--lease-validity", "3"])  # a fresh cluster: no earlier holder to outwait
        self.client: SocialClient | None = None
        self._fanout_paused = False

    def setup(self, data: Data) -> None:
        """Nodes, the schema, then the service and the graph at once: the service's start
        waits out two lease validity periods (~20 s), the bulk load needs only the nodes.
        The service runs as the tenant (``social.toml`` written here, as it would)."""
        self.cluster.start().wait_converged()
        token = asyncio.run(self._schema())
        write_social_file(self.root, self.service.address, token, social_api_token(self.root))
        with ThreadPoolExecutor(1) as pool:
            started = pool.submit(self.service.start, timeout=120)
            asyncio.run(self._load(token, data))
            loaded_first = not started.done()
            started.result()
        if not loaded_first:  # the service may have cached the celebrity set before
            time.sleep(self.config.celebrity_cache_s + 0.5)
        self.client = SocialClient(self.service.address, token=self.service.api_token,
                                   timeout=30)
        prefill(self, data)

    async def _schema(self) -> str:
        async with AsyncClient(self.cluster.endpoints, token=self.cluster.admin_token) as admin:
            token = await ensure_schema(admin, self.config)
        if token is None:
            raise RuntimeError("the social tenant existed already in a fresh cluster")
        return token

    async def _load(self, token: str, data: Data) -> None:
        """Users and edges in bulk, as ``manhattan.services.sample.load`` writes them."""
        async with AsyncClient(self.cluster.endpoints, token=token) as client:
            await sample.load(Social(client, self.config), data.network)

    def stop(self) -> None:
        if self.client is not None:
            self.client.close()
        self.service.stop()
        self.cluster.stop()

    def pids(self) -> list[int]:
        nodes = [n.pid for n in self.cluster.nodes]
        return [p for p in (*nodes, self.service.pid) if p is not None]

    def post(self, author: str, text: str, fanout_now: bool = True) -> None:
        if not fanout_now and not self._fanout_paused:
            # deferred like Redis's: the workers are paused (once, in the window) and
            # deliver the window's posts at ``settle``, timed apart
            self._fanout_paused = self.client.set_fanout(paused=True)
        self.client.post(author, text)  # the service's workers fan out, always later

    def settle(self, timeout: float = 600.0) -> None:
        """Until the fan-out queue is empty, as the service itself reports it (its
        workers resumed first, when the post workload paused them)."""
        if self._fanout_paused:
            self._fanout_paused = self.client.set_fanout(paused=False)
        deadline = time.monotonic() + timeout
        while self.client.stats().fanout_pending:
            if time.monotonic() > deadline:
                raise TimeoutError(f"manhattan fan-out backlog not drained in {timeout:.0f} s")
            time.sleep(0.02)

    def deliveries(self) -> int:
        return self.client.stats().deliveries

    def page(self, user: str) -> int:
        return len(self.client.home(user, PAGE).tweets)


# -- Redis ----------------------------------------------------------------------------------


def _home(user: str) -> str:
    return f"home:{{{user}}}"  # one hash tag per user: a user's keys share a slot


def _own(user: str) -> str:
    return f"tweets:{{{user}}}"


def _followers(user: str) -> str:
    return f"followers:{{{user}}}"


def _following(user: str) -> str:
    return f"following:{{{user}}}"


class RedisTwitter:
    """Timelines as capped lists in a single Redis or a Redis Cluster (``cluster``)."""

    BATCH = 500  # followers per fan-out pipeline, like the service's fan-out batch

    def __init__(self, name: str, servers, cluster: bool) -> None:
        self.name = name
        self.servers = servers
        self.cluster = cluster
        match = re.search(r"v=(\S+)", servers.version)
        self.version = f"redis {match.group(1) if match else servers.version}"
        self.ids = SnowflakeGenerator(0, 2 if cluster else 1)
        self.celebrities: list[str] = []
        self._delivered = 0
        self._deferred: list[tuple[str, int]] = []
        self._lock = threading.Lock()
        self.db = None

    def setup(self, data: Data) -> None:
        self.servers.start()
        self.db = self.servers.client()
        self._load(data)
        prefill(self, data)

    def stop(self) -> None:
        if self.db is not None:
            self.db.close()
        self.servers.stop()

    def pids(self) -> list[int]:
        return list(self.servers.pids)

    def _pipeline(self):
        return self.db.pipeline(transaction=False) if not self.cluster else self.db.pipeline()

    def _load(self, data: Data) -> None:
        """Both directions of every edge as sets, in pipelines."""
        pipe, queued = self._pipeline(), 0
        for a, b in data.network.edges:
            pipe.sadd(_followers(b), a)
            pipe.sadd(_following(a), b)
            queued += 2
            if queued >= 2000:
                pipe.execute()
                pipe, queued = self._pipeline(), 0
        pipe.execute()
        self.celebrities = sorted(data.celebrities)

    def post(self, author: str, text: str, fanout_now: bool = True) -> None:
        """SET the tweet and push it to the author's own lists (the acknowledgement);
        the fan-out now, or at ``settle`` (the post workload, like Manhattan's queue)."""
        tweet_id = self.ids.next_id()
        tweet = Tweet(tweet_id, author, text, int(time.time() * 1000))
        pipe = self._pipeline()
        pipe.set(f"tweet:{tweet_id}", encode_tweet(tweet))
        for key in (_own(author), _home(author)):
            pipe.lpush(key, tweet_id)
            pipe.ltrim(key, 0, CAP - 1)
        pipe.execute()
        if fanout_now:
            self._fanout(author, tweet_id)
        else:
            with self._lock:
                self._deferred.append((author, tweet_id))

    def _fanout(self, author: str, tweet_id: int) -> None:
        if author in self.celebrities:
            return  # merged at read
        followers = [f.decode() for f in self.db.smembers(_followers(author))]
        for start in range(0, len(followers), self.BATCH):
            pipe = self._pipeline()
            for follower in followers[start:start + self.BATCH]:
                pipe.lpush(_home(follower), tweet_id)
                pipe.ltrim(_home(follower), 0, CAP - 1)
            pipe.execute()
        with self._lock:
            self._delivered += len(followers)

    def settle(self, timeout: float = 600.0) -> None:
        with self._lock:
            work, self._deferred = self._deferred, []
        for author, tweet_id in work:
            self._fanout(author, tweet_id)

    def deliveries(self) -> int:
        return self._delivered

    def page(self, user: str) -> int:
        """LRANGE the stored timeline and learn the followed celebrities (one slot, one
        round trip), LRANGE theirs, merge newest first, MGET and decode 50 tweets."""
        pipe = self._pipeline()
        pipe.lrange(_home(user), 0, PAGE - 1)
        if self.celebrities:
            pipe.smismember(_following(user), self.celebrities)
        replies = pipe.execute()
        ids = {int(i) for i in replies[0]}
        followed = [c for c, on in zip(self.celebrities, replies[1] if self.celebrities else [])
                    if on]
        if followed:
            pipe = self._pipeline()
            for celebrity in followed:
                pipe.lrange(_own(celebrity), 0, PAGE - 1)
            for pulled in pipe.execute():
                ids.update(int(i) for i in pulled)
        chosen = sorted(ids, reverse=True)[:PAGE]
        keys = [f"tweet:{i}" for i in chosen]
        raw = self.db.mget_nonatomic(keys) if self.cluster else self.db.mget(keys)
        return len([decode_tweet(r) for r in raw if r is not None])


# -- measuring ------------------------------------------------------------------------------


@dataclass
class Tally:
    """One (system, workload) over its runs: rates, merged latencies, CPU totals."""

    runs: list[float] = field(default_factory=list)
    latencies: Latencies = field(default_factory=Latencies)
    units: int = 0
    server_s: float = 0.0
    client_s: float = 0.0
    note: str = ""

    def row(self, system: str, workload: str) -> Row:
        result = Row(NAME, workload, system, UNITS[workload], list(self.runs), note=self.note)
        if self.latencies.count:
            result.set_latencies(self.latencies)
        if self.units:
            result.cpu_server_us = self.server_s * 1e6 / self.units
            result.cpu_client_us = self.client_s * 1e6 / self.units
        return result


def closed_loop(op: Callable[[int], None], threads: int, seconds: float, start: int,
                limit: int | None = None) -> tuple[int, Latencies]:
    """``threads`` callers, each back to back for ``seconds`` (or ``limit`` calls in all);
    thread t runs op(start + t), op(start + t + threads), ...  Returns (calls, merged
    latencies)."""
    each = None if limit is None else max(1, limit // threads)
    histograms = [Latencies() for _ in range(threads)]
    counts = [0] * threads
    deadline = time.perf_counter() + seconds
    errors: list[BaseException] = []

    def loop(t: int) -> None:
        clock, hist, i = time.perf_counter_ns, histograms[t], start + t
        try:
            while time.perf_counter() < deadline and counts[t] != each:
                t0 = clock()
                op(i)
                hist.record_ns(clock() - t0)
                counts[t] += 1
                i += threads
        except BaseException as exc:  # surfaced below, not lost in a thread
            errors.append(exc)

    workers = [threading.Thread(target=loop, args=(t,)) for t in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    if errors:
        raise errors[0]
    merged = Latencies()
    for hist in histograms:
        merged.merge(hist)
    return sum(counts), merged


class Runner:
    """Measures every workload on one system, keeping each workload's tally."""

    def __init__(self, system: System, data: Data, shape: Shape, seconds: float) -> None:
        self.system = system
        self.data = data
        self.shape = shape
        self.seconds = seconds
        self.meter = CpuMeter(system.pids())
        self.tallies = {w: Tally() for w in WORKLOADS}
        self.next = 0  # walks the tweet stream and the readers across runs
        self.page_sizes: list[int] = []

    def _tweet(self, i: int) -> tuple[str, str]:
        return self.data.tweets[i % len(self.data.tweets)]

    def _reader(self, i: int) -> str:
        return self.data.readers[i % len(self.data.readers)]

    def _timed(self, workload: str, body: Callable[[], tuple[int, Latencies | None]]) -> None:
        """Run ``body`` -> (units, latencies) between two CPU samples; record the run."""
        before, t0 = self.meter.sample(), time.perf_counter()
        units, latencies = body()
        elapsed = time.perf_counter() - t0
        after = self.meter.sample()
        tally = self.tallies[workload]
        tally.runs.append(units / elapsed if elapsed else 0.0)
        tally.units += units
        tally.server_s += after.server_s - before.server_s
        tally.client_s += after.client_s - before.client_s
        if latencies is not None:
            tally.latencies.merge(latencies)

    def fanout(self) -> None:
        authors = self.data.fanout_authors
        start = self.system.deliveries()

        def body() -> tuple[int, None]:
            for i in range(self.shape.fanout_posts):
                self.system.post(authors[i % len(authors)], f"fan-out {self.next + i}")
            self.system.settle()
            return self.system.deliveries() - start, None
        self._timed(FANOUT, body)
        self.next += self.shape.fanout_posts

    def pages(self, seconds: float | None = None, record: bool = True) -> None:
        def op(i: int) -> None:
            self.page_sizes.append(self.system.page(self._reader(i)))

        def body() -> tuple[int, Latencies]:
            return closed_loop(op, self.shape.threads, seconds or self.seconds, self.next)
        if record:
            self._timed(PAGES, body)
        else:
            body()
        self.next += 100_000

    def mixed(self) -> None:
        def op(i: int) -> None:
            if i % (READS_PER_POST + 1) == READS_PER_POST:
                self.system.post(*self._tweet(i))  # Redis fans out inline, Manhattan later
            else:
                self.system.page(self._reader(i))

        def body() -> tuple[int, Latencies]:
            calls, latencies = closed_loop(op, self.shape.threads, self.seconds, self.next)
            self.system.settle()  # the run ends when the fan-out it caused is done
            return calls, latencies
        self._timed(MIXED, body)
        self.next += 100_000

    def posts(self, seconds: float | None = None, record: bool = True,
              callers: int = 1) -> None:
        """Acknowledged posts from ``callers`` callers; their fan-out is drained after the
        window, by ``settle``. One caller's drain is timed apart (``POST_FANOUT``): its
        CPU is not the ack's. Several callers' drain is not timed again (the same work
        per post as one caller's)."""
        posters = self.data.posters
        posted = [0]

        def op(i: int) -> None:  # any user, as likely: the ack path, whoever posts
            self.system.post(posters[i % len(posters)], self._tweet(i)[1], fanout_now=False)

        def body() -> tuple[int, Latencies]:
            calls, latencies = closed_loop(op, callers, seconds or self.seconds, self.next,
                                           self.shape.max_posts)
            posted[0] = calls
            return calls, latencies

        def drain() -> tuple[int, None]:
            self.system.settle()
            return posted[0], None
        if record and callers == 1:
            self._timed(POST, body)
            self._timed(POST_FANOUT, drain)
        elif record:
            self._timed(POST_CALLERS, body)
            self.system.settle()
        else:
            body()
            self.system.settle()
        self.next += 100_000

    def posts_from_callers(self) -> None:
        """``posts`` with ``POSTERS`` callers in flight."""
        self.posts(callers=POSTERS)

    def warm_up(self, seconds: float) -> None:
        self.pages(seconds, record=False)
        self.posts(seconds / 2, record=False)

    def run_once(self, progress: Progress, label: str) -> None:
        for step, name in ((self.fanout, FANOUT), (self.pages, PAGES), (self.mixed, MIXED),
                           (self.posts, POST), (self.posts_from_callers, POST_CALLERS)):
            progress(f"{label}: {self.system.name} {name}")
            step()


def prefill(system: System, data: Data, threads: int = 8) -> None:
    """The stars' tweets (full celebrity pages) and a stream of ordinary posts, fanned out
    (posted from a few threads: setup, not measured)."""
    shape = data.shape
    posts: Iterable[tuple[str, str]] = [
        *((star, f"{star} says {k}") for star in sorted(data.celebrities)
          for k in range(shape.star_posts)),
        *(data.tweets[-1 - i] for i in range(shape.prefill))]
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(lambda post: system.post(*post), posts))
    system.settle()


# -- the suite ------------------------------------------------------------------------------


def _start_systems(stack: contextlib.ExitStack, root: Path, data: Data, notes: list[str],
                   progress: Progress) -> list[System]:
    """Start, load and prefill Manhattan (in a thread: its start is mostly waiting) and,
    meanwhile, each Redis unless it cannot be installed here (then noted, not failed).
    Every system is stopped by ``stack``, whatever happens."""
    from manhattan.bench.peers.install import PeerMissing

    manhattan = ManhattanTwitter(root, data.shape)
    stack.callback(manhattan.stop)
    systems: list[System] = [manhattan]
    with ThreadPoolExecutor(1) as pool:
        ready = pool.submit(manhattan.setup, data)
        try:
            from manhattan.bench.peers.redis import RedisClusterServers, RedisServer
            peers = [RedisTwitter("redis-cluster", RedisClusterServers(root / "redis-cluster"),
                                  True),
                     RedisTwitter("redis", RedisServer(root / "redis"), False)]
        except (PeerMissing, ImportError) as exc:
            notes.append(f"Redis and Redis Cluster skipped: {exc}")
            peers = []
        for peer in peers:
            stack.callback(peer.stop)
            progress(f"setting up {peer.name} (Manhattan starts meanwhile)")
            peer.setup(data)
            systems.append(peer)
        progress("setting up manhattan: nodes, schema, graph, service (~2 lease periods)")
        ready.result()
    return systems


def _ratios(rows: dict[tuple[str, str], Row]) -> list[Ratio]:
    # Issue 16's targets: fan-out and home pages at Redis Cluster's rate, posts (8 callers)
    # at 0.3 of it.
    wanted = [(FANOUT, "redis-cluster", 1.0), (PAGES, "redis-cluster", 1.0),
              (MIXED, "redis-cluster", None), (POST, "redis-cluster", None),
              (POST_CALLERS, "redis-cluster", 0.3), (FANOUT, "redis", None), (PAGES, "redis", None),
              (MIXED, "redis", None)]
    out = []
    for workload, peer, target in wanted:
        ours, theirs = rows.get((workload, "manhattan")), rows.get((workload, peer))
        if ours and theirs:
            out.append(ratio(f"{workload}: Manhattan / {peer}", ours, theirs, target))
    return out


def _results(rows: list[Row], ratios: list[Ratio]) -> list[Result]:
    """The rows again as ``bench.common.Result`` for run.py's table (baseline: Redis Cluster)."""
    by_name = {r.numerator: r for r in ratios if r.denominator.endswith("redis-cluster")}
    out = []
    order = {"redis-cluster": 0, "redis": 1, "manhattan": 2}
    for row in sorted(rows, key=lambda r: (WORKLOADS.index(r.workload), order.get(r.system, 3))):
        lat = row.latency_us
        unit = "ops" if row.unit in ("ops", "pages", "posts") else "records"
        result = Result(NAME, f"{row.workload}: {row.system}", unit, len(row.runs),
                        len(row.runs), 0.0, row.median, lat.get("p50_us", float("nan")),
                        lat.get("p99_us", float("nan")),
                        is_baseline=row.system == "redis-cluster", note=row.note,
                        runs=list(row.runs))
        mine = by_name.get(f"{row.workload} / {row.system}")
        if mine is not None:
            result.baseline, result.ratio, result.target = \
                f"{row.workload}: redis-cluster", mine.value, mine.target
        out.append(result)
    return out


def measure(settings: Settings, progress: Progress, root: Path
            ) -> tuple[list[Row], list[Ratio], dict[str, str], list[str], Shape]:
    """Start, load, warm up and measure every system in interleaved runs; stop them."""
    shape = QUICK if settings.quick else FULL
    runs = settings.rounds if settings.quick else max(settings.rounds, MIN_RUNS)
    seconds = min(settings.seconds / settings.rounds, 0.5) if settings.quick \
        else max(settings.seconds / settings.rounds, MIN_RUN_S)
    notes: list[str] = []
    data = Data.make(shape)
    with contextlib.ExitStack() as stack:
        systems = _start_systems(stack, root, data, notes, progress)
        runners = [Runner(system, data, shape, seconds) for system in systems]
        for runner in runners:
            progress(f"warm-up {runner.system.name}")
            runner.warm_up(settings.warmup)
        for number in range(runs):
            shift = number % len(runners)  # rotate who goes first, run by run
            for runner in runners[shift:] + runners[:shift]:
                runner.run_once(progress, f"run {number + 1}/{runs}")
        rows = []
        for runner in runners:
            sizes = runner.page_sizes or [0]
            runner.tallies[PAGES].note = (f"{shape.threads} readers; mean page "
                                          f"{sum(sizes) / len(sizes):.1f} tweets")
            rows += [runner.tallies[w].row(runner.system.name, w) for w in WORKLOADS]
        versions = {s.name: s.version for s in systems}
    counts = data.network.followers()
    notes += [
        f"graph: {len(data.network.users)} users, {len(data.network.edges)} follow edges "
        f"(seed {SEED}); celebrities (> {shape.threshold} followers, merged at read): "
        + ", ".join(f"{c} ({counts[c]})" for c in sorted(data.celebrities)),
        f"fan-out: {shape.fanout_posts} posts per run by "
        + ", ".join(f"{a} ({counts[a]})" for a in data.fanout_authors)
        + "; rate = deliveries / (first post .. last delivery); Manhattan's from the "
          "service's stats (deliveries, backlog drained), Redis's batched LPUSH+LTRIM "
          f"pipelines of {RedisTwitter.BATCH}",
        f"pages: {PAGE} hydrated tweets, {shape.threads} concurrent readers; mixed: "
        f"{READS_PER_POST} page reads per post, until the fan-out it caused is done",
        "post: one caller, any user alike, acknowledged posts (Manhattan: stored + fan-out "
        "queued; Redis: SET + own lists); the fan-out deferred past the timing on both "
        "(Redis's pipelines after the window; Manhattan's workers paused through "
        "SetFanout during it, like for like); post fan-out (deferred): the window's "
        "fan-out, drained after it, rate = posts / drain time, CPU per post apart from "
        "the ack's; "
        f"post ({POSTERS} callers): the same, {POSTERS} callers in flight (their fan-out "
        "drained after the window, not timed again)",
        f"{runs} interleaved run(s) of {seconds:.1f} s per workload after {settings.warmup} s "
        "warm-up; CPU µs per unit: server = every process of the system, client = this one",
    ]
    return rows, _ratios({(r.workload, r.system): r for r in rows}), versions, notes, shape


def run(settings: Settings, progress: Progress = lambda _msg: None,
        workdir: Path | None = None) -> list[Result]:
    load_before = [round(x, 2) for x in os.getloadavg()]  # a busy box skews every ratio
    with tempfile.TemporaryDirectory(prefix="manhattan-bench-twitter-", dir=workdir) as tmp:
        rows, ratios, versions, notes, shape = measure(settings, progress, Path(tmp))
    report.write_results(
        report.results_dir(), NAME, TITLE, rows=rows, ratios=ratios, versions=versions,
        notes=notes, settings={**asdict(shape), "threshold": shape.threshold, "seed": SEED,
                               "page": PAGE, "reads_per_post": READS_PER_POST,
                               "timeline_cap": CAP, "rounds": settings.rounds,
                               "seconds": settings.seconds, "warmup_s": settings.warmup,
                               "quick": settings.quick, "load_average_before": load_before})
    return _results(rows, ratios)
