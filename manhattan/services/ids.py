"""A Snowflake generator whose worker id is leased in the cluster."""

from __future__ import annotations

import asyncio
import logging

from manhattan.client import AsyncDataset
from manhattan.services.leases import Lease, LeaseTiming
from manhattan.services.queue import producer_lease
from manhattan.services.snowflake import MAX_WORKER, MemoryMark, SnowflakeError, SnowflakeGenerator

log = logging.getLogger("manhattan.services.ids")
# A clock step back up to this is waited out (asynchronously); a larger one is refused.
MAX_CLOCK_BACK_MS = 3_000


class NoWorkerId(SnowflakeError):
    """Every worker id of the datacenter is leased by a live generator."""


class LeasedIdGenerator:
    """Acquires a free worker id, keeps its lease, and issues IDs only while it holds it."""

    def __init__(self, leases: AsyncDataset, datacenter: int, *,
                 timing: LeaseTiming = LeaseTiming(), worker: int | None = None,
                 max_clock_back_ms: int = MAX_CLOCK_BACK_MS) -> None:
        if max_clock_back_ms < 2:
            raise ValueError("max_clock_back_ms must be at least 2")
        self.max_clock_back_ms = max_clock_back_ms
        self.leases = leases
        self.datacenter = datacenter
        self.timing = timing
        self.wanted_worker = worker
        self.lease: Lease | None = None
        self.generator: SnowflakeGenerator | None = None
        self._stop = asyncio.Event()
        self._holder: asyncio.Task[None] | None = None

    @property
    def worker(self) -> int:
        if self.generator is None:
            raise NoWorkerId("no worker id leased yet")
        return self.generator.worker

    async def start(self) -> None:
        """Lease a worker id (trying each free one) and start renewing it."""
        candidates = ([self.wanted_worker] if self.wanted_worker is not None
                      else list(range(MAX_WORKER + 1)))
        for worker in candidates:
            lease = Lease(self.leases, producer_lease(self.datacenter, worker),
                          timing=self.timing)
            if await lease.try_acquire():  # reads first: a held id costs one read
                self.lease = lease
                self.generator = SnowflakeGenerator(
                    self.datacenter, worker, mark=MemoryMark(lease.mark), lease=lease,
                    max_backward_ms=self.max_clock_back_ms,
                    # The mark is the lease record's (written on every renewal), so the
                    # in-memory reserve only bounds how often it is touched.
                    reserve_ms=self.max_clock_back_ms // 2)
                lease.used_up_to = self.generator.last_issued_ms
                self._holder = asyncio.create_task(self._keep(lease), name="id-lease")
                log.info("leased Snowflake worker %d/%d", self.datacenter, worker)
                return
        raise NoWorkerId(f"no free worker id in datacenter {self.datacenter}")

    async def _keep(self, lease: Lease) -> None:
        """Renew; after a loss (IDs stop at once) win the same worker id back when free."""
        while not self._stop.is_set():
            await lease.hold(self._stop)
            while not self._stop.is_set() and not lease.held:
                if not await lease.try_acquire():
                    await asyncio.sleep(self.timing.validity_ms / 1000)

    async def next_id(self) -> int:
        """One ID; a small clock step back is waited out without blocking the loop."""
        return await self._generator().next_id_async()

    async def next_ids(self, count: int) -> list[int]:
        return await self._generator().next_ids_async(count)

    def _generator(self) -> SnowflakeGenerator:
        if self.generator is None:
            raise NoWorkerId("no worker id leased yet")
        return self.generator

    async def stop(self) -> None:
        self._stop.set()
        if self._holder is not None:
            await self._holder
        if self.lease is not None:
            await self.lease.release()
