"""The service layer under test: one social service process, and a workload of posts
checked against every follower's home timeline.

The service (``manhattan social serve``, started as ``SocialProcess`` on the harness's
side of the bridge, where the clients are) talks to the nodes like any client. Its
celebrity threshold is small, so the follow graph below has authors on both paths:
pushed into followers' timelines, and merged at read.

The follow graph is made before the load and never changes afterwards (the checker's
expectation "every acked post of an author u follows is in u's home timeline" is then
exact); during the load clients only post, and read first pages of home timelines.
After healing: wait (bounded) for the fan-out backlog to drain, then walk every user's
whole home timeline with the cursor.
"""

from __future__ import annotations

import itertools
import logging
import random
import threading
import time
from pathlib import Path
from typing import Any

from manhattan.services.client import SocialClient
from manhattan.errors import AlreadyExists, InvalidRequest, ManhattanError, NotFound, Unavailable
from manhattan.services.snowflake import LeaseLost
from manhattan.node.cluster_file import write_cluster_file
from manhattan.services.process import SocialProcess

from jepsen.history import FAIL, INFO, OK
from jepsen.workloads import Env, Workload

log = logging.getLogger("jepsen.social")

CELEBRITY_THRESHOLD = 3  # authors with more followers than this are merged at read
# the service's own default: a renewal (a QUORUM read and a synced write, every 2 s) may
# take 8 s before the lease lapses. With 5 s, a 2-core host under a load average of ~40
# lost its queue-shard leases over and over and the fan-out never drained (smoke seed
# 431934319: 26 jobs pending 60 s after the heal)
LEASE_VALIDITY_S = 10
USERS = 8
CELEBRITIES = 2  # users u0, u1: 4-6 followers each; the others 1-3
SOCIAL_TIMEOUT_S = 6.0  # a post is three QUORUM writes behind the service
PAGE = 200  # the service's largest page
# the service's Unavailable when it holds no Snowflake worker-id lease: raised before the
# post writes anything (Social.post takes the id after the checks, before the writes); its
# class is named on the wire (``kind``), the SDK keeps that name
NO_IDS = LeaseLost.kind


class SocialService:
    """``manhattan social serve`` for one run, stopped by PID."""

    def __init__(self, root: Path, endpoints: list[str], admin_token: str, *,
                 celebrity_threshold: int = CELEBRITY_THRESHOLD) -> None:
        self.root = root
        self.endpoints = endpoints
        self.threshold = celebrity_threshold
        root.mkdir(parents=True, exist_ok=True)
        write_cluster_file(root, endpoints, admin_token)
        # explicit env: a MANHATTAN_* variable of the caller's must not redirect it
        self.proc = SocialProcess(root, options=["--celebrity-threshold", str(celebrity_threshold),
                                                 "--lease-validity", str(LEASE_VALIDITY_S)],
                                  log_path=root / "social.log",
                                  env={"MANHATTAN_ENDPOINTS": ",".join(endpoints),
                                       "MANHATTAN_TOKEN": admin_token,
                                       "MANHATTAN_CLUSTER_FILE": str(root / "cluster.toml")})

    @property
    def address(self) -> str:
        return self.proc.address

    @property
    def api_token(self) -> str:
        return self.proc.api_token

    def start(self, timeout: float = 60.0) -> None:
        self.proc.start(timeout)

    def stop(self) -> None:
        self.proc.stop()


def follow_graph(seed: int, users: list[str], celebrities: int = CELEBRITIES,
                 threshold: int = CELEBRITY_THRESHOLD) -> list[tuple[str, str]]:
    """(follower, followee) edges from the seed: the first ``celebrities`` users get more
    than ``threshold`` followers (merge-at-read path), the others at most ``threshold``
    (push path); every user follows someone."""
    rng = random.Random(seed * 7919 + 1)
    edges: set[tuple[str, str]] = set()
    for i, author in enumerate(users):
        others = [u for u in users if u != author]
        count = rng.randint(threshold + 1, min(threshold + 3, len(others))) if i < celebrities \
            else rng.randint(1, threshold)
        edges |= {(f, author) for f in rng.sample(others, count)}
    for user in users:  # following a celebrity keeps the others at most ``threshold``
        if not any(f == user for f, _ in edges):
            edges.add((user, rng.choice([u for u in users[:celebrities] if u != user])))
    return sorted(edges)


class SocialWorkload(Workload):
    """Posts with unique texts (``p<process>-<n>``) by random users, and first-page home
    reads; users and the follow graph are made by ``setup`` before the faults."""

    name = "social"
    threads = 3

    def __init__(self, env: Env, first_process: int, endpoint: str, token: str, *,
                 threshold: int = CELEBRITY_THRESHOLD, read_ratio: float = 0.2) -> None:
        self.env = env
        self.first_process = first_process
        self.stop_event = threading.Event()
        self._threads: list[threading.Thread] = []
        self.client = SocialClient(endpoint, token=token, timeout=SOCIAL_TIMEOUT_S)
        self.threshold = threshold
        self.read_ratio = read_ratio
        self.users = [f"u{i}" for i in range(USERS)]
        self.edges = follow_graph(env.seed, self.users, threshold=threshold)
        self._n = itertools.count()
        self.drain: dict[str, Any] = {}

    def outcome_of(self, exc: ManhattanError) -> str:
        """The service's error contract: a rejection before any write (invalid input,
        unknown user, no Snowflake id to give: its worker-id lease is not held) is
        ``fail``; anything else may have written part of a post (the tweet stored, its
        fan-out job not queued), so it is ``info``."""
        before_writes = isinstance(exc, (InvalidRequest, NotFound)) or (
            isinstance(exc, Unavailable) and exc.kind == NO_IDS)
        return FAIL if before_writes else INFO

    def _until_ok(self, f: str, key: str, value: Any, call: Any, timeout: float = 60.0) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            outcome, result = self.invoke(0, f, key, value, call)
            if outcome == OK:
                return result
            if time.monotonic() > deadline:
                raise TimeoutError(f"social setup: {f} {key} {value} never succeeded")
            time.sleep(0.3)

    def setup(self) -> None:
        """Users and the whole follow graph, each op retried until ok (all idempotent),
        before any fault."""
        def create(user: str) -> dict[str, Any]:
            try:
                self.client.create_user(user)
            except AlreadyExists:  # an earlier attempt that timed out had made it
                pass
            return {"user": user}
        for user in self.users:
            self._until_ok("create-user", user, None, lambda user=user: create(user))
        for follower, followee in self.edges:
            self._until_ok("follow", follower, {"follower": follower, "followee": followee},
                           lambda a=follower, b=followee: self.client.follow(a, b) or True)
        self.record_users("setup")

    def record_users(self, when: str) -> None:
        """Each user's follower count and celebrity flag as the service sees them."""
        for user in self.users:
            def profile(user: str = user) -> dict[str, Any]:
                u = self.client.user(user)
                return {"followers": u.followers, "following": u.following,
                        "celebrity": u.celebrity, "when": when}
            self.invoke(0, "user", user, None, profile)

    def step(self, process: int, rng: random.Random) -> None:
        if rng.random() < self.read_ratio:
            user = rng.choice(self.users)

            def first_page() -> list[list[Any]]:
                page = self.client.home(user, limit=20)
                return [[t.id, t.author, t.text] for t in page.tweets]
            self.invoke(process, "home-page", user, None, first_page)
            return
        author = rng.choice(self.users)
        text = f"p{process}-{next(self._n)}"

        def post() -> dict[str, Any]:
            tweet = self.client.post(author, text)
            return {"id": tweet.id, "author": tweet.author, "text": tweet.text}
        self.invoke(process, "post", author, {"author": author, "text": text}, post)

    def stop(self) -> None:
        """Ask the threads to stop and wait (a read may retry a few times)."""
        self.stop_event.set()
        for t in self._threads:
            t.join(SOCIAL_TIMEOUT_S * 5)

    def wait_drained(self, timeout: float) -> dict[str, Any]:
        """Until the fan-out backlog is empty (bounded); what the stats said."""
        started = time.monotonic()
        last: Any = None
        while True:
            try:
                last = self.client.stats()
                if last.fanout_pending == 0:
                    break
            except ManhattanError as exc:
                last = exc
            if time.monotonic() - started > timeout:
                break
            time.sleep(0.5)
        pending = getattr(last, "fanout_pending", None)
        self.drain = {"drained": pending == 0, "waited_s": round(time.monotonic() - started, 2),
                      "pending": pending, "lag_ms": getattr(last, "fanout_lag_ms", None),
                      "deliveries": getattr(last, "deliveries", None),
                      "jobs_done": getattr(last, "jobs_done", None),
                      "error": repr(last) if isinstance(last, Exception) else ""}
        return self.drain

    def walk(self, user: str) -> list[list[Any]]:
        """The whole home timeline, newest first, page by page with the cursor."""
        entries: list[list[Any]] = []
        cursor: bytes | None = None
        for _ in range(100_000):  # bounded: each page moves the cursor down
            page = self.client.home(user, limit=PAGE, cursor=cursor)
            entries += [[t.id, t.author, t.text] for t in page.tweets]
            if page.cursor is None:
                return entries
            cursor = page.cursor
        raise RuntimeError(f"home timeline of {user} did not end")

    def final_reads(self) -> None:
        """After healing and the drain: every user's full home timeline (bounded retries)."""
        self.record_users("final")
        for user in self.users:
            for _ in range(5):
                if self.invoke(0, "home", user, None, lambda user=user: self.walk(user))[0] == OK:
                    break
                time.sleep(1)
