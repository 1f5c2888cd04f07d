"""The CAS-register workload: SERIAL compare-and-set and SERIAL reads on one register at
a time (rotated every ``ops_per_key`` ops), checked by ``checkers/cas.py``.

Each thread is a client that compares with the version it last saw of the key (or
``if_absent`` when it saw none); values are unique per write. A failed condition is a
definite answer (recorded ``ok`` with the current value), a timeout is ``info``.
"""

from __future__ import annotations

import itertools
import random
from typing import Any

from manhattan.client import ConditionFailed, Consistency

from jepsen.history import OK
from jepsen.workloads import Env, Workload


class CasRegisterWorkload(Workload):
    """SERIAL reads and compare-and-sets on rotating keys."""

    name = "cas-register"
    threads = 3
    ops_per_key = 100

    def __init__(self, env: Env, first_process: int) -> None:
        super().__init__(env, first_process)
        self._ops = itertools.count()
        self._values = itertools.count()
        self.used: list[str] = []
        self.seen: dict[tuple[int, str], tuple[str | None, Any]] = {}

    def _read(self, process: int, key: str) -> list[Any]:
        record = self.ds.get(key, "", consistency=Consistency.SERIAL)
        value = None if record is None else record.value.decode()
        self.seen[(process, key)] = (value, None if record is None else record.version)
        return [value]

    def _cas(self, process: int, key: str, expected: tuple[str | None, Any], new: str
             ) -> list[Any]:
        condition = ({"if_absent": True} if expected[1] is None
                     else {"if_version": expected[1]})
        try:
            version = self.ds.put(key, "", new, **condition)
        except ConditionFailed as failed:
            current = failed.current
            value = None if current is None else current.value.decode()
            self.seen[(process, key)] = (value, None if current is None else current.version)
            return ["failed", value]
        self.seen[(process, key)] = (new, version)
        return ["ok", list(version[:2])]

    def step(self, process: int, rng: random.Random) -> None:
        key = f"cas-{next(self._ops) // self.ops_per_key}"
        if not self.used or self.used[-1] != key:
            self.used.append(key)
        expected = self.seen.get((process, key), (None, None))
        if rng.random() < 0.4:
            self.invoke(process, "read", key, None, lambda: self._read(process, key))
        else:
            new = f"{process}-{next(self._values)}"
            self.invoke(process, "cas", key, [expected[0], new],
                        lambda: self._cas(process, key, expected, new))

    def final_reads(self) -> None:
        """One SERIAL read of every key after healing (bounded retries), so a value the
        register took behind the clients' backs after their last op is judged too."""
        process = self.first_process + self.threads
        for key in dict.fromkeys(self.used):
            for _ in range(3):
                outcome, _ = self.invoke(process, "read", key, None,
                                         lambda key=key: self._read(process, key))
                if outcome == OK:
                    break

    def keys(self) -> list[tuple[str, str]]:
        return [(k, "") for k in dict.fromkeys(self.used)]
