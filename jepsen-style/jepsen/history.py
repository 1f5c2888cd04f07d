"""The recorded history: one ``invoke`` and one completion (``ok``/``fail``/``info``) per op.

``fail`` means the operation certainly did not happen (the SDK raised Unavailable: nothing
was sent); ``info`` means it may or may not have happened (timeouts, lost connections).
Checkers read only this record, never the harness's internal state, so they can be
re-run on a saved history (``history.jsonl``).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

INVOKE, OK, FAIL, INFO = "invoke", "ok", "fail", "info"


@dataclass(frozen=True, slots=True)
class Op:
    """One event of the history. ``value`` is workload-specific (JSON-able)."""

    index: int
    process: int
    type: str
    f: str
    key: str = ""
    value: Any = None
    time: float = 0.0          # seconds since the run began (monotonic)
    workload: str = ""
    node: str = ""             # the endpoint that answered, when known
    error: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class Pair:
    """An invocation matched with its completion (``complete`` None: never completed)."""

    invoke: Op
    complete: Op | None

    @property
    def type(self) -> str:
        """``ok``/``fail``/``info`` (an op with no completion counts as ``info``)."""
        return self.complete.type if self.complete is not None else INFO


class History:
    """An append-only, thread-safe list of ops with a shared clock."""

    def __init__(self, ops: Iterable[Op] = (), *, t0: float | None = None) -> None:
        self._ops: list[Op] = list(ops)
        self._lock = threading.Lock()
        self.t0 = time.monotonic() if t0 is None else t0

    def now(self) -> float:
        """Seconds since the history began."""
        return time.monotonic() - self.t0

    def append(self, process: int, type_: str, f: str, key: str = "", value: Any = None,
               **kw: Any) -> Op:
        """Record one event now."""
        with self._lock:
            op = Op(len(self._ops), process, type_, f, key, value, self.now(), **kw)
            self._ops.append(op)
            return op

    def __iter__(self) -> Iterator[Op]:
        with self._lock:
            return iter(list(self._ops))

    def __len__(self) -> int:
        return len(self._ops)

    def ops(self, workload: str | None = None) -> list[Op]:
        """A snapshot of the ops, optionally of one workload."""
        with self._lock:
            return [o for o in self._ops if workload is None or o.workload == workload]

    def save(self, path: Path) -> None:
        """Write one JSON object per line."""
        with open(path, "w", encoding="utf-8") as fh:
            for op in self.ops():
                fh.write(json.dumps(asdict(op), separators=(",", ":")) + "\n")

    @classmethod
    def load(cls, path: Path) -> "History":
        """Read a history written by ``save``."""
        with open(path, encoding="utf-8") as fh:
            return cls(Op(**json.loads(line)) for line in fh if line.strip())


def pairs(ops: Iterable[Op]) -> list[Pair]:
    """Match each invoke with the next completion of the same process, in history order."""
    open_: dict[int, Op] = {}
    out: list[Pair] = []
    by_invoke: dict[int, Pair] = {}
    for op in ops:
        if op.type == INVOKE:
            pair = Pair(op, None)
            open_[op.process] = op
            by_invoke[op.index] = pair
            out.append(pair)
        else:
            inv = open_.pop(op.process, None)
            if inv is not None:
                by_invoke[inv.index].complete = op
    return out


def build(events: Iterable[tuple[int, str, str, str, Any]], *, workload: str = "") -> list[Op]:
    """Hand-made histories for tests: (process, type, f, key, value) tuples, time = index."""
    return [Op(i, p, t, f, k, v, float(i), workload) for i, (p, t, f, k, v) in enumerate(events)]
