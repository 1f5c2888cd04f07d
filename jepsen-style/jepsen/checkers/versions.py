"""Version order of registers: no phantom values, no stale reads when R+W>N.

Ops (per key, unique values): ``write`` (value = the value; ok value = [value, [ts, writer]])
and ``read`` (ok value = [value, [ts, writer]] or None). Versions are the HLC pairs the node
returns, compared as tuples (last writer wins).

- phantom: a read returned a value no write ever attempted.
- duplicate: a read returned a written value with a version other than the one its write
  was acknowledged with: the write was applied twice (a retry after the first attempt had
  already been applied under another timestamp). Counted apart; not a phantom.
- stale (only when ``strict``, i.e. R+W>N): a read invoked after a write was acknowledged
  returned an older version (or nothing).
- real-time inversion: a write invoked after another was acknowledged got a smaller
  version (clock skew under LWW): reported, not a failure — it is how LWW behaves.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from jepsen.history import OK, Op, Pair, pairs


def _version(result: Any) -> tuple[int, int] | None:
    if result is None:
        return None
    return (int(result[1][0]), int(result[1][1]))


def check_versions(ops: Iterable[Op], *, strict: bool, sample: int = 10) -> dict[str, Any]:
    """Check every key's reads against its writes."""
    by_key: dict[str, list[Pair]] = defaultdict(list)
    for p in pairs(ops):
        if p.invoke.f in ("write", "read"):
            by_key[p.invoke.key].append(p)
    phantoms: list[dict[str, Any]] = []
    stale: list[dict[str, Any]] = []
    duplicates: list[dict[str, Any]] = []
    inversions = 0
    reads = 0
    for key, ps in by_key.items():
        written: dict[str, tuple[int, int] | None] = {}
        acked: list[tuple[float, tuple[int, int]]] = []  # (completion time, version)
        for p in ps:
            if p.invoke.f != "write":
                continue
            version = _version(p.complete.value) if p.type == OK and p.complete else None
            written[str(p.invoke.value)] = version
            if version is not None and p.complete is not None:
                acked.append((p.complete.time, version))
        acked.sort()
        for p in ps:
            if p.invoke.f == "write" and p.type == OK and p.complete is not None:
                mine = _version(p.complete.value)
                before = [v for t, v in acked if t < p.invoke.time]
                if before and mine is not None and mine < max(before):
                    inversions += 1
            if p.invoke.f != "read" or p.type != OK or p.complete is None:
                continue
            reads += 1
            result = p.complete.value
            got = _version(result)
            if result is not None:
                value = str(result[0])
                if value not in written:
                    phantoms.append({"key": key, "read": result, "at": p.complete.time})
                    continue
                if written[value] is not None and written[value] != got:
                    duplicates.append({"key": key, "read": result, "acked": written[value],
                                       "at": p.complete.time})
            if strict:
                before = [v for t, v in acked if t < p.invoke.time]
                if before and (got is None or got < max(before)):
                    stale.append({"key": key, "read": result, "newest_acked": list(max(before)),
                                  "at": p.invoke.time})
    return {
        "valid": not phantoms and not (strict and stale),
        "strict": strict, "keys": len(by_key), "reads": reads,
        "phantom_count": len(phantoms), "phantoms": phantoms[:sample],
        "stale_count": len(stale), "stale": stale[:sample],
        "duplicate_count": len(duplicates), "duplicates": duplicates[:sample],
        "realtime_inversions": inversions,
    }
