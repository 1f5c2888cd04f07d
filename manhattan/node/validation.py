"""Request checks that run before anything is touched.

Every rejection is an InvalidRequest whose message names the field, so a
rejected request changes nothing and tells the caller exactly what to fix.
"""

from __future__ import annotations

from collections.abc import Iterable

from manhattan.errors import InvalidRequest
from manhattan.node.config import LimitsSection
from manhattan.types import Consistency, Durability

_CONSISTENCIES = frozenset(int(c) for c in Consistency)
_DURABILITIES = frozenset(int(d) for d in Durability)


class RequestValidator:
    """Checks keys, values, batches and enums against the configured limits."""

    def __init__(self, limits: LimitsSection) -> None:
        self.limits = limits

    def key(self, pkey: bytes, lkey: bytes, where: str = "") -> None:
        """pkey non-empty; pkey+lkey within max_key_bytes."""
        if not pkey:
            raise InvalidRequest(f"{where}pkey must not be empty")
        size = len(pkey) + len(lkey)
        if size > self.limits.max_key_bytes:
            raise InvalidRequest(
                f"{where}key is {size} bytes (pkey+lkey); the limit is "
                f"{self.limits.max_key_bytes}"
            )

    def value(self, value: bytes, where: str = "") -> None:
        """Value within max_value_bytes."""
        if len(value) > self.limits.max_value_bytes:
            raise InvalidRequest(
                f"{where}value is {len(value)} bytes; the limit is {self.limits.max_value_bytes}"
            )

    def ttl(self, ttl_ms: int, where: str = "") -> None:
        """TTL within max_ttl_ms."""
        if ttl_ms > self.limits.max_ttl_ms:
            raise InvalidRequest(
                f"{where}ttl_ms is {ttl_ms}; the limit is {self.limits.max_ttl_ms}"
            )

    def batch(self, count: int, sizes: Iterable[int], what: str) -> None:
        """At most max_batch_records entries and max_batch_bytes in all."""
        if count > self.limits.max_batch_records:
            raise InvalidRequest(
                f"{what} has {count} entries; the limit is {self.limits.max_batch_records}"
            )
        total = sum(sizes)
        if total > self.limits.max_batch_bytes:
            raise InvalidRequest(
                f"{what} carries {total} bytes; the limit is {self.limits.max_batch_bytes}"
            )

    @property
    def reply_bytes(self) -> int:
        """Payload bytes one reply may carry (``limits.max_response_bytes``); larger
        answers are paged with a cursor."""
        return self.limits.max_response_bytes

    def reply(self, total: int, what: str, *, paged_hint: bool = False) -> None:
        """A reply of ``total`` payload bytes must fit ``reply_bytes``."""
        if total > self.reply_bytes:
            hint = (" or page the answer (MultiGetRequest.paged and next_index; the SDK's "
                    "get_many does)") if paged_hint else ""
            raise InvalidRequest(
                f"{what}: the answer carries {total} bytes; the limit per reply is "
                f"limits.max_response_bytes = {self.reply_bytes}: ask for fewer{hint}"
            )

    @staticmethod
    def consistency(value: int, serial: str | None = None) -> Consistency:
        """A known consistency level (DEFAULT allowed). SERIAL only where the call
        supports it (``serial`` is None): otherwise refused, ``serial`` saying why."""
        if value not in _CONSISTENCIES:
            raise InvalidRequest(f"consistency has unknown value {value}")
        if value == Consistency.SERIAL and serial is not None:
            raise InvalidRequest(f"consistency SERIAL is not supported here: {serial}")
        return Consistency(value)

    @staticmethod
    def durability(value: int) -> Durability:
        """A known durability (DEFAULT allowed)."""
        if value not in _DURABILITIES:
            raise InvalidRequest(f"durability has unknown value {value}")
        return Durability(value)

    def scan_limit(self, limit: int, default: int) -> int:
        """0 means the default; above max_scan_limit is rejected."""
        if limit > self.limits.max_scan_limit:
            raise InvalidRequest(
                f"limit is {limit}; the limit is {self.limits.max_scan_limit}"
            )
        return limit or default
