"""Time-bounded leases kept in the cluster: one live holder per name.

Used for Snowflake worker ids and for fan-out queue shards. Every change of a lease
record is a compare-and-set at SERIAL (``put(if_version=...)`` / ``if_absent``), so
two claimants can never both win the same record, whatever their timing:

* **acquire**: a SERIAL read; if the record is free (absent, released, expired or
  ours) claim it by compare-and-set on the version read. The claim that wins is the
  only one; the others get ``ConditionFailed``. Nobody has to be outwaited: an expired
  record's holder stopped using it long before (a holder's validity ends at least
  ``ttl - validity`` before its record expires, and it checks the clock before every
  use), and a released record has no holder.
* **hold**: every ``validity / 5`` the holder extends the record by compare-and-set on
  the version it last wrote (no read first: the condition is the read, and a failed
  one carries the current record); ``valid_until_ms`` becomes ``renewal start +
  validity``. A record that is no longer ours drops the lease at once; one that is
  ours at another version (a renewal whose answer was lost wrote it) is swapped on
  that version instead. A renewal that merely fails
  (no answer in time, or an outcome the SDK could not settle) keeps the lease until its
  current ``valid_until_ms`` and tries again at the next tick: nobody else can claim it
  before the record's TTL runs out.

The record also carries a ``mark``: a time at or above everything the holder
may have stamped (``valid_until_ms``), so the next holder of a Snowflake
worker id starts above it even if its clock is behind.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from manhattan.client import AsyncDataset, ConditionFailed, ManhattanError, Record, Version
from manhattan.types import Consistency, Durability

log = logging.getLogger("manhattan.services.leases")


def wall_ms() -> int:
    """Unix time in ms."""
    return time.time_ns() // 1_000_000


@dataclass(frozen=True, slots=True)
class LeaseTiming:
    """How long a lease lives and how it is confirmed (ms)."""

    ttl_ms: int = 30_000
    validity_ms: int = 10_000

    def __post_init__(self) -> None:
        if not 0 < self.validity_ms < self.ttl_ms:
            raise ValueError(f"lease timing needs 0 < validity_ms < ttl_ms, got "
                             f"validity_ms={self.validity_ms}, ttl_ms={self.ttl_ms}")

    @property
    def renew_every_ms(self) -> int:
        """Renew often enough that a slow renewal or two under load still keeps the lease."""
        return max(1, self.validity_ms // 5)


@dataclass(frozen=True, slots=True)
class LeaseRecord:
    """What the lease record holds."""

    owner: str
    expires_ms: int
    mark: int = 0

    def encode(self) -> bytes:
        return json.dumps({"owner": self.owner, "expires_ms": self.expires_ms,
                           "mark": self.mark}).encode()

    @classmethod
    def decode(cls, raw: bytes) -> "LeaseRecord":
        data = json.loads(raw)
        return cls(str(data["owner"]), int(data["expires_ms"]), int(data.get("mark", 0)))


class Lease:
    """One named lease, held by this process while ``valid_until_ms`` is in the future."""

    def __init__(self, dataset: AsyncDataset, name: str, *, owner: str | None = None,
                 timing: LeaseTiming = LeaseTiming()) -> None:
        self.dataset = dataset
        self.name = name
        self.owner = owner or uuid.uuid4().hex
        self.timing = timing
        self.valid_until_ms = 0
        self.mark = 0  # the previous holders' mark, read at acquisition
        self.losses = 0
        self.failed_renewals = 0
        # What the holder used the lease for, up to when (ms): the mark a release leaves
        # (a Snowflake generator's last timestamp). None: keep the record's mark.
        self.used_up_to: Callable[[], int] | None = None
        # The record as this holder last wrote it (its version and contents): what a
        # renewal swaps on. None before the first write, and once the lease is dropped.
        self._written: tuple[Version, LeaseRecord] | None = None

    @property
    def held(self) -> bool:
        return wall_ms() < self.valid_until_ms

    async def read(self) -> tuple[LeaseRecord | None, Record | None]:
        """The lease record (decoded) and the stored record it came from, linearizably."""
        return self._decoded(await self._stored())

    async def _stored(self) -> Record | None:
        return await self.dataset.get(self.name, consistency=Consistency.SERIAL)

    def _versioned(self, record: Record | None) -> tuple[Version, LeaseRecord] | None:
        """A stored record as (its version, its lease), None when absent or unreadable."""
        lease, stored = self._decoded(record)
        return (stored.version, lease) if stored is not None and lease is not None else None

    def _decoded(self, record: Record | None) -> tuple[LeaseRecord | None, Record | None]:
        if record is None:
            return None, None
        try:
            return LeaseRecord.decode(record.value), record
        except (ValueError, KeyError, TypeError):
            log.warning("lease %s: unreadable record, treating it as free", self.name)
            return None, record

    async def _swap(self, version: Version | None, lease: LeaseRecord) -> None:
        """Replace the record at ``version`` (None: no record) by ``lease``, only if it is
        still current: ``ConditionFailed`` (with the current record) when another writer
        changed it since."""
        condition = {"if_version": version} if version is not None else {"if_absent": True}
        self._written = None  # unknown until this write's answer comes
        written = await self.dataset.put(self.name, b"", lease.encode(),
                                         durability=Durability.SYNC, **condition)
        self._written = (written, lease)

    def is_free(self, record: LeaseRecord | None) -> bool:
        return (record is None or record.owner == self.owner or record.expires_ms == 0
                or record.expires_ms < wall_ms())

    async def try_acquire(self) -> bool:
        """Claim the lease if it is free; True once it is ours (one read, one CAS)."""
        t = self.timing
        try:
            started = wall_ms()
            current, stored = await self.read()
            if not self.is_free(current):
                return False
            previous_mark = current.mark if current else 0
            mark = max(previous_mark, started + t.validity_ms)
            await self._swap(stored.version if stored else None,
                             LeaseRecord(self.owner, wall_ms() + t.ttl_ms, mark))
        except ConditionFailed:
            return False  # another claimant won the record
        except ManhattanError as exc:
            log.info("lease %s: acquisition failed: %s", self.name, exc)
            return False
        self.mark = previous_mark
        self.valid_until_ms = started + t.validity_ms
        return True

    async def renew(self) -> bool:
        """Extend a held lease; False (and the lease dropped) if it is no longer ours.
        True also when the renewal failed but the lease is still within its validity."""
        if not self.held:
            self._drop("expired before renewal")
            return False
        started = wall_ms()
        try:
            known = self._written
            if known is None:  # the last write's outcome is unknown: read it
                known = self._versioned(await self._stored())
            for _ in range(2):  # once more only on a version of ours this one missed
                if known is None or known[1].owner != self.owner:
                    taker = known[1].owner if known else "nobody"
                    self._drop(f"taken over by {taker}")
                    return False
                version, current = known
                try:
                    await self._swap(version, LeaseRecord(
                        self.owner, wall_ms() + self.timing.ttl_ms,
                        max(current.mark, started + self.timing.validity_ms)))
                    break
                except ConditionFailed as exc:
                    known = self._versioned(exc.current)  # type: ignore[arg-type]
            else:
                self._drop("the record kept changing under the renewal")
                return False
        except ManhattanError as exc:
            if not self.held:
                self._drop(f"renewal failed and the lease ran out: {exc}")
                return False
            self.failed_renewals += 1
            log.info("lease %s: renewal failed, still valid for %d ms; trying again: %s",
                     self.name, self.valid_until_ms - wall_ms(), exc)
            return True
        if wall_ms() >= self.valid_until_ms:
            self._drop("renewal finished after the lease ran out")
            return False
        self.valid_until_ms = started + self.timing.validity_ms
        return True

    async def release(self) -> None:
        """Give the lease up (best effort): the next holder need not wait for the TTL.
        The mark left is what the holder really used (``used_up_to``), read after it
        stopped using the lease."""
        was_held = self.held
        self.valid_until_ms = 0
        if not was_held:
            return
        try:
            current, stored = await self.read()
            if current is not None and stored is not None and current.owner == self.owner:
                mark = self.used_up_to() if self.used_up_to is not None else current.mark
                await self._swap(stored.version, LeaseRecord(self.owner, 0, mark))
        except ManhattanError as exc:  # ConditionFailed included: someone took it over
            log.info("lease %s: release failed (it will expire): %s", self.name, exc)

    def _drop(self, why: str) -> None:
        self._written = None
        if self.valid_until_ms:
            self.losses += 1
            log.warning("lease %s lost: %s", self.name, why)
        self.valid_until_ms = 0

    async def hold(self, stop: asyncio.Event) -> None:
        """Renew until ``stop`` is set or the lease is lost."""
        while not stop.is_set():
            try:
                await asyncio.wait_for(stop.wait(), self.timing.renew_every_ms / 1000)
                break
            except asyncio.TimeoutError:
                pass
            if not await self.renew():
                return
