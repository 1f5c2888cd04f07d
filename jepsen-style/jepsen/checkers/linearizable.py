"""Linearizability of a read/write register, per key: the Wing–Gong search with Lowe's
memoisation (the algorithm behind Knossos' and Porcupine's "WGL" checkers).

Each ok op has a call and a return event; an ``info`` write may take effect at any point
after its call, or never, so its return is put at +infinity (taking effect after every
other op is indistinguishable from never); ``info`` reads and ``fail`` ops are dropped.
The search linearises calls in order, backtracking on a return whose op is not yet
linearised; (linearised set, register value) pairs already explored are cached. A time
budget per key turns a search that runs too long into "unknown" instead of hanging.
"""

from __future__ import annotations

import math
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from jepsen.history import INFO, OK, Op, pairs


@dataclass(slots=True)
class _Event:
    op_id: int
    is_call: bool
    time: float
    f: str
    value: Any
    match: "_Event | None" = None
    prev: "_Event | None" = None
    next: "_Event | None" = None


def _events(ops: list[tuple[str, Any, float, float]]) -> _Event:
    """A doubly linked list of call/return events ordered by time (calls first on ties)."""
    events: list[_Event] = []
    for i, (f, value, start, end) in enumerate(ops):
        call = _Event(i, True, start, f, value)
        ret = _Event(i, False, end, f, value)
        call.match = ret
        events += [call, ret]
    events.sort(key=lambda e: (e.time, not e.is_call))
    head = _Event(-1, False, -math.inf, "", None)
    prev = head
    for e in events:
        prev.next, e.prev = e, prev
        prev = e
    return head


def _lift(e: _Event) -> None:
    for x in (e, e.match):
        assert x is not None
        x.prev.next = x.next  # type: ignore[union-attr]
        if x.next is not None:
            x.next.prev = x.prev


def _unlift(e: _Event) -> None:
    for x in (e.match, e):
        assert x is not None
        x.prev.next = x  # type: ignore[union-attr]
        if x.next is not None:
            x.next.prev = x


def _step(state: Any, f: str, value: Any) -> tuple[bool, Any]:
    if f == "write":
        return True, value
    return state == value, state


def check_register(ops: list[tuple[str, Any, float, float]], *, budget_s: float = 5.0,
                   initial: Any = None,
                   step: Callable[[Any, str, Any], tuple[bool, Any]] = _step) -> bool | None:
    """``ops`` = (f, value, call time, return time); True/False, or None on budget exhausted.
    ``step(state, f, value)`` is the object's model: (whether the op fits, the next state);
    a read/write register by default (``checkers/cas.py`` passes a compare-and-set one)."""
    if not ops:
        return True
    head = _events(ops)
    deadline = time.monotonic() + budget_s
    state = initial
    linearized = 0
    cache: set[tuple[int, Any]] = set()
    stack: list[tuple[_Event, Any]] = []
    entry = head.next
    steps = 0
    while head.next is not None:
        steps += 1
        if steps % 1024 == 0 and time.monotonic() > deadline:
            return None
        assert entry is not None
        if entry.is_call:
            ok, new_state = step(state, entry.f, entry.value)
            if ok:
                mask = linearized | (1 << entry.op_id)
                if (mask, new_state) not in cache:
                    cache.add((mask, new_state))
                    stack.append((entry, state))
                    state, linearized = new_state, mask
                    _lift(entry)
                    entry = head.next
                    continue
            entry = entry.next
        else:
            if not stack:
                return False
            entry, state = stack.pop()
            linearized &= ~(1 << entry.op_id)
            _unlift(entry)
            entry = entry.next
    return True


def register_ops(history: Iterable[Op]) -> dict[str, list[tuple[str, Any, float, float]]]:
    """Per key, the ops the search needs (values as strings, None for "absent")."""
    out: dict[str, list[tuple[str, Any, float, float]]] = defaultdict(list)
    for p in pairs(history):
        f = p.invoke.f
        if f not in ("write", "read") or p.complete is None and f == "read":
            continue
        if p.type == OK and p.complete is not None:
            if f == "write":
                value = str(p.invoke.value)
            else:
                result = p.complete.value
                value = None if result is None else str(result[0])
            out[p.invoke.key].append((f, value, p.invoke.time, p.complete.time))
        elif p.type == INFO and f == "write":
            out[p.invoke.key].append((f, str(p.invoke.value), p.invoke.time, math.inf))
    return out


def check_linearizable(history: Iterable[Op], *, budget_s: float = 5.0,
                       total_budget_s: float = 60.0) -> dict[str, Any]:
    """Every key checked on its own; "unknown" keys ran out of their budget."""
    results: dict[str, str] = {}
    started = time.monotonic()
    for key, ops in sorted(register_ops(history).items()):
        left = total_budget_s - (time.monotonic() - started)
        verdict = check_register(ops, budget_s=min(budget_s, max(left, 0.0))) if left > 0 else None
        results[key] = {True: "valid", False: "invalid", None: "unknown"}[verdict]
    counts = {k: sum(1 for v in results.values() if v == k) for k in ("valid", "invalid", "unknown")}
    return {"valid": counts["invalid"] == 0, "keys": len(results),
            "keys_valid": counts["valid"], "keys_invalid": counts["invalid"],
            "keys_unknown": counts["unknown"],
            "invalid_keys": sorted(k for k, v in results.items() if v == "invalid")[:20],
            "unknown_keys": sorted(k for k, v in results.items() if v == "unknown")[:20]}
