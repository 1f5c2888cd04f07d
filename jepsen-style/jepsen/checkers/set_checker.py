"""Insert-only set: every acknowledged add must be in the final read, nothing else may be.

Ops: ``add`` (value = element) and a final ``read`` (value = list of elements, ``ok``).
lost = acked adds missing from the final read; unexpected = elements read that no add
ever attempted (phantoms); recovered = indeterminate (``info``) adds that did land;
failed_present = adds the client was told failed (Unavailable: "nothing was sent") that
are present anyway — a broken promise of the error contract, reported apart.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from jepsen.history import FAIL, INFO, OK, Op, pairs


def check_set(ops: Iterable[Op], *, sample: int = 20) -> dict[str, Any]:
    """Compare the adds with the last ok read."""
    ops = list(ops)
    adds = [p for p in pairs(ops) if p.invoke.f == "add"]
    reads = [o for o in ops if o.f == "read" and o.type == OK]
    # the final read: the last of process 0 (after healing) when there is one; reads
    # under load are for checkers/set_reads.py
    reads = [o for o in reads if o.process == 0] or reads
    if not reads:
        return {"valid": False, "error": "no successful final read", "attempted": len(adds)}
    final = {str(e) for e in reads[-1].value}
    by_outcome: dict[str, set[str]] = {OK: set(), FAIL: set(), INFO: set()}
    for p in adds:
        by_outcome[p.type].add(str(p.invoke.value))
    attempted = set().union(*by_outcome.values())
    lost = sorted(by_outcome[OK] - final)
    unexpected = sorted(final - attempted)
    recovered = sorted(by_outcome[INFO] & final)
    failed_present = sorted(by_outcome[FAIL] & final)
    return {
        "valid": not lost and not unexpected,
        "attempted": len(attempted), "acknowledged": len(by_outcome[OK]),
        "failed": len(by_outcome[FAIL]), "indeterminate": len(by_outcome[INFO]),
        "read_size": len(final),
        "lost_count": len(lost), "lost": lost[:sample],
        "unexpected_count": len(unexpected), "unexpected": unexpected[:sample],
        "recovered_count": len(recovered),
        "failed_present_count": len(failed_present), "failed_present": failed_present[:sample],
    }
