"""The catalog: tenants and the datasets they own, persisted on the node.

Dataset names are per tenant: two tenants may each own ``events``. A dataset is
known as (tenant, name) to callers and by its storage id (``name@incarnation``, the
incarnation unique in the metadata log) to storage and to other nodes. A tenant's
token reaches only the datasets it owns, and nothing the catalog says to one tenant
names another. The catalog keeps everything in memory for the request path and
writes through to the metadata store.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace

from manhattan.errors import (
    AlreadyExists, InvalidRequest, NotFound, PermissionDenied, Unauthenticated,
)
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
    incarnation: int = 0
    """Unique per creation, from the metadata log: a tenant dropped and created again
    under the same name is another tenant (0: made before the log existed)."""


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


def dataset_key(tenant: str, name: str) -> str:
    """The catalog item of a dataset: per tenant (``dataset/<name>`` items made before
    names were per tenant are still read, and kept under that key)."""
    return f"{_DATASET_PREFIX}{tenant}/{name}"


def qualified(name: str) -> tuple[str | None, str]:
    """``tenant/name`` (how a cluster admin may address a dataset) split; a bare name
    gives no tenant. Names never hold '/', so this is unambiguous."""
    tenant, slash, rest = name.partition("/")
    return (tenant, rest) if slash else (None, name)


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
            if tenant.name != key[len(_TENANT_PREFIX):] or not all(
                    isinstance(v, int) for v in (tenant.created_at_ms, tenant.incarnation)):
                raise ValueError("tenant item does not match its key")
        elif key.startswith(_DATASET_PREFIX):
            spec = DatasetSpec.from_json(value)
            check_name("dataset", spec.name)
            check_name("tenant", spec.tenant)
            if key not in (_DATASET_PREFIX + spec.name, dataset_key(spec.tenant, spec.name)):
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
        self._datasets: dict[tuple[str, str], DatasetSpec] = {}
        self._keys: dict[tuple[str, str], str] = {}
        self._storage: dict[str, DatasetSpec] = {}
        self.reload()

    def reload(self) -> None:
        """Rebuild the in-memory view after the items changed (e.g. a merge)."""
        self._tenants = {
            name: TenantInfo(**json.loads(raw)) for name, raw in self._items.live(_TENANT_PREFIX)
        }
        self._datasets, self._keys = {}, {}
        for key, raw in self._items.live(_DATASET_PREFIX):
            spec = DatasetSpec.from_json(raw)
            self._datasets[(spec.tenant, spec.name)] = spec
            self._keys[(spec.tenant, spec.name)] = _DATASET_PREFIX + key
        self._storage = {spec.storage_id: spec for spec in self._datasets.values()}

    # -- tenants --------------------------------------------------------------

    def create_tenant(self, name: str, version: int, now_ms: int,
                      incarnation: int = 0) -> TenantInfo:
        """Add a tenant; AlreadyExists when the name is taken."""
        check_name("tenant", name)
        if name in self._tenants:
            raise AlreadyExists(f"tenant {name!r} already exists")
        tenant = TenantInfo(name, now_ms, incarnation)
        self._items.put(_TENANT_PREFIX + name, json.dumps(asdict(tenant)).encode(), version)
        self._tenants[name] = tenant
        return tenant

    def remove_tenant(self, name: str, version: int) -> tuple[TenantInfo, list[DatasetSpec]]:
        """Forget a tenant and every dataset it owns; NotFound when there is none."""
        tenant = self.tenant(name)
        datasets = self.datasets(name)
        for spec in datasets:
            self.remove_dataset(name, spec.name, version)
        self._items.delete(_TENANT_PREFIX + name, version)
        del self._tenants[name]
        return tenant, datasets

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
        """NotFound for an unknown owner, AlreadyExists when the tenant has the name.

        A dataset without an incarnation (the gossip catalog, metadata.enabled = false)
        is stored under its bare name, so there the name must be free in every tenant."""
        self.tenant(spec.tenant)
        taken = (spec.tenant, spec.name) in self._datasets or (
            not spec.incarnation and spec.name in self._storage)
        if taken:
            # never say who owns it: another tenant's datasets are not the caller's business
            raise AlreadyExists(f"dataset {spec.name!r} already exists")

    def add_dataset(self, spec: DatasetSpec, version: int) -> DatasetSpec:
        """Record a normalised dataset spec; AlreadyExists when the name is taken."""
        self.check_new_dataset(spec)
        key = dataset_key(spec.tenant, spec.name)
        if not spec.incarnation:
            key = _DATASET_PREFIX + spec.name  # the gossip catalog's (global) form
        self._items.put(key, spec.to_json(), version)
        self._datasets[(spec.tenant, spec.name)] = spec
        self._keys[(spec.tenant, spec.name)] = key
        self._storage[spec.storage_id] = spec
        return spec

    def remove_dataset(self, tenant: str, name: str, version: int) -> DatasetSpec:
        """Forget a tenant's dataset; NotFound when it has none of that name."""
        spec = self.dataset(tenant, name)
        self._items.delete(self._keys.pop((tenant, name)), version)
        del self._datasets[(tenant, name)]
        self._storage.pop(spec.storage_id, None)
        return spec

    def dataset(self, tenant: str, name: str) -> DatasetSpec:
        """Tenant ``tenant``'s dataset ``name``; NotFound otherwise."""
        try:
            return self._datasets[(tenant, name)]
        except KeyError:
            raise NotFound(f"dataset {name!r} does not exist") from None

    def resolve(self, tenant: str | None, name: str) -> DatasetSpec:
        """A dataset as a cluster admin names it: ``tenant`` given (or ``tenant/name``),
        else the one dataset of that name in any tenant; InvalidRequest when several
        tenants own one (the admin may see tenants; it must say which)."""
        owner, bare = qualified(name)
        if owner is not None:
            if tenant and tenant != owner:
                raise InvalidRequest(f"dataset {name!r} names tenant {owner!r}, "
                                     f"but the request names tenant {tenant!r}")
            tenant, name = owner, bare
        if tenant:
            self.tenant(tenant)
            return self.dataset(tenant, name)
        owners = sorted(t for (t, n) in self._datasets if n == name)
        if len(owners) > 1:
            raise InvalidRequest(f"tenants {', '.join(owners)} each own a dataset {name!r}; "
                                 f"name the tenant (--tenant, or {owners[0]}/{name})")
        if not owners:
            raise NotFound(f"dataset {name!r} does not exist")
        return self._datasets[(owners[0], name)]

    def storage(self, storage_id: str) -> DatasetSpec:
        """The live dataset whose storage is ``storage_id``; NotFound for a dead
        incarnation (dropped, perhaps re-created under the same name)."""
        try:
            return self._storage[storage_id]
        except KeyError:
            raise NotFound(f"dataset storage {storage_id!r} is not live") from None

    def datasets(self, tenant: str | None = None) -> list[DatasetSpec]:
        """Datasets, optionally of one tenant, by name (then tenant)."""
        return sorted(
            (d for d in self._datasets.values() if tenant is None or d.tenant == tenant),
            key=lambda d: (d.name, d.tenant),
        )

    def authorize(self, principal: Principal, dataset: str) -> DatasetSpec:
        """The dataset ``dataset`` of the caller's tenant, if ``principal`` may use it
        (the admin: any tenant's, see ``resolve``); NotFound / PermissionDenied otherwise.

        A tenant asking for a name it does not own gets NotFound, whoever else owns
        one: what other tenants hold is never the caller's business."""
        if principal.is_admin:
            return self.resolve(None, dataset)
        tenant = self._tenants.get(principal.tenant)
        if tenant is None or tenant.incarnation != principal.tenant_incarnation:
            # the token's tenant was dropped (perhaps created again: another tenant)
            raise Unauthenticated("this token is not valid: its tenant no longer exists")
        spec = self.dataset(principal.tenant, dataset)
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
