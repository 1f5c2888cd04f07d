"""The catalog: tenants and the datasets they own, persisted on the node.

Dataset names are global (as in Twitter's Manhattan, a dataset is named once
per cluster) and each belongs to one tenant; a tenant's token reaches only the
datasets it owns. The catalog keeps everything in memory for the request path
and writes through to the metadata store.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace

from manhattan.errors import AlreadyExists, InvalidRequest, NotFound, PermissionDenied
from manhattan.tenancy.names import check_name
from manhattan.tenancy.items import VersionedItems
from manhattan.tenancy.tokens import Principal
from manhattan.types import Consistency, Durability

_TENANT_PREFIX = "tenant/"
_DATASET_PREFIX = "dataset/"
DEFAULT_REPLICATION_FACTOR = 3
KIND_KV = "kv"
KIND_COUNTER = "counter"
DATASET_KINDS = (KIND_KV, KIND_COUNTER)
MAX_REPLICATION_FACTOR = 9


@dataclass(frozen=True, slots=True)
class TenantInfo:
    """A tenant: an application that owns datasets."""

    name: str
    created_at_ms: int


@dataclass(frozen=True, slots=True)
class DatasetSpec:
    """A dataset's settings: owner, replication and defaults for requests."""

    name: str
    tenant: str
    replication_factor: int = DEFAULT_REPLICATION_FACTOR
    read_consistency: Consistency = Consistency.ONE
    write_consistency: Consistency = Consistency.QUORUM
    durability: Durability = Durability.SYNC
    default_ttl_ms: int = 0
    created_at_ms: int = 0
    incarnation: int = 0
    """Unique per creation, from the metadata log: a name dropped and created again is
    another dataset (0: made before the log existed)."""
    kind: str = KIND_KV
    """``kv`` (last-writer-wins records) or ``counter`` (merged 64-bit counters)."""

    @property
    def is_counter(self) -> bool:
        """Whether the dataset holds counters (add/counter, never put/delete)."""
        return self.kind == KIND_COUNTER

    @property
    def storage_id(self) -> str:
        """What storage, hints, watermarks, streams and repair key by: the name and the
        incarnation, so rows of a dropped dataset can never show in a new one of the
        same name (the bare name for datasets made before the metadata log)."""
        return f"{self.name}@{self.incarnation}" if self.incarnation else self.name

    def to_json(self) -> bytes:
        """The stored form."""
        return json.dumps(asdict(self)).encode()

    @classmethod
    def from_json(cls, raw: bytes) -> "DatasetSpec":
        """Parse the stored form."""
        data = json.loads(raw)
        data["read_consistency"] = Consistency(data["read_consistency"])
        data["write_consistency"] = Consistency(data["write_consistency"])
        data["durability"] = Durability(data["durability"])
        return cls(**data)


def dataset_name(storage_id: str) -> str:
    """The dataset name part of a storage id."""
    return storage_id.partition("@")[0]


def normalise_spec(spec: DatasetSpec, *, node_count: int, now_ms: int) -> DatasetSpec:
    """Fill defaults and check every field; raises InvalidRequest naming the field."""
    check_name("dataset", spec.name)
    check_name("tenant", spec.tenant)
    rf = spec.replication_factor or min(DEFAULT_REPLICATION_FACTOR, node_count)
    if not 1 <= rf <= MAX_REPLICATION_FACTOR:
        raise InvalidRequest(
            f"replication_factor must be between 1 and {MAX_REPLICATION_FACTOR}, got {rf}"
        )
    if rf > node_count:
        raise InvalidRequest(
            f"replication_factor {rf} exceeds the {node_count} node(s) in the cluster"
        )
    for field in ("read_consistency", "write_consistency"):
        if getattr(spec, field) not in set(Consistency):
            raise InvalidRequest(f"{field} has unknown value {int(getattr(spec, field))}")
        if getattr(spec, field) == Consistency.SERIAL:
            raise InvalidRequest(f"{field} cannot be SERIAL: SERIAL is asked for per call "
                                 "(a get or a conditional write), not a dataset default")
    if spec.durability not in set(Durability):
        raise InvalidRequest(f"durability has unknown value {int(spec.durability)}")
    if spec.default_ttl_ms < 0:
        raise InvalidRequest("default_ttl_ms must not be negative")
    kind = spec.kind or KIND_KV
    if kind not in DATASET_KINDS:
        raise InvalidRequest(f"kind must be one of {', '.join(DATASET_KINDS)}, got {kind!r}")
    if kind == KIND_COUNTER and spec.default_ttl_ms:
        raise InvalidRequest("a counter dataset cannot have a default_ttl_ms (counters never "
                             "expire: an expired shard would lose increments)")
    return replace(
        spec,
        replication_factor=rf,
        read_consistency=spec.read_consistency or Consistency.ONE,
        write_consistency=spec.write_consistency or Consistency.QUORUM,
        durability=spec.durability or Durability.SYNC,
        created_at_ms=spec.created_at_ms or now_ms,
        kind=kind,
    )


def check_item(key: str, value: bytes) -> None:
    """ValueError unless a tenant or dataset item from a peer parses (other keys pass).

    A peer's catalog is merged into ours and persisted: one malformed item would
    otherwise stop every later reload, and the node with it."""
    try:
        if key.startswith(_TENANT_PREFIX):
            tenant = TenantInfo(**json.loads(value))
            check_name("tenant", tenant.name)
            if tenant.name != key[len(_TENANT_PREFIX):] or not isinstance(tenant.created_at_ms, int):
                raise ValueError("tenant item does not match its key")
        elif key.startswith(_DATASET_PREFIX):
            spec = DatasetSpec.from_json(value)
            check_name("dataset", spec.name)
            check_name("tenant", spec.tenant)
            if spec.name != key[len(_DATASET_PREFIX):]:
                raise ValueError("dataset item does not match its key")
            if not all(isinstance(getattr(spec, f), int) for f in (
                    "replication_factor", "default_ttl_ms", "created_at_ms")):
                raise ValueError("dataset item has fields of the wrong type")
            if not 1 <= spec.replication_factor <= MAX_REPLICATION_FACTOR:
                raise ValueError("dataset item has a bad replication factor")
            if spec.kind not in DATASET_KINDS:
                raise ValueError("dataset item has an unknown kind")
    except (TypeError, KeyError, AttributeError, json.JSONDecodeError, UnicodeDecodeError,
            InvalidRequest) as exc:
        raise ValueError(f"catalog item {key!r} is malformed: {exc}") from None


class Catalog:
    """Tenants and datasets of this node, cached in memory."""

    def __init__(self, items: VersionedItems) -> None:
        self._items = items
        self._tenants: dict[str, TenantInfo] = {}
        self._datasets: dict[str, DatasetSpec] = {}
        self.reload()

    def reload(self) -> None:
        """Rebuild the in-memory view after the items changed (e.g. a merge)."""
        self._tenants = {
            name: TenantInfo(**json.loads(raw)) for name, raw in self._items.live(_TENANT_PREFIX)
        }
        self._datasets = {
            name: DatasetSpec.from_json(raw) for name, raw in self._items.live(_DATASET_PREFIX)
        }

    # -- tenants --------------------------------------------------------------

    def create_tenant(self, name: str, version: int, now_ms: int) -> TenantInfo:
        """Add a tenant; AlreadyExists when the name is taken."""
        check_name("tenant", name)
        if name in self._tenants:
            raise AlreadyExists(f"tenant {name!r} already exists")
        tenant = TenantInfo(name, now_ms)
        self._items.put(_TENANT_PREFIX + name, json.dumps(asdict(tenant)).encode(), version)
        self._tenants[name] = tenant
        return tenant

    def tenant(self, name: str) -> TenantInfo:
        """The tenant called ``name``; NotFound otherwise."""
        try:
            return self._tenants[name]
        except KeyError:
            raise NotFound(f"tenant {name!r} does not exist") from None

    def tenants(self) -> list[TenantInfo]:
        """Every tenant, by name."""
        return sorted(self._tenants.values(), key=lambda t: t.name)

    # -- datasets -------------------------------------------------------------

    def check_new_dataset(self, spec: DatasetSpec) -> None:
        """NotFound for an unknown owner, AlreadyExists when the name is taken."""
        self.tenant(spec.tenant)
        if spec.name in self._datasets:
            # never say who owns it: another tenant's datasets are not the caller's business
            raise AlreadyExists(f"dataset {spec.name!r} already exists")

    def add_dataset(self, spec: DatasetSpec, version: int) -> DatasetSpec:
        """Record a normalised dataset spec; AlreadyExists when the name is taken."""
        self.check_new_dataset(spec)
        self._items.put(_DATASET_PREFIX + spec.name, spec.to_json(), version)
        self._datasets[spec.name] = spec
        return spec

    def remove_dataset(self, name: str, version: int) -> DatasetSpec:
        """Forget a dataset; NotFound when there is none of that name."""
        spec = self.dataset(name)
        self._items.delete(_DATASET_PREFIX + name, version)
        del self._datasets[name]
        return spec

    def dataset(self, name: str) -> DatasetSpec:
        """The dataset called ``name``; NotFound otherwise."""
        try:
            return self._datasets[name]
        except KeyError:
            raise NotFound(f"dataset {name!r} does not exist") from None

    def storage(self, storage_id: str) -> DatasetSpec:
        """The live dataset whose storage is ``storage_id``; NotFound for a dead
        incarnation (dropped, perhaps re-created under the same name)."""
        spec = self._datasets.get(dataset_name(storage_id))
        if spec is None or spec.storage_id != storage_id:
            raise NotFound(f"dataset storage {storage_id!r} is not live")
        return spec

    def datasets(self, tenant: str | None = None) -> list[DatasetSpec]:
        """Datasets, optionally of one tenant, by name."""
        return sorted(
            (d for d in self._datasets.values() if tenant is None or d.tenant == tenant),
            key=lambda d: d.name,
        )

    def authorize(self, principal: Principal, dataset: str) -> DatasetSpec:
        """The dataset, if ``principal`` may use it; NotFound / PermissionDenied otherwise."""
        spec = self.dataset(dataset)
        if not principal.is_admin and principal.tenant != spec.tenant:
            raise PermissionDenied(
                f"tenant {principal.tenant!r} may not access dataset {dataset!r}"
            )
        if not principal.may_use(dataset):
            raise PermissionDenied(
                f"this token of tenant {principal.tenant!r} is scoped to "
                f"{', '.join(sorted(principal.datasets or ()))}, not dataset {dataset!r}"
            )
        return spec

    def authorize_write(self, principal: Principal, dataset: str) -> DatasetSpec:
        """As ``authorize``, and the token must not be read-only."""
        spec = self.authorize(principal, dataset)
        if principal.read_only:
            raise PermissionDenied(f"this token is read-only; it may not write to {dataset!r}")
        return spec
