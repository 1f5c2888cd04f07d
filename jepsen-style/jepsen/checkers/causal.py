"""Overwrite causality in real time: what LWW under clock skew must still promise.

Ops (workload ``causal``, unique values per key): ``write`` (invoke value = the value; ok
value = [value, [ts, writer]]) and ``read`` (ok value = [value, [ts, writer]] or None).
Order is the real-time order of the history (invoke and completion times), never the
versions the nodes chose, and nothing is excluded for clock faults:

- lost overwrite: write A was invoked after write B was acknowledged, both acknowledged,
  yet A's version is below B's: A is lost to a write that finished before it began.
- stale read (R + W > N): a read invoked after write B was acknowledged returned nothing,
  or the value of a write acknowledged before B was even invoked.
- phantom: a read returned a value no write attempted.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from jepsen.history import OK, Op, Pair, pairs


def _version(result: Any) -> tuple[int, int]:
    return (int(result[1][0]), int(result[1][1]))


def _prefix_max(values: list[Any]) -> list[Any]:
    out: list[Any] = []
    for v in values:
        out.append(v if not out or v > out[-1] else out[-1])
    return out


def check_causal(ops: Iterable[Op], *, sample: int = 10) -> dict[str, Any]:
    """Per key: lost overwrites, real-time stale reads, phantoms."""
    by_key: dict[str, list[Pair]] = defaultdict(list)
    for p in pairs(ops):
        if p.invoke.f in ("write", "read"):
            by_key[p.invoke.key].append(p)
    lost: list[dict[str, Any]] = []
    stale: list[dict[str, Any]] = []
    phantoms: list[dict[str, Any]] = []
    writes_acked = reads = 0
    for key, ps in sorted(by_key.items()):
        attempted = {str(p.invoke.value) for p in ps if p.invoke.f == "write"}
        acked = sorted((p for p in ps if p.invoke.f == "write" and p.type == OK
                        and p.complete is not None), key=lambda p: p.complete.time)  # type: ignore[union-attr]
        writes_acked += len(acked)
        done = [p.complete.time for p in acked]  # type: ignore[union-attr]
        # the highest version, and the latest invocation, among writes acked by time t
        top = _prefix_max([(_version(p.complete.value), str(p.invoke.value))  # type: ignore[union-attr]
                           for p in acked])
        # the acked write invoked last among those acked by time t: what a read after t
        # must not be older than
        latest = _prefix_max([(p.invoke.time, str(p.invoke.value)) for p in acked])
        ack_time = {str(p.invoke.value): p.complete.time for p in acked}  # type: ignore[union-attr]
        for a in acked:
            n = bisect.bisect_left(done, a.invoke.time)
            if n and _version(a.complete.value) < top[n - 1][0]:  # type: ignore[union-attr]
                lost.append({"key": key, "lost": str(a.invoke.value),
                             "version": list(_version(a.complete.value)),  # type: ignore[union-attr]
                             "to": top[n - 1][1], "to_version": list(top[n - 1][0]),
                             "at": a.invoke.time})
        for r in ps:
            if r.invoke.f != "read" or r.type != OK or r.complete is None:
                continue
            reads += 1
            result = r.complete.value
            if result is not None and str(result[0]) not in attempted:
                phantoms.append({"key": key, "read": result, "at": r.complete.time})
                continue
            n = bisect.bisect_left(done, r.invoke.time)
            if not n:
                continue
            got_acked = None if result is None else ack_time.get(str(result[0]))
            if result is None or (got_acked is not None and got_acked < latest[n - 1][0]):
                stale.append({"key": key, "read": result, "at": r.invoke.time,
                              "newer_acked": latest[n - 1][1]})
    return {
        "valid": not lost and not stale and not phantoms,
        "keys": len(by_key), "writes_acked": writes_acked, "reads": reads,
        "lost_count": len(lost), "lost": lost[:sample],
        "stale_count": len(stale), "stale": stale[:sample],
        "phantom_count": len(phantoms), "phantoms": phantoms[:sample],
    }
