"""The durable fan-out queue, kept in the cluster.

Jobs live in the ``queue`` dataset under ``shard/<n>/<producer>`` with the job's
Snowflake id as lkey, so each partition is written in increasing id order by
one producer (one ID generator) and read in that order by the one worker that
holds the shard's lease. A finished job is deleted; its tombstone is never read
again because the worker scans from its persisted watermark, not from the
start of the partition (a queue that re-reads its tombstones is the classic
queue-on-Cassandra slowdown). Jobs checkpoint their progress in their own
record, so a restarted worker resumes a big fan-out where it stopped.
"""

from __future__ import annotations

import asyncio
import json
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass

from manhattan.client import AsyncClient
from manhattan.services.scans import first_records
from manhattan.services.schema import Datasets, encode_json, id_key, key_id
from manhattan.services.snowflake import MAX_WORKER, decode
from manhattan.services.leases import wall_ms
from manhattan.types import Consistency, Durability

Q = Consistency.QUORUM
WATERMARK = b"wm"
PRODUCERS_TTL_S = 5.0


@dataclass
class Job:
    """One queued job: what to do and how far it got."""

    id: int
    kind: str
    args: dict

    def encode(self) -> bytes:
        return encode_json({"kind": self.kind, **self.args})

    @classmethod
    def decode(cls, job_id: int, raw: bytes) -> "Job":
        data = json.loads(raw)
        kind = str(data.pop("kind"))
        return cls(job_id, kind, data)


def shard_of(key: str | int, shards: int) -> int:
    """Stable across processes (unlike ``hash``)."""
    return zlib.crc32(str(key).encode()) % shards


def partition(shard: int, datacenter: int, worker: int) -> str:
    return f"shard/{shard}/{datacenter}.{worker}"


def producer_lease(datacenter: int, worker: int) -> str:
    """The lease name of a Snowflake worker id: also names its queue partitions."""
    return f"snowflake/{datacenter}/{worker}"


class FanoutQueue:
    """Enqueue, read in order, checkpoint and complete jobs."""

    def __init__(self, client: AsyncClient, datasets: Datasets, *, shards: int,
                 datacenter: int) -> None:
        self.data = client.dataset(datasets.queue)
        self.leases = client.dataset(datasets.leases)
        self.shards = shards
        self.datacenter = datacenter
        self._watermarks: dict[str, int] = {}
        self._locks = [asyncio.Lock() for _ in range(shards)]
        self._producers: list[int] = []
        self._producers_at = float("-inf")

    async def enqueue(self, shard_key: str | int, kind: str, args: dict,
                      producer_worker: int, next_id: Callable[[], int]) -> Job:
        """Write a job durably and return it.

        The id is taken and the write made under the partition's lock: a later
        id never lands before an earlier one, so the worker's watermark cannot
        pass a job that is still on its way."""
        shard = shard_of(shard_key, self.shards)
        pkey = partition(shard, self.datacenter, producer_worker)
        async with self._locks[shard]:
            job = Job(next_id(), kind, args)
            await self.data.put(pkey, id_key(job.id), job.encode(), consistency=Q,
                                durability=Durability.SYNC)
        return job

    async def producers(self) -> list[int]:
        """Worker ids that have ever held a lease in this datacenter (they may have jobs);
        re-read every ``PRODUCERS_TTL_S``, not on every poll."""
        if time.monotonic() - self._producers_at > PRODUCERS_TTL_S:
            names = [(producer_lease(self.datacenter, w), b"") for w in range(MAX_WORKER + 1)]
            records = await self.leases.get_many(names, consistency=Q)
            self._producers = [w for w, r in enumerate(records) if r is not None]
            self._producers_at = time.monotonic()
        return self._producers

    async def watermark(self, pkey: str, *, fresh: bool = False) -> int:
        """Id of the last job completed in ``pkey`` (persisted, so restarts skip tombstones)."""
        if fresh or pkey not in self._watermarks:
            record = await self.data.get("wm/" + pkey, WATERMARK, consistency=Q)
            self._watermarks[pkey] = int(record.value) if record is not None else 0
        return self._watermarks[pkey]

    async def pending(self, pkey: str, limit: int = 32, *, fresh: bool = False) -> list[Job]:
        """The oldest waiting jobs of a partition, in order."""
        after = await self.watermark(pkey, fresh=fresh)
        records = await first_records(self.data, pkey, limit, start=id_key(after + 1))
        return [Job.decode(key_id(r.lkey), r.value) for r in records]

    async def checkpoint(self, pkey: str, job: Job) -> None:
        """Save the job's progress in its own record."""
        await self.data.put(pkey, id_key(job.id), job.encode(), consistency=Q,
                            durability=Durability.SYNC)

    async def complete(self, pkey: str, job: Job) -> None:
        """Drop a finished job and move the partition's watermark past it."""
        self._watermarks[pkey] = job.id
        await self.data.put("wm/" + pkey, WATERMARK, str(job.id), consistency=Q)
        await self.data.delete(pkey, id_key(job.id), consistency=Q)

    async def backlog(self) -> tuple[int, int]:
        """(jobs waiting, age in ms of the oldest) over every partition."""
        waiting, oldest = 0, 0
        now = wall_ms()
        for worker in await self.producers():
            for shard in range(self.shards):
                pkey = partition(shard, self.datacenter, worker)
                jobs = await self.pending(pkey, limit=1000, fresh=True)
                waiting += len(jobs)
                if jobs:
                    oldest = max(oldest, now - decode(jobs[0].id).timestamp_ms)
        return waiting, max(0, oldest)
