"""The durable fan-out queue, kept in the cluster.

Jobs live in the ``queue`` dataset under ``shard/<n>/<datacenter>`` with a key that
starts with a Snowflake id (8 bytes, big-endian), read in key order by the one worker
that holds the shard's lease. A tweet's jobs go to the shard of its id, so its
*deliver* (keyed by the tweet id) and *retract* (keyed after it) share a partition and
run in that order; a user's follow/unfollow/rebuild jobs share the shard of the user.

**Posting is one write.** A deliver job carries the whole tweet: storing it is storing
the post (one record, so one atomic write in one replica set). The worker's first step
writes the tweet into ``tweets`` and ``user_tweets``; until then a read of the tweet finds
it in the job (its partition and key follow from its id, see :func:`tweet_job_key`).

**No lock, no lost job.** Producers write concurrently and without a lock, so jobs can
land out of key order. A producer writes a job only while its key is fresh
(``WRITE_WINDOW_MS``) and gives up after ``JOB_WRITE_TIMEOUT_S``, so no job lands more
than ``LAG_MS`` behind its key's time. Finished jobs are deleted; a worker's periodic
sweep scans from its persisted *watermark*, which never passes a pending job nor comes
closer than ``LAG_MS`` to now, so a late job is always found and the tombstones behind
the watermark are never read again (a queue that re-reads its tombstones is the classic
queue-on-Cassandra slowdown). Jobs queued by this process also wake the worker with
their key, so it reads just them at once. Jobs checkpoint progress in their own record,
and every job is idempotent, so a restarted worker resumes where it stopped.
"""

from __future__ import annotations

import json
import zlib
from dataclasses import dataclass, field

from manhattan.client import AsyncClient, Delete, InvalidRequest, Put
from manhattan.services.leases import wall_ms
from manhattan.services.scans import first_records
from manhattan.services.schema import Datasets, encode_json, id_key, key_id
from manhattan.services.snowflake import decode, lowest_id_at
from manhattan.services.write_batch import WriteBatcher
from manhattan.types import Consistency, Durability

Q = Consistency.QUORUM
WATERMARK = b"wm"
# A job is written only while its key's time is this recent (a client's retried post
# reuses its id for at most this long)...
WRITE_WINDOW_MS = 30_000
# ...and a write gives up after this long, so...
JOB_WRITE_TIMEOUT_S = 5.0
# ...no job lands more than this behind its key's time (with room for clock skew).
LAG_MS = WRITE_WINDOW_MS + int(JOB_WRITE_TIMEOUT_S * 1000) + 10_000
SWEEP_PAGE = 1000
RETRACT_SUFFIX = b"r"


@dataclass
class Job:
    """One queued job: what to do and how far it got. ``key`` orders it in its partition."""

    key: bytes
    kind: str
    args: dict
    pkey: str = ""
    shard: int = field(default=0, compare=False)

    @property
    def id(self) -> int:
        """The Snowflake id the key starts with (its time is the job's age)."""
        return key_id(self.key[:8])

    def encode(self) -> bytes:
        return encode_json({"kind": self.kind, **self.args})

    @classmethod
    def decode(cls, key: bytes, raw: bytes, pkey: str = "", shard: int = 0) -> "Job":
        data = json.loads(raw)
        kind = str(data.pop("kind"))
        return cls(key, kind, data, pkey, shard)


def shard_of(key: str | int, shards: int) -> int:
    """Stable across processes (unlike ``hash``)."""
    return zlib.crc32(str(key).encode()) % shards


def partition(shard: int, datacenter: int) -> str:
    return f"shard/{shard}/{datacenter}"


def producer_lease(datacenter: int, worker: int) -> str:
    """The lease name of a Snowflake worker id."""
    return f"snowflake/{datacenter}/{worker}"


def after(key: bytes) -> bytes:
    """The smallest key above ``key``."""
    return key + b"\x00"


class FanoutQueue:
    """Enqueue, read in order, checkpoint and complete jobs."""

    def __init__(self, client: AsyncClient, datasets: Datasets, *, shards: int,
                 datacenter: int) -> None:
        self.data = client.dataset(datasets.queue)
        # Posts in flight together are stored together (group commit; see write_batch).
        self.jobs = WriteBatcher(self.data, consistency=Q, durability=Durability.SYNC,
                                 timeout=JOB_WRITE_TIMEOUT_S)
        self.shards = shards
        self.datacenter = datacenter
        # Told (shard, key) of every job this process queued: the worker's wake-up.
        self.listeners: list = []

    def tweet_job_key(self, tweet_id: int) -> tuple[int, str, bytes]:
        """(shard, partition, key) of a tweet's deliver job: follows from the id alone."""
        shard = shard_of(tweet_id, self.shards)
        return shard, partition(shard, decode(tweet_id).datacenter), id_key(tweet_id)

    def user_shard(self, user: str) -> tuple[int, str]:
        shard = shard_of(user, self.shards)
        return shard, partition(shard, self.datacenter)

    async def enqueue(self, shard: int, pkey: str, key: bytes, kind: str, args: dict) -> Job:
        """Write a job durably (SYNC, QUORUM) in one write, then wake the local worker.
        Jobs queued at the same moment share that write (``WriteBatcher``).

        Raises what the write raised: ``Unavailable`` (nothing was written) or
        ``Timeout`` (the outcome is unknown; the job may land, within ``LAG_MS``)."""
        age = wall_ms() - decode(key_id(key[:8])).timestamp_ms
        if age > WRITE_WINDOW_MS:
            raise InvalidRequest(f"the id is {age / 1000:.0f} s old; a job (or a post) is "
                                 f"written only within {WRITE_WINDOW_MS // 1000} s of its "
                                 "id: take a fresh one")
        job = Job(key, kind, args, pkey, shard)
        await self.jobs.put(pkey, key, job.encode())
        for listener in self.listeners:
            listener(shard, key)
        return job

    async def get(self, pkey: str, key: bytes) -> Job | None:
        record = await self.data.get(pkey, key, consistency=Q)
        return Job.decode(key, record.value, pkey) if record is not None else None

    async def pending(self, shard: int, start: bytes, limit: int) -> list[Job]:
        """The waiting jobs of a shard from ``start`` on, in key order."""
        pkey = partition(shard, self.datacenter)
        records = await first_records(self.data, pkey, limit, start=start)
        return [Job.decode(r.lkey, r.value, pkey, shard) for r in records]

    async def checkpoint(self, job: Job) -> None:
        """Save the job's progress in its own record. Buffered: jobs are idempotent, so a
        lost checkpoint only repeats a batch."""
        await self.data.put(job.pkey, job.key, job.encode(), consistency=Q)

    async def complete(self, pkey: str, keys: list[bytes]) -> None:
        """Drop finished jobs (one partition: one atomic write)."""
        if keys:
            await self.data.put_many([Delete(pkey, k) for k in keys], consistency=Q)

    async def watermark(self, shard: int) -> bytes:
        """Where a sweep of the shard starts: every job below it is done."""
        record = await self.data.get("wm/" + partition(shard, self.datacenter), WATERMARK,
                                     consistency=Q)
        return record.value if record is not None else b""

    async def save_watermark(self, shard: int, key: bytes) -> None:
        await self.data.put_many([Put("wm/" + partition(shard, self.datacenter), WATERMARK,
                                      key)], consistency=Q)

    @staticmethod
    def lag_bound() -> bytes:
        """No job below this key can still land (see the module docstring)."""
        return id_key(lowest_id_at(wall_ms() - LAG_MS))

    async def backlog(self, starts: dict[int, bytes] | None = None) -> tuple[int, int]:
        """(jobs waiting, age in ms of the oldest) over every shard, each scanned from
        ``starts`` (a worker's watermarks, known in memory) or its stored watermark."""
        waiting, oldest = 0, 0
        now = wall_ms()
        for shard in range(self.shards):
            start = (starts or {}).get(shard)
            if start is None:
                start = await self.watermark(shard)
            jobs = await self.pending(shard, start, SWEEP_PAGE)
            waiting += len(jobs)
            if jobs:
                oldest = max(oldest, now - decode(jobs[0].id).timestamp_ms)
        return waiting, max(0, oldest)
