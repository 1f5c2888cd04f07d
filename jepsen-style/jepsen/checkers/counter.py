"""Counters by read-modify-write under LWW: lost updates are documented behaviour.

Each ``incr`` reads the counter and writes value+1 (two separate requests), so two
concurrent increments can both write the same number: LWW keeps one. The checker
counts them; it only flags what LWW cannot explain: a final value above the number of
increments that may have happened (acked + indeterminate), or a missing final read.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from jepsen.history import INFO, OK, Op, pairs


def check_counters(ops: Iterable[Op]) -> dict[str, Any]:
    """Per counter key: acked increments vs the final value."""
    acked: dict[str, int] = defaultdict(int)
    maybe: dict[str, int] = defaultdict(int)
    final: dict[str, int] = {}
    for p in pairs(ops):
        key = p.invoke.key
        if p.invoke.f == "incr":
            if p.type == OK:
                acked[key] += 1
            elif p.type == INFO:
                maybe[key] += 1
        elif p.invoke.f == "read" and p.type == OK and p.complete is not None:
            final[key] = int(p.complete.value or 0)
    keys = sorted(set(acked) | set(final))
    impossible = [k for k in keys if final.get(k, 0) > acked[k] + maybe[k]]
    missing = [k for k in keys if k not in final]
    lost = sum(max(acked[k] - final.get(k, 0), 0) for k in keys)
    return {
        "valid": not impossible and not missing,
        "counters": len(keys), "acked_increments": sum(acked.values()),
        "final_total": sum(final.values()), "lost_updates": lost,
        "impossible": impossible, "missing_final_read": missing,
        "note": "lost updates are expected: read-modify-write under last-writer-wins",
    }
