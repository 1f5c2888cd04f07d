"""Time-bounded leases kept in the cluster: one live holder per name.

Used for Snowflake worker ids and for fan-out queue shards. The store is
last-writer-wins with no compare-and-set, so a lease is made safe by time,
the way Chubby-style leases are:

* **acquire**: read the record; if free (absent, expired or ours), write a
  claim, wait ``settle``, read back (QUORUM) and check we won; then wait a
  full ``validity`` period and check once more before using it. A previous
  holder that has not seen our claim stops within ``validity`` of its last
  confirmation, so by then it has stopped. A record that was never written or
  was *released* (its holder stopped and said so) has no previous holder to
  outwait: the claim is used after the read-back if the read and the claim took
  less than ``settle`` (a fresh ``make run`` and a clean restart start in well
  under a second; a crash, or a slow claim that may have raced another, still
  waits the full period).
* **hold**: every ``validity / 5`` the holder reads the record; if it is still
  ours and we are still inside our validity window, it extends the expiry and
  ``valid_until_ms`` becomes ``read start + validity``. Another owner or a
  late renewal drops the lease at once and the holder must acquire from
  scratch, waiting the full period again. A renewal that merely fails (the
  cluster did not answer in time) keeps the lease until its current
  ``valid_until_ms`` and tries again at the next tick: nobody else can claim
  it before the record's TTL (three validity periods past our last write)
  runs out, so one slow answer under a fault no longer stops the holder.

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

from manhattan.client import AsyncDataset, ManhattanError
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
    settle_ms: int = 300

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

    @property
    def held(self) -> bool:
        return wall_ms() < self.valid_until_ms

    async def read(self) -> LeaseRecord | None:
        record = await self.dataset.get(self.name, consistency=Consistency.QUORUM)
        if record is None:
            return None
        try:
            return LeaseRecord.decode(record.value)
        except (ValueError, KeyError, TypeError):
            log.warning("lease %s: unreadable record, treating it as free", self.name)
            return None

    async def _write(self, mark: int) -> None:
        now = wall_ms()
        await self.dataset.put(
            self.name, b"", LeaseRecord(self.owner, now + self.timing.ttl_ms, mark).encode(),
            consistency=Consistency.QUORUM, durability=Durability.SYNC)

    def is_free(self, record: LeaseRecord | None) -> bool:
        return record is None or record.owner == self.owner or record.expires_ms < wall_ms()

    async def try_acquire(self) -> bool:
        """Claim the lease if it is free; True once it is safely ours (takes ~validity)."""
        t = self.timing
        try:
            asked = wall_ms()
            current = await self.read()
            if not self.is_free(current):
                return False
            previous_mark = current.mark if current else 0
            unheld = current is None or current.expires_ms == 0  # never held, or released
            await self._write(max(previous_mark, wall_ms()))
            # Another claimant that read "free" before our claim landed and writes after
            # our read-back took longer than ``settle`` from its read to its write's ack:
            # such a slow claim takes the full wait (and we drop at our next renewal).
            unheld = unheld and wall_ms() - asked <= t.settle_ms
            await asyncio.sleep(t.settle_ms / 1000)
            started = wall_ms()
            confirmed = await self.read()
            if (confirmed or LeaseRecord("", 0)).owner != self.owner:
                return False
            if not unheld:
                # Whoever held it before stops within one validity period of its last check.
                await asyncio.sleep(t.validity_ms / 1000)
                started = wall_ms()
                confirmed = await self.read()
                if confirmed is None or confirmed.owner != self.owner:
                    return False
            self.mark = max(previous_mark, confirmed.mark)
            await self._write(max(self.mark, started + t.validity_ms))
        except ManhattanError as exc:
            log.info("lease %s: acquisition failed: %s", self.name, exc)
            return False
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
            current = await self.read()
            if current is None or current.owner != self.owner:
                self._drop(f"taken over by {current.owner if current else 'nobody'}")
                return False
            await self._write(max(current.mark, started + self.timing.validity_ms))
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
        """Give the lease up (best effort): the next holder need not wait for the TTL, nor
        (the record says it was released) a validity period. The mark left is what the
        holder really used (``used_up_to``), read after it stopped using the lease."""
        was_held = self.held
        self.valid_until_ms = 0
        if not was_held:
            return
        try:
            current = await self.read()
            if current is not None and current.owner == self.owner:
                mark = self.used_up_to() if self.used_up_to is not None else current.mark
                await self.dataset.put(
                    self.name, b"", LeaseRecord(self.owner, 0, mark).encode(),
                    consistency=Consistency.QUORUM, durability=Durability.SYNC)
        except ManhattanError as exc:
            log.info("lease %s: release failed (it will expire): %s", self.name, exc)

    def _drop(self, why: str) -> None:
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
