"""Overwrite causality under skew: registers written and read through different
coordinators (a client pinned to each node, one chosen per op) while clocks are bumped,
strobed and stepped back across a restart. Checked by ``checkers/causal.py`` in real time.
"""

from __future__ import annotations

import itertools
import random
import time

from manhattan.client import Client, Consistency

from jepsen.history import OK
from jepsen.workloads import Env, Workload, _record, _version, make_client

KEYS = 6


class CausalWorkload(Workload):
    """QUORUM writes and reads of a few registers, each op through a random coordinator:
    no session clock links two ops, only real time does."""

    name = "causal"
    threads = 3

    def __init__(self, env: Env, first_process: int) -> None:
        super().__init__(env, first_process)
        self._n = itertools.count()
        self.pinned: list[Client] = [make_client([a], env.token, pinned=True)
                                     for a in env.endpoints]

    def step(self, process: int, rng: random.Random) -> None:
        key = f"cz-{rng.randrange(KEYS)}"
        ds = rng.choice(self.pinned).dataset(self.env.dataset)
        if rng.random() < 0.5:
            value = f"{process}-{next(self._n)}"
            self.invoke(process, "write", key, value, lambda: [value, _version(ds.put(
                key, "", value, consistency=Consistency.QUORUM))])
        else:
            self.invoke(process, "read", key, None,
                        lambda: _record(ds.get(key, "", consistency=Consistency.QUORUM)))

    def final_reads(self) -> None:
        for k in range(KEYS):
            key = f"cz-{k}"
            for _ in range(5):  # bounded: one ok final read per key
                if self.invoke(0, "read", key, None, lambda: _record(self.ds.get(
                        key, "", consistency=Consistency.QUORUM, timeout=10)))[0] == OK:
                    break
                time.sleep(1)

    def keys(self) -> list[tuple[str, str]]:
        return [(f"cz-{k}", "") for k in range(KEYS)]

    def close(self) -> None:
        super().close()
        for c in self.pinned:
            c.close()
