"""The YCSB core workloads A-F as deterministic operation streams, for any store.

Why here (an installed module, not bench/): ``manhattan bench ycsb`` runs these
against a user's cluster, and ``make bench`` runs the very same streams against
Manhattan and its peers, so every system sees identical keys, values and op mix.

What follows YCSB's CoreWorkload:

* workloads A (read 0.5 / update 0.5), B (0.95 / 0.05), C (read 1.0), D (read 0.95 /
  insert 0.05, *latest*), E (scan 0.95 / insert 0.05, scan length uniform 1..100),
  F (read 0.5 / read-modify-write 0.5); A, B, C, E, F use the *scrambled zipfian*
  request distribution (constant 0.99: a zipfian over 10^10 items folded onto the
  key space by FNV-1a 64, so the hot keys are spread over the key space);
* *latest* = newest key minus a zipfian offset (favours recent inserts);
* keys are inserted in key-number order in the load phase; run-phase inserts
  continue the sequence; key number ``k`` is named by FNV-1a 64 of ``k`` (YCSB's
  hashed, unordered inserts).

What differs, and why:

* One value per record (not 10 fields x 100 B): size uniform in
  ``[value_min, value_max]`` (default 100 B..1 KB), so stores without fields
  compare like with like. Values are slices of one seeded random buffer.
* **Key mapping.** A record lives in a *bucket*: ``bucket = b"b%05d" % (h % buckets)``,
  ``item = b"user%020d" % h`` where ``h = fnv64(k)``. Manhattan stores it at
  (pkey = bucket, lkey = item), so a scan is a real Manhattan scan inside one pkey
  (one replica set), from the start item on, in lkey order. Peers keep the same
  order inside a bucket (a sorted index per bucket, or byte-ordered keys), and a
  scan never crosses into the next bucket: "the next N records of this bucket".
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import NamedTuple, Protocol, runtime_checkable

# -- the workloads ----------------------------------------------------------------

READ, UPDATE, INSERT, SCAN, RMW = "read", "update", "insert", "scan", "read-modify-write"
KINDS = (READ, UPDATE, INSERT, SCAN, RMW)
ZIPFIAN, LATEST, UNIFORM = "zipfian", "latest", "uniform"


@dataclass(frozen=True)
class Workload:
    """Operation proportions (summing to 1) and the request distribution."""

    name: str
    description: str
    proportions: tuple[tuple[str, float], ...]
    distribution: str = ZIPFIAN
    max_scan_length: int = 100

    def proportion(self, kind: str) -> float:
        return dict(self.proportions).get(kind, 0.0)


WORKLOADS: dict[str, Workload] = {w.name: w for w in (
    Workload("A", "update heavy: 50% read, 50% update", ((READ, 0.5), (UPDATE, 0.5))),
    Workload("B", "read mostly: 95% read, 5% update", ((READ, 0.95), (UPDATE, 0.05))),
    Workload("C", "read only", ((READ, 1.0),)),
    Workload("D", "read latest: 95% read, 5% insert", ((READ, 0.95), (INSERT, 0.05)), LATEST),
    Workload("E", "short scans: 95% scan (1..100 records), 5% insert",
             ((SCAN, 0.95), (INSERT, 0.05))),
    Workload("F", "read-modify-write: 50% read, 50% RMW", ((READ, 0.5), (RMW, 0.5))),
)}


# -- keys -------------------------------------------------------------------------

_FNV_OFFSET, _FNV_PRIME, _MASK64 = 0xCBF29CE484222325, 0x100000001B3, (1 << 64) - 1


def fnv64(value: int) -> int:
    """FNV-1a 64 over the 8 little-endian bytes of ``value`` (as YCSB hashes key numbers)."""
    h = _FNV_OFFSET
    for _ in range(8):
        h ^= value & 0xFF
        h = (h * _FNV_PRIME) & _MASK64
        value >>= 8
    return h


class Key(NamedTuple):
    """A record's place: its bucket (Manhattan pkey) and its item (Manhattan lkey)."""

    bucket: bytes
    item: bytes


class KeyMap:
    """Key number -> Key; see the module docstring for the mapping."""

    def __init__(self, buckets: int) -> None:
        if buckets < 1:
            raise ValueError("buckets must be at least 1")
        self.buckets = buckets

    def key(self, number: int) -> Key:
        h = fnv64(number)
        return Key(b"b%05d" % (h % self.buckets), b"user%020d" % h)


def default_buckets(records: int) -> int:
    """About 1,000 records per bucket: scans of up to 100 rarely hit a bucket's end,
    and there are enough buckets to spread over every node / Redis Cluster slot owner."""
    return max(1, records // 1000)


# -- distributions ----------------------------------------------------------------

ZIPFIAN_CONSTANT = 0.99
SCRAMBLED_ITEMS = 10_000_000_000  # YCSB's scrambled zipfian draws over 10^10 items
_EXACT_TERMS = 100_000


def zeta(n: int, theta: float, start: int = 0, base: float = 0.0) -> float:
    """sum(1 / i**theta for i in start+1..n) + base; terms past 10^5 by the midpoint
    integral (exact to ~1e-9 there), so 10^10 items cost nothing."""
    total = base
    exact_end = min(n, max(start, _EXACT_TERMS))
    for i in range(start + 1, exact_end + 1):
        total += i ** -theta
    if n > exact_end:
        lo, hi = exact_end + 0.5, n + 0.5
        total += (hi ** (1 - theta) - lo ** (1 - theta)) / (1 - theta)
    return total


class Zipfian:
    """Zipfian over [0, n) (Gray et al., as in YCSB); item 0 is the most popular.

    ``next(n)`` may be called with a growing ``n`` (the latest distribution): zeta
    is extended incrementally rather than recomputed.
    """

    def __init__(self, items: int, rng: random.Random, theta: float = ZIPFIAN_CONSTANT) -> None:
        if items < 1:
            raise ValueError("a zipfian needs at least one item")
        self.rng = rng
        self.theta = theta
        self.alpha = 1.0 / (1.0 - theta)
        self.zeta2 = zeta(2, theta)
        self.items = items
        self.zetan = zeta(items, theta)
        self._eta()

    def _eta(self) -> None:
        n, theta = self.items, self.theta
        # n <= 2: next() answers from its first two branches, eta is never used (and the
        # formula would divide by zero at n == 2, where zeta(n) == zeta(2)).
        self.eta = (1 - (2.0 / n) ** (1 - theta)) / (1 - self.zeta2 / self.zetan) if n > 2 else 0.0

    def _resize(self, items: int) -> None:
        if items > self.items:
            self.zetan = zeta(items, self.theta, self.items, self.zetan)
        else:
            self.zetan = zeta(items, self.theta)
        self.items = items
        self._eta()

    def next(self, items: int | None = None) -> int:
        if items is not None and items != self.items:
            self._resize(items)
        u = self.rng.random()
        uz = u * self.zetan
        if uz < 1.0:
            return 0
        if uz < 1.0 + 0.5 ** self.theta:
            return 1 if self.items > 1 else 0
        value = int(self.items * (self.eta * u - self.eta + 1) ** self.alpha)
        return min(value, self.items - 1)


class ScrambledZipfian:
    """YCSB's scrambled zipfian over [0, items): popular key numbers are spread out."""

    def __init__(self, items: int, rng: random.Random) -> None:
        self.items = items
        self.zipfian = Zipfian(SCRAMBLED_ITEMS, rng)

    def next(self) -> int:
        return fnv64(self.zipfian.next()) % self.items


# -- values -----------------------------------------------------------------------


class Values:
    """Values of a seeded size in [low, high], sliced from one seeded random buffer."""

    def __init__(self, low: int, high: int, rng: random.Random, pool: int = 1 << 16) -> None:
        if not 1 <= low <= high:
            raise ValueError(f"value sizes need 1 <= min <= max, got {low}..{high}")
        self.low, self.high, self.rng = low, high, rng
        self.buffer = rng.randbytes(pool + high)
        self.pool = pool

    def next(self) -> bytes:
        size = self.rng.randint(self.low, self.high)
        offset = self.rng.randrange(self.pool)
        return self.buffer[offset:offset + size]


# -- operations -------------------------------------------------------------------


class Operation(NamedTuple):
    """One YCSB operation: ``value`` for writes, ``scan_length`` for scans."""

    kind: str
    number: int
    key: Key
    value: bytes | None = None
    scan_length: int = 0


class OperationStream:
    """The run phase of one workload: deterministic for (workload, seed, settings).

    ``key_count`` is how many records exist (the load phase's ``records`` plus
    inserts so far); pass it on to the next workload's stream so that inserts
    never reuse a key number. ``expected_inserts`` widens the zipfian's range as
    YCSB does, so that new keys can be chosen too.
    """

    def __init__(self, workload: Workload, key_count: int, seed: int, *, keys: KeyMap,
                 value_min: int = 100, value_max: int = 1000,
                 expected_inserts: int = 0) -> None:
        if key_count < 1:
            raise ValueError("the run phase needs at least one loaded record")
        self.workload = workload
        self.key_count = key_count
        self.keys = keys
        self.rng = random.Random(f"ycsb:{seed}:{workload.name}")
        self.values = Values(value_min, value_max, self.rng)
        self._kinds = [kind for kind, p in workload.proportions if p > 0]
        self._cumulative = list(_accumulate(p for _, p in workload.proportions if p > 0))
        if workload.distribution == ZIPFIAN:
            span = key_count + 2 * expected_inserts
            self._scrambled = ScrambledZipfian(span, self.rng)
        elif workload.distribution == LATEST:
            self._latest = Zipfian(key_count, self.rng)
        elif workload.distribution != UNIFORM:
            raise ValueError(f"unknown request distribution {workload.distribution!r}")

    def _kind(self) -> str:
        u = self.rng.random() * self._cumulative[-1]
        for kind, edge in zip(self._kinds, self._cumulative):
            if u < edge:
                return kind
        return self._kinds[-1]

    def choose(self) -> int:
        """An existing key number, by the workload's request distribution."""
        n = self.key_count
        distribution = self.workload.distribution
        if distribution == ZIPFIAN:
            while True:  # the range includes keys not inserted yet: draw again
                number = self._scrambled.next()
                if number < n:
                    return number
        if distribution == LATEST:
            return n - 1 - self._latest.next(n)
        return self.rng.randrange(n)

    def next(self) -> Operation:
        kind = self._kind()
        if kind == INSERT:
            number = self.key_count
            self.key_count += 1
            return Operation(kind, number, self.keys.key(number), self.values.next())
        number = self.choose()
        key = self.keys.key(number)
        if kind == SCAN:
            length = self.rng.randint(1, self.workload.max_scan_length)
            return Operation(kind, number, key, None, length)
        value = self.values.next() if kind in (UPDATE, RMW) else None
        return Operation(kind, number, key, value)

    def take(self, count: int) -> list[Operation]:
        """The next ``count`` operations (generated up front, outside any timing)."""
        return [self.next() for _ in range(count)]


def _accumulate(values: Iterable[float]) -> Iterator[float]:
    total = 0.0
    for value in values:
        total += value
        yield total


def load_items(records: int, seed: int, keys: KeyMap, value_min: int = 100,
               value_max: int = 1000, start: int = 0) -> Iterator[tuple[Key, bytes]]:
    """The load phase: key numbers ``start..records-1`` in order, with seeded values."""
    values = Values(value_min, value_max, random.Random(f"ycsb:{seed}:load"))
    for number in range(start, records):
        yield keys.key(number), values.next()


# -- what a store must do ---------------------------------------------------------


@runtime_checkable
class Store(Protocol):
    """A system under test. Every method is one client-visible operation."""

    name: str

    def insert(self, key: Key, value: bytes) -> None: ...

    def read(self, key: Key) -> bytes | None: ...

    def update(self, key: Key, value: bytes) -> None: ...

    def scan(self, key: Key, count: int) -> int:
        """Read up to ``count`` records of ``key.bucket`` from ``key.item`` on, in item
        order; returns how many came back."""
        ...

    def read_modify_write(self, key: Key, value: bytes) -> bool:
        """Read the record, then write ``value``; returns whether it was found."""
        ...

    def load(self, items: list[tuple[Key, bytes]]) -> None:
        """Insert a batch in the load phase (the store's own bulk path)."""
        ...

    def close(self) -> None: ...


class StoreBase:
    """Defaults an adapter may keep: RMW as read-then-update (YCSB's client does the
    same, no atomicity), load as one insert per item."""

    name = "store"

    def read(self, key: Key) -> bytes | None:  # pragma: no cover - adapters override
        raise NotImplementedError

    def update(self, key: Key, value: bytes) -> None:  # pragma: no cover
        raise NotImplementedError

    def insert(self, key: Key, value: bytes) -> None:
        self.update(key, value)

    def read_modify_write(self, key: Key, value: bytes) -> bool:
        found = self.read(key) is not None
        self.update(key, value)
        return found

    def load(self, items: list[tuple[Key, bytes]]) -> None:
        for key, value in items:
            self.insert(key, value)

    def close(self) -> None:
        pass


def parse_value_size(text: str) -> tuple[int, int]:
    """``"N"`` (fixed) or ``"MIN-MAX"`` bytes -> (min, max)."""
    parts = text.strip().split("-")
    try:
        low, high = (int(parts[0]), int(parts[-1])) if len(parts) in (1, 2) else (0, -1)
    except ValueError:
        raise ValueError(f"value size {text!r}: expected N or MIN-MAX bytes") from None
    if not 1 <= low <= high:
        raise ValueError(f"value size {text!r}: need 1 <= MIN <= MAX")
    return low, high


__all__ = [
    "INSERT", "KINDS", "LATEST", "READ", "RMW", "SCAN", "UNIFORM", "UPDATE", "WORKLOADS",
    "ZIPFIAN", "Key", "KeyMap", "Operation", "OperationStream", "ScrambledZipfian", "Store",
    "StoreBase", "Values", "Workload", "Zipfian", "default_buckets", "fnv64", "load_items",
    "parse_value_size", "zeta",
]
