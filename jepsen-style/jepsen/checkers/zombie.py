"""No zombies: a value whose delete was acknowledged never comes back.

Ops (workload ``deletes``, unique values): ``write`` (invoke value = the value), ``delete``
(key) and ``read`` (ok value = the value or None). A value is *deleted* by an
acknowledged delete invoked after its write was acknowledged; a read invoked after that
delete was acknowledged must not return it (the final reads after healing included).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from jepsen.history import OK, Op, Pair, pairs


def check_zombies(ops: Iterable[Op], *, sample: int = 10) -> dict[str, Any]:
    """Per key: reads that returned a value after its delete was acknowledged."""
    by_key: dict[str, list[Pair]] = defaultdict(list)
    for p in pairs(ops):
        by_key[p.invoke.key].append(p)
    zombies: list[dict[str, Any]] = []
    deletes = reads_after = 0
    for key, ps in sorted(by_key.items()):
        acked_at = {str(p.invoke.value): p.complete.time for p in ps  # type: ignore[union-attr]
                    if p.invoke.f == "write" and p.type == OK and p.complete is not None}
        dels = [p for p in ps if p.invoke.f == "delete" and p.type == OK and p.complete is not None]
        deletes += len(dels)
        for r in ps:
            if r.invoke.f != "read" or r.type != OK or r.complete is None:
                continue
            value = r.complete.value
            killers = [d for d in dels if d.complete.time < r.invoke.time]  # type: ignore[union-attr]
            if killers:
                reads_after += 1
            if value is None or str(value) not in acked_at:
                continue
            written = acked_at[str(value)]
            killer = next((d for d in killers if d.invoke.time > written), None)
            if killer is not None:
                zombies.append({"key": key, "value": str(value), "written_at": written,
                                "deleted_at": killer.complete.time,  # type: ignore[union-attr]
                                "read_at": r.invoke.time, "final": r.invoke.process == 0})
    return {
        "valid": not zombies, "keys": len(by_key), "deletes_acked": deletes,
        "reads_after_delete": reads_after,
        "zombie_count": len(zombies), "zombies": zombies[:sample],
    }
