"""Per-tenant and per-dataset limits, kept as replicated catalog items.

Limits live in the same versioned items as tenants and tokens
(``limits/tenant/<name>``, ``limits/dataset/<storage id>``): set through the metadata log
(or, with ``metadata.enabled = false``, pushed and gossiped), enforced by every node.
They sit with the catalog, below the metadata state machine that applies them.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, fields, replace

from manhattan.errors import InvalidRequest
from manhattan.tenancy.items import VersionedItems

TENANT_PREFIX = "limits/tenant/"
DATASET_PREFIX = "limits/dataset/"
MAX_RATE = 1e12
MAX_BURST_SECONDS = 3600.0
DEFAULT_BURST_SECONDS = 1.0


@dataclass(frozen=True, slots=True)
class Limits:
    """Limits of one tenant or dataset; 0 means unlimited.

    Rates are cluster-wide: each node enforces its share (rate / owning nodes), so
    the cluster as a whole serves at most ``rate`` plus ``burst_seconds`` worth.
    ``storage_quota_bytes`` counts one copy of the data (not every replica).
    """

    ops_per_second: float = 0.0
    bytes_per_second: float = 0.0
    storage_quota_bytes: int = 0
    burst_seconds: float = DEFAULT_BURST_SECONDS

    @property
    def unlimited(self) -> bool:
        """Whether nothing is limited at all (the common case: skip every check)."""
        return not (self.ops_per_second or self.bytes_per_second or self.storage_quota_bytes)

    def check(self) -> "Limits":
        """Self, if every field is in range; InvalidRequest naming the field otherwise."""
        for name in ("ops_per_second", "bytes_per_second", "burst_seconds"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
                raise InvalidRequest(f"{name} must be a finite number >= 0, got {value!r}")
            if value > MAX_RATE:
                raise InvalidRequest(f"{name} must be at most {MAX_RATE:g}, got {value!r}")
        if self.burst_seconds > MAX_BURST_SECONDS:
            raise InvalidRequest(
                f"burst_seconds must be at most {MAX_BURST_SECONDS:g}, got {self.burst_seconds!r}")
        if (self.ops_per_second or self.bytes_per_second) and self.burst_seconds <= 0:
            raise InvalidRequest("burst_seconds must be > 0 when a rate is set")
        if not isinstance(self.storage_quota_bytes, int) or self.storage_quota_bytes < 0:
            raise InvalidRequest(
                f"storage_quota_bytes must be an integer >= 0, got {self.storage_quota_bytes!r}")
        return self

    def merged(self, **changes: float | int | None) -> "Limits":
        """A copy with the given (non-None) fields changed, checked."""
        known = {f.name for f in fields(self)}
        unknown = set(changes) - known
        if unknown:
            raise InvalidRequest(f"unknown limit field(s): {', '.join(sorted(unknown))}")
        return replace(self, **{k: v for k, v in changes.items() if v is not None}).check()

    def to_json(self) -> bytes:
        """The stored form."""
        return json.dumps(asdict(self)).encode()

    @classmethod
    def from_json(cls, raw: bytes) -> "Limits":
        """Parse (and check) the stored form; ValueError when it is not limits."""
        data = json.loads(raw)
        if not isinstance(data, dict) or set(data) - {f.name for f in fields(cls)}:
            raise ValueError("not a limits object")
        try:
            return cls(**data).check()
        except InvalidRequest as exc:
            raise ValueError(exc.message) from None


UNLIMITED = Limits()


class LimitStore:
    """Limits of every tenant and dataset, cached in memory for the request path."""

    def __init__(self, items: VersionedItems) -> None:
        self._items = items
        self._tenants: dict[str, Limits] = {}
        self._datasets: dict[str, Limits] = {}
        self.generation = 0
        """Bumped on every reload, so that enforcement can notice changed limits."""
        self.reload()

    def reload(self) -> None:
        """Rebuild the in-memory view after the items changed (e.g. a merge)."""
        self._tenants = self._load(TENANT_PREFIX)
        self._datasets = self._load(DATASET_PREFIX)
        self.generation += 1

    def _load(self, prefix: str) -> dict[str, Limits]:
        loaded = {}
        for name, raw in self._items.live(prefix):
            try:
                loaded[name] = Limits.from_json(raw)
            except ValueError:
                continue  # merge validates items; a bad one must not stop enforcement of others
        return loaded

    def tenant(self, name: str) -> Limits:
        """The tenant's limits (UNLIMITED when none were set)."""
        return self._tenants.get(name, UNLIMITED)

    def dataset(self, name: str) -> Limits:
        """The dataset's limits (UNLIMITED when none were set)."""
        return self._datasets.get(name, UNLIMITED)

    def set_tenant(self, name: str, limits: Limits, version: int) -> Limits:
        """Store a tenant's limits (checked)."""
        limits.check()
        self._items.put(TENANT_PREFIX + name, limits.to_json(), version)
        self._tenants[name] = limits
        self.generation += 1
        return limits

    def set_dataset(self, name: str, limits: Limits, version: int) -> Limits:
        """Store a dataset's limits (checked)."""
        limits.check()
        self._items.put(DATASET_PREFIX + name, limits.to_json(), version)
        self._datasets[name] = limits
        self.generation += 1
        return limits

    def forget(self, tenants: list[str], datasets: list[str], version: int) -> None:
        """Drop the limits of tenants and datasets (by storage id) that are gone, so a
        tenant or dataset created again under the name starts unlimited."""
        for prefix, names, cache in ((TENANT_PREFIX, tenants, self._tenants),
                                     (DATASET_PREFIX, datasets, self._datasets)):
            for name in names:
                if cache.pop(name, None) is not None:
                    self._items.delete(prefix + name, version)
        self.generation += 1


def validate_item(key: str, value: bytes) -> None:
    """ValueError unless a replicated limits item parses (used when merging a peer's catalog)."""
    if key.startswith((TENANT_PREFIX, DATASET_PREFIX)):
        Limits.from_json(value)
