"""Large values beside small ones: tenant ``big`` writes values of 64 KiB - 1 MiB and reads
a dozen of them at once (an answer above the nodes' message limit), while tenant
``calm`` keeps adding small elements. Checked by ``checkers/size.py``: a message-size
failure, or any harm to ``calm`` while a large op is in flight, fails the run.
"""

from __future__ import annotations

import itertools
import random
import threading
import time

from manhattan.client import Consistency

from jepsen.history import OK
from jepsen.workloads import Env, Workload

MIN_VALUE, MAX_VALUE = 64 * 1024, 1024 * 1024
BLOB_KEYS = 2          # pkeys; each holds up to SLOTS values, overwritten in turn
SLOTS = 36
MULTI_READ = 32        # values per multi-key read: ~18 MiB on average, above 16 MiB
LARGE_TIMEOUT_S = 10.0
NEIGHBOUR_BUCKETS = 4


class LargeWorkload(Workload):
    """One thread: puts of large values at QUORUM, and multi-key reads of a dozen."""

    name = "large"
    threads = 1

    def __init__(self, env: Env, first_process: int) -> None:
        super().__init__(env, first_process)
        self._n = itertools.count()

    def step(self, process: int, rng: random.Random) -> None:
        pkey = f"blob{rng.randrange(BLOB_KEYS)}"
        if rng.random() < 0.6:
            size = rng.randint(MIN_VALUE, MAX_VALUE)
            lkey = f"{next(self._n) % SLOTS:02d}"
            value = b"big|" + rng.randbytes(size - 4)
            self.invoke(process, "put", f"{pkey}/{lkey}", size, lambda: self.ds.put(
                pkey, lkey, value, consistency=Consistency.QUORUM,
                timeout=LARGE_TIMEOUT_S) and None)
        else:
            keys = [(pkey, f"{i:02d}") for i in rng.sample(range(SLOTS), MULTI_READ)]

            def read_many() -> list[int]:
                found = [r for r in self.ds.get_many(keys, consistency=Consistency.QUORUM,
                                                     timeout=LARGE_TIMEOUT_S) if r is not None]
                return [len(found), sum(len(r.value) for r in found)]
            self.invoke(process, "get-many", pkey, MULTI_READ, read_many)
        self.stop_event.wait(0.3)


class NeighbourWorkload(Workload):
    """Another tenant's small inserts at QUORUM, read back whole at the end."""

    name = "neighbour"
    threads = 2

    def __init__(self, env: Env, first_process: int) -> None:
        super().__init__(env, first_process)
        self._n = itertools.count()
        self._lock = threading.Lock()
        self.elements: list[str] = []

    def step(self, process: int, rng: random.Random) -> None:
        n = next(self._n)
        bucket, lkey = f"nb{n % NEIGHBOUR_BUCKETS}", f"{process}-{n}"
        element = f"{bucket}:{lkey}"
        with self._lock:
            self.elements.append(element)
        self.invoke(process, "add", "", element, lambda: self.ds.put(
            bucket, lkey, element, consistency=Consistency.QUORUM) and None)

    def final_reads(self) -> None:
        def read_all() -> list[str]:
            return [r.value.decode() for b in range(NEIGHBOUR_BUCKETS) for r in self.ds.iter_scan(
                f"nb{b}", page_size=1000, consistency=Consistency.ALL, timeout=10)]
        for _ in range(5):  # bounded: the checker needs one ok final read
            if self.invoke(0, "read", "", None, read_all)[0] == OK:
                return
            time.sleep(1)
