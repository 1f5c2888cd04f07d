"""Session guarantees per client process: read-your-writes and monotonic reads.

A process is one session. Read-your-writes: after the process's own write of a key was
acknowledged with version v, its later ok reads of that key return a version >= v.
Monotonic reads: once a process has read an *acknowledged* version of a key, its later
ok reads never return an older one. (A version whose write was not acknowledged may sit
on one replica only: a read at ONE can see it and the next read, at another replica, not;
R+W>N promises nothing about such writes.) Both are promised only when R+W>N
(``strict``); otherwise violations are counted but do not invalidate.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from jepsen.history import OK, Op, pairs


def _version(result: Any) -> tuple[int, int]:
    return (-1, -1) if result is None else (int(result[1][0]), int(result[1][1]))


def check_sessions(ops: Iterable[Op], *, strict: bool, sample: int = 10) -> dict[str, Any]:
    """Scan each process's ops in order."""
    ops = list(ops)
    acknowledged = {(p.invoke.key, _version(p.complete.value)) for p in pairs(ops)
                    if p.type == OK and p.complete is not None and p.invoke.f == "write"}
    floor_write: dict[tuple[int, str], tuple[int, int]] = {}
    floor_read: dict[tuple[int, str], tuple[int, int]] = {}
    ryw: list[dict[str, Any]] = []
    mono: list[dict[str, Any]] = []
    for p in pairs(ops):
        if p.type != OK or p.complete is None or p.invoke.f not in ("write", "read"):
            continue
        slot = (p.invoke.process, p.invoke.key)
        version = _version(p.complete.value)
        if p.invoke.f == "write":
            floor_write[slot] = max(version, floor_write.get(slot, (-1, -1)))
            continue
        if version < floor_write.get(slot, (-1, -1)):
            ryw.append({"process": slot[0], "key": slot[1], "read": list(version),
                        "own_write": list(floor_write[slot]), "at": p.invoke.time})
        if version < floor_read.get(slot, (-1, -1)):
            mono.append({"process": slot[0], "key": slot[1], "read": list(version),
                         "earlier_read": list(floor_read[slot]), "at": p.invoke.time})
        if (p.invoke.key, version) in acknowledged:
            floor_read[slot] = max(version, floor_read.get(slot, (-1, -1)))
    return {
        "valid": not strict or (not ryw and not mono), "strict": strict,
        "ryw_violations": len(ryw), "ryw": ryw[:sample],
        "monotonic_violations": len(mono), "monotonic": mono[:sample],
    }
