"""Concurrent clients that record every operation: invoke, then ok / fail / info.

``fail`` only for Unavailable (the SDK's "nothing was sent"); everything else that is not
a success (timeouts, cancelled, internal errors) is ``info``: it may have happened.
Each workload runs its own threads (a thread = a process = a session) until ``stop``.
"""

from __future__ import annotations

import itertools
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from manhattan.client import Client, Consistency, RoundRobinPolicy
from manhattan.errors import ManhattanError, Unavailable

from jepsen.history import FAIL, INFO, INVOKE, OK, History

LEVELS = {"ONE": Consistency.ONE, "QUORUM": Consistency.QUORUM, "ALL": Consistency.ALL}


def needed(rf: int) -> dict[str, int]:
    """Replicas a level waits for at replication factor ``rf``."""
    return {"ONE": 1, "QUORUM": rf // 2 + 1, "ALL": rf}


NEEDED = needed(3)
CLIENT_TIMEOUT_S = 2.0
SET_BUCKETS = 8
COUNTER_DATASET = "jepsen-counters"  # the counter workload's dataset (kind counter)


def make_client(endpoints: list[str], token: str, *, pinned: bool,
                timeout: float = CLIENT_TIMEOUT_S) -> Client:
    """The SDK client; ``pinned`` = only the given endpoints (proxy mode, single-node reads)."""
    routing = RoundRobinPolicy(endpoints) if pinned else None
    return Client(endpoints, token=token, timeout=timeout, routing=routing)


def _version(v: Any) -> list[int]:
    return [int(v.timestamp), int(v.writer)]


def _record(r: Any) -> list[Any] | None:
    return None if r is None else [r.value.decode(), _version(r.version)]


@dataclass
class Env:
    """What every workload needs."""

    history: History
    endpoints: list[str]
    token: str
    dataset: str
    pinned: bool
    seed: int
    think_s: float = 0.01


class Workload:
    """Threads calling ``step`` until stopped; every op goes through ``invoke``."""

    name = "workload"
    threads = 2

    def __init__(self, env: Env, first_process: int) -> None:
        self.env = env
        self.first_process = first_process
        self.stop_event = threading.Event()
        self._threads: list[threading.Thread] = []
        self.client = make_client(env.endpoints, env.token, pinned=env.pinned)
        self.ds = self.client.dataset(env.dataset)

    def invoke(self, process: int, f: str, key: str, value: Any,
               call: Callable[[], Any]) -> tuple[str, Any]:
        """Record the invoke, run ``call``, record its completion; returns (type, result)."""
        h = self.env.history
        h.append(process, INVOKE, f, key, value, workload=self.name)
        try:
            result = call()
        except ManhattanError as exc:
            outcome = self.outcome_of(exc)
            h.append(process, outcome, f, key, value, workload=self.name,
                     error=f"{type(exc).__name__}: {str(exc)[:120]}")
            return outcome, None
        except Exception as exc:  # the history must stay well formed whatever happens
            h.append(process, INFO, f, key, value, workload=self.name, error=repr(exc)[:200])
            return INFO, None
        h.append(process, OK, f, key, result, workload=self.name)
        return OK, result

    def outcome_of(self, exc: ManhattanError) -> str:
        """``fail`` only when nothing was sent: the SDK raises Unavailable only then
        (NodeUnreachable, ReplicasUnavailable), decided by structure; a connection lost
        mid-call is a Timeout (ConnectionLost). Anything else may have been applied:
        ``info``."""
        return FAIL if isinstance(exc, Unavailable) else INFO

    def step(self, process: int, rng: random.Random) -> None:
        raise NotImplementedError

    def _loop(self, process: int) -> None:
        rng = random.Random(self.env.seed * 1000 + process)
        while not self.stop_event.is_set():
            self.step(process, rng)
            self.stop_event.wait(self.env.think_s)

    def start(self) -> None:
        """Start the client threads."""
        for i in range(self.threads):
            t = threading.Thread(target=self._loop, args=(self.first_process + i,), daemon=True,
                                 name=f"{self.name}-{i}")
            t.start()
            self._threads.append(t)

    def stop(self) -> None:
        """Ask every thread to stop and wait (each op is bounded by the client timeout)."""
        self.stop_event.set()
        for t in self._threads:
            t.join(CLIENT_TIMEOUT_S * 3)

    def final_reads(self) -> None:
        """Reads after healing, recorded in the history (default: none)."""

    def keys(self) -> list[tuple[str, str]]:
        """Every (pkey, lkey) this workload may have written: convergence checks them."""
        return []

    def close(self) -> None:
        self.client.close()


class SetWorkload(Workload):
    """Insert-only set: unique elements, QUORUM writes, one scan of everything at the end."""

    name = "set"
    threads = 3

    def __init__(self, env: Env, first_process: int) -> None:
        super().__init__(env, first_process)
        self._counter = itertools.count()
        self._lock = threading.Lock()
        self.elements: list[str] = []

    def add(self, process: int, element: str, client: Client | None = None) -> str:
        """Put one element (also used by the kill-coordinator nemesis with a pinned client)."""
        bucket, _, lkey = element.partition(":")
        ds = (client or self.client).dataset(self.env.dataset)
        with self._lock:
            self.elements.append(element)
        outcome, _ = self.invoke(process, "add", "", element, lambda: _version(ds.put(
            bucket, lkey, element, consistency=Consistency.QUORUM)))
        return outcome

    def new_element(self, process: int) -> str:
        n = next(self._counter)
        return f"set{n % SET_BUCKETS}:{process}-{n}"

    def step(self, process: int, rng: random.Random) -> None:
        self.add(process, self.new_element(process))

    def read_all(self, level: Consistency, timeout: float) -> list[str]:
        """Every element, bucket by bucket, at ``level``."""
        out: list[str] = []
        for b in range(SET_BUCKETS):
            out += [r.value.decode() for r in self.ds.iter_scan(
                f"set{b}", page_size=1000, consistency=level, timeout=timeout)]
        return out

    def final_reads(self) -> None:
        # at QUORUM (what reads under load use), then at ALL (the final read the set
        # checker compares with)
        for level in (Consistency.QUORUM, Consistency.ALL):
            for _ in range(5):  # bounded: a final read must succeed for the checker
                if self.invoke(0, "read", "", None,
                               lambda: self.read_all(level, 10))[0] == OK:
                    break
                time.sleep(1)

    def keys(self) -> list[tuple[str, str]]:
        with self._lock:
            return [(e.partition(":")[0], e.partition(":")[2]) for e in self.elements]


class SetReader(Workload):
    """The whole set read at QUORUM every couple of seconds under load (ops recorded in
    the set workload's history)."""

    name = "set"
    threads = 1
    period_s = 2.0

    def __init__(self, env: Env, first_process: int, adder: SetWorkload) -> None:
        super().__init__(env, first_process)
        self.adder = adder

    def step(self, process: int, rng: random.Random) -> None:
        self.invoke(process, "read", "", None,
                    lambda: self.adder.read_all(Consistency.QUORUM, CLIENT_TIMEOUT_S * 2))
        self.stop_event.wait(self.period_s)


class RegisterWorkload(Workload):
    """Registers read and written at every R/W combination; values unique per write.

    Key ``reg-<R>-<W>-<k>``: reads at R, writes at W. Each thread is a session."""

    name = "register"
    threads = 3
    combos = [(r, w) for r in LEVELS for w in LEVELS]
    keys_per_combo = 2

    def __init__(self, env: Env, first_process: int) -> None:
        super().__init__(env, first_process)
        self._n = itertools.count()

    def key_names(self) -> list[str]:
        return [f"reg-{r}-{w}-{k}" for r, w in self.combos for k in range(self.keys_per_combo)]

    def step(self, process: int, rng: random.Random) -> None:
        key = rng.choice(self.key_names())
        _, r, w, _ = key.split("-")
        if rng.random() < 0.5:
            value = f"{process}-{next(self._n)}"
            self.invoke(process, "write", key, value, lambda: [value, _version(self.ds.put(
                key, "", value, consistency=LEVELS[w]))])
        else:
            self.invoke(process, "read", key, None,
                        lambda: _record(self.ds.get(key, "", consistency=LEVELS[r])))

    def keys(self) -> list[tuple[str, str]]:
        return [(k, "") for k in self.key_names()]


class LinearizableWorkload(RegisterWorkload):
    """One register at a time, QUORUM reads and writes, rotated every ``ops_per_key`` ops."""

    name = "linearizable"
    threads = 3
    ops_per_key = 150

    def __init__(self, env: Env, first_process: int) -> None:
        super().__init__(env, first_process)
        self._ops = itertools.count()
        self.used: list[str] = []

    def step(self, process: int, rng: random.Random) -> None:
        key = f"lin-{next(self._ops) // self.ops_per_key}"
        if not self.used or self.used[-1] != key:
            self.used.append(key)
        if rng.random() < 0.5:
            value = f"{process}-{next(self._n)}"
            self.invoke(process, "write", key, value, lambda: [value, _version(self.ds.put(
                key, "", value, consistency=Consistency.QUORUM))])
        else:
            self.invoke(process, "read", key, None,
                        lambda: _record(self.ds.get(key, "", consistency=Consistency.QUORUM)))

    def keys(self) -> list[tuple[str, str]]:
        return [(k, "") for k in dict.fromkeys(self.used)]


class CounterWorkload(Workload):
    """Increments of counters in a counter dataset (``Dataset.add`` at QUORUM, merged
    without loss by the replicas; its env names that dataset, ``COUNTER_DATASET``).

    The checker's unit is the value right after an increment, distinct per acknowledged
    increment. A counter's adds do not return such a value (the owner's view after its
    add; concurrent adds through other owners may share it), so each acknowledged add
    records its rank among the acknowledged adds of its key: 1, 2, 3 ... Then the
    checker's "lost" is acknowledged adds the final value lacks and "duplicated" is
    final value beyond the acknowledged and indeterminate ones: exactly the counter
    contract (acked <= final <= acked + indeterminate)."""

    name = "counter"
    threads = 2
    counters = 2

    def __init__(self, env: Env, first_process: int) -> None:
        super().__init__(env, first_process)
        self._ranks: dict[str, itertools.count] = {}
        self._lock = threading.Lock()

    def _rank(self, key: str) -> int:
        with self._lock:
            return next(self._ranks.setdefault(key, itertools.count(1)))

    def step(self, process: int, rng: random.Random) -> None:
        key = f"ctr-{rng.randrange(self.counters)}"

        def incr() -> int:
            self.ds.add(key, "", 1, consistency=Consistency.QUORUM)
            return self._rank(key)
        self.invoke(process, "incr", key, None, incr)

    def _read(self, key: str) -> int:
        return int(self.ds.counter(key, "", consistency=Consistency.ALL, timeout=10))

    def final_reads(self) -> None:
        for c in range(self.counters):
            key = f"ctr-{c}"
            for _ in range(5):  # bounded: the checker needs one ok read per counter
                if self.invoke(0, "read", key, None, lambda: self._read(key))[0] == OK:
                    break
                time.sleep(1)

    def keys(self) -> list[tuple[str, str]]:
        return [(f"ctr-{c}", "") for c in range(self.counters)]


WORKLOADS: dict[str, type[Workload]] = {
    w.name: w for w in (SetWorkload, RegisterWorkload, LinearizableWorkload, CounterWorkload)}
