"""Linearizability of a compare-and-set register (SERIAL ``put(if_version)``, reads at
SERIAL), per key, with the same Wing–Gong search as ``linearizable.py`` and a CAS model:

* ``read`` of v: the register holds v;
* ``cas`` (expected, new) acknowledged: it held ``expected``, now ``new``;
* ``cas`` that failed its condition with the current value c: it held c (not expected);
* ``cas`` with an unknown outcome (``info``): takes effect at some point after its call
  (its return at +infinity, so "never" is "after everything"), swapping if it finds its
  expected value there and doing nothing otherwise; failed (``fail``) ops are dropped.

Values are unique per write, so a version the client compared with stands for the value
it read with it; None is "absent".
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from jepsen.checkers.linearizable import check_register
from jepsen.history import INFO, OK, Op, pairs

Ops = list[tuple[str, Any, float, float]]


def cas_step(state: Any, f: str, value: Any) -> tuple[bool, Any]:
    """The compare-and-set register's model."""
    if f == "read":
        return state == value, state
    expected, other = value
    if f == "cas":
        return state == expected, other
    if f == "cas-info":  # unknown: it swaps if it finds ``expected``, else does nothing
        return True, other if state == expected else state
    return state == other and state != expected, state  # "cas-failed": other = current


def cas_ops(history: Iterable[Op], workload: str = "cas-register") -> dict[str, Ops]:
    """Per key, what the search needs from the workload's ops."""
    out: dict[str, Ops] = defaultdict(list)
    for p in pairs(o for o in history if o.workload == workload):
        f, key = p.invoke.f, p.invoke.key
        if p.type == OK and p.complete is not None:
            result = p.complete.value
            if f == "read":
                out[key].append(("read", result[0], p.invoke.time, p.complete.time))
            elif result[0] == "ok":
                out[key].append(("cas", tuple(p.invoke.value), p.invoke.time, p.complete.time))
            else:
                out[key].append(("cas-failed", (p.invoke.value[0], result[1]), p.invoke.time,
                                 p.complete.time))
        elif p.type == INFO and f == "cas":
            out[key].append(("cas-info", tuple(p.invoke.value), p.invoke.time, math.inf))
    return out


def check_cas(history: Iterable[Op], *, budget_s: float = 5.0) -> dict[str, Any]:
    """Every key on its own: valid, invalid, or unknown (its search ran out of budget)."""
    results = {key: check_register(ops, budget_s=budget_s, step=cas_step)
               for key, ops in sorted(cas_ops(history).items())}
    invalid = sorted(k for k, v in results.items() if v is False)
    unknown = sorted(k for k, v in results.items() if v is None)
    return {"valid": not invalid, "keys": len(results), "keys_invalid": len(invalid),
            "keys_unknown": len(unknown), "invalid_keys": invalid[:20],
            "unknown_keys": unknown[:20],
            "ops": sum(len(ops) for ops in cas_ops(history).values())}
