"""Deletes and zombies: keys written, deleted and read again, with the nodes'
``storage.tombstone_grace_s`` at seconds, so tombstones are purged while faults and
membership changes are still moving data around. Checked by ``checkers/zombie.py``.
"""

from __future__ import annotations

import itertools
import random
import time

from manhattan.client import Consistency

from jepsen.history import OK
from jepsen.workloads import Env, Workload

KEYS_PER_PROCESS = 12


class DeleteWorkload(Workload):
    """Per key: write a unique value at QUORUM, delete it at QUORUM, read it back at
    QUORUM (then and later); keys are reused, so old tombstones are purged under load."""

    name = "deletes"
    threads = 2

    def __init__(self, env: Env, first_process: int) -> None:
        super().__init__(env, first_process)
        self._n = itertools.count()
        self.used: set[str] = set()

    def _read(self, process: int, key: str) -> None:
        self.invoke(process, "read", key, None, lambda: self._get(key, 2.0))

    def _get(self, key: str, timeout: float | None = None) -> str | None:
        record = self.ds.get(f"del-{key}", "", consistency=Consistency.QUORUM, timeout=timeout)
        return None if record is None else record.value.decode()

    def step(self, process: int, rng: random.Random) -> None:
        key = f"{process}-{rng.randrange(KEYS_PER_PROCESS)}"
        self.used.add(key)
        roll = rng.random()
        if roll < 0.4:
            value = f"{process}-{next(self._n)}"
            self.invoke(process, "write", key, value, lambda: self.ds.put(
                f"del-{key}", "", value, consistency=Consistency.QUORUM) and None)
        elif roll < 0.7:
            self.invoke(process, "delete", key, None, lambda: self.ds.delete(
                f"del-{key}", "", consistency=Consistency.QUORUM) and None)
        else:
            self._read(process, key)

    def final_reads(self) -> None:
        for key in sorted(self.used):
            for _ in range(3):  # bounded: one ok final read per key when possible
                if self.invoke(0, "read", key, None, lambda: self._get(key, 10.0))[0] == OK:
                    break
                time.sleep(0.5)
