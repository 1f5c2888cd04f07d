"""Counters: every increment counted exactly once, or exactly how many were not.

Each ``incr`` returns the counter's value right after it (ok value). With increments
counted exactly once, the acknowledged increments of a counter return distinct values in
1..final, and every value up to the final one was returned by some increment. So:

- lost: acknowledged increments the final value does not hold: one returned a value
  above the final, or k increments returned the same value (k - 1 lost);
- duplicated: values in 1..final no increment returned, beyond what the indeterminate
  ones (``info``: may have happened, value unknown) can explain: counted twice.

The harness's counter is a read-modify-write under last-writer-wins, documented as lossy
(two concurrent increments read n and both write n + 1), so ``lossless=False`` reports
lost increments without failing; a real counter type must show 0 and 0
(``lossless=True``). Duplicates always fail, as does a counter without a final read.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from typing import Any

from jepsen.history import INFO, OK, Op, pairs


def check_counters(ops: Iterable[Op], *, lossless: bool = False) -> dict[str, Any]:
    """Per counter key: acked increments and the values they returned vs the final value."""
    returned: dict[str, Counter[int]] = defaultdict(Counter)
    maybe: dict[str, int] = defaultdict(int)
    final: dict[str, int] = {}
    for p in pairs(ops):
        key = p.invoke.key
        if p.invoke.f == "incr":
            if p.type == OK and p.complete is not None:
                returned[key][int(p.complete.value)] += 1
            elif p.type == INFO:
                maybe[key] += 1
        elif p.invoke.f == "read" and p.type == OK and p.complete is not None:
            final[key] = int(p.complete.value or 0)
    keys = sorted(set(returned) | set(final) | set(maybe))
    per_key: dict[str, dict[str, int]] = {}
    for k in keys:
        f = final.get(k, 0)
        values = returned[k]
        lost = sum(n for v, n in values.items() if v > f) + sum(
            n - 1 for v, n in values.items() if v <= f and n > 1)
        unexplained = sum(1 for v in range(1, f + 1) if v not in values)
        per_key[k] = {"acked": sum(values.values()), "indeterminate": maybe[k], "final": f,
                      "lost": lost, "duplicated": max(unexplained - maybe[k], 0),
                      "recovered": min(unexplained, maybe[k])}
    missing = [k for k in keys if k not in final]
    lost_total = sum(v["lost"] for v in per_key.values())
    duplicated = sum(v["duplicated"] for v in per_key.values())
    return {
        "valid": not missing and duplicated == 0 and (not lossless or lost_total == 0),
        "lossless": lossless, "counters": len(keys),
        "acked_increments": sum(v["acked"] for v in per_key.values()),
        "final_total": sum(final.values()), "lost_updates": lost_total,
        "duplicated_updates": duplicated, "per_key": per_key,
        "missing_final_read": missing,
        "note": "lossless" if lossless else
        "lost updates are expected: read-modify-write under last-writer-wins (documented)",
    }
