"""Insert-only set, read during the run: an acknowledged element is in every read that
started after its acknowledgement (reads at QUORUM with QUORUM writes: R + W > N).

Ops (workload ``set``): ``add`` (value = element) and ``read`` (ok value = every element
read; those of process 0 are the final reads after healing, the others ran under load).
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from typing import Any

from jepsen.history import OK, Op, pairs


def check_set_reads(ops: Iterable[Op], *, sample: int = 10) -> dict[str, Any]:
    """Every ok read against the adds acknowledged before it was invoked."""
    ps = pairs(ops)
    acked = sorted((p.complete.time, str(p.invoke.value)) for p in ps  # type: ignore[union-attr]
                   if p.invoke.f == "add" and p.type == OK and p.complete is not None)
    times = [t for t, _ in acked]
    missing: list[dict[str, Any]] = []
    reads = under_load = 0
    for r in ps:
        if r.invoke.f != "read" or r.type != OK or r.complete is None:
            continue
        reads += 1
        under_load += r.invoke.process != 0
        seen = {str(e) for e in r.complete.value or []}
        due = acked[:bisect.bisect_left(times, r.invoke.time)]
        absent = [e for _, e in due if e not in seen]
        if absent:
            missing.append({"read_at": r.invoke.time, "final": r.invoke.process == 0,
                            "missing_count": len(absent), "missing": absent[:sample]})
    return {
        "valid": not missing and reads > 0, "reads": reads, "reads_under_load": under_load,
        "reads_missing_an_acked_element": len(missing),
        "elements_missed": sum(m["missing_count"] for m in missing),
        "misses": missing[:sample],
    }
