"""The metadata state machine: tenants, tokens, datasets and limits, applied in log order.

Every node applies the same commands in the same order, so every check made here
(does the tenant exist, is the name taken, how many tokens does it hold) has the
same answer everywhere: two nodes can never both create ``events``. Nothing here
reads a clock or a random source; times and token hashes arrive in the command.
Item versions are the command's sequence number in the log, so a later command
always wins, whatever the clocks of the nodes that submitted them.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from dataclasses import asdict, dataclass, replace
from typing import Any

from manhattan.errors import (
    AlreadyExists, InvalidRequest, ManhattanError, NotFound, PermissionDenied, StaleTopology,
)
from manhattan.tenancy.limits import LimitStore
from manhattan.metadata.topology import TopologyCommands
from manhattan.tenancy.catalog import Catalog, DatasetSpec
from manhattan.tenancy.items import Item, VersionedItems
from manhattan.tenancy.tokens import ADMIN, TokenRecord, TokenStore

# Errors a command may end with, by name (results cross threads and processes as data).
ERRORS: dict[str, type[ManhattanError]] = {
    cls.__name__: cls for cls in (AlreadyExists, InvalidRequest, NotFound, PermissionDenied,
                                  StaleTopology)
}

LIMIT_FIELDS = ("ops_per_second", "bytes_per_second", "storage_quota_bytes", "burst_seconds")
# Outcomes of the newest commands that carried an id, kept (in log order, so alike on
# every node) to answer a command sent again after a leader change with its first result.
REMEMBERED_OUTCOMES = 4096


class MemoryMeta:
    """An in-memory MetaStore that notes which keys changed (what the node must mirror)."""

    def __init__(self) -> None:
        self.data: dict[bytes, bytes] = {}
        self.changed: set[bytes] = set()

    def meta_get(self, key: bytes) -> bytes | None:
        return self.data.get(key)

    def meta_put(self, key: bytes, value: bytes) -> None:
        self.data[key] = value
        self.changed.add(key)

    def meta_delete(self, key: bytes) -> None:
        self.data.pop(key, None)
        self.changed.add(key)

    def meta_items(self, prefix: bytes) -> list[tuple[bytes, bytes]]:
        return sorted((k, v) for k, v in self.data.items() if k.startswith(prefix))


@dataclass(frozen=True, slots=True)
class Applied:
    """What one command did: its result (or error) and the items it changed."""

    seq: int
    result: dict[str, Any]
    changes: tuple[Item, ...]


class MetadataState(TopologyCommands):
    """The applied metadata of this node's copy of the log (one thread applies)."""

    def __init__(self, items: list[Item] | None = None, seq: int = 0) -> None:
        self.seq = seq
        self._meta = MemoryMeta()
        self.items = VersionedItems(self._meta)
        if items:
            self.items.merge(items)
        self._meta.changed.clear()
        self.catalog = Catalog(self.items)
        self.tokens = TokenStore(self.items)
        self.limits = LimitStore(self.items)
        self.outcomes: OrderedDict[str, dict[str, Any]] = OrderedDict()

    # -- persistence (pysyncobj snapshots) ----------------------------------

    def dump(self) -> dict[str, Any]:
        """Plain data for a log snapshot."""
        return {"seq": self.seq, "items": [(i.key, i.value, i.version, i.deleted)
                                           for i in self.items.snapshot()],
                "outcomes": [[key, result] for key, result in self.outcomes.items()]}

    @classmethod
    def load(cls, data: dict[str, Any]) -> "MetadataState":
        """The state a snapshot holds (one from before outcomes were kept has none)."""
        state = cls([Item(*fields) for fields in data["items"]], data["seq"])
        state.outcomes.update((key, result) for key, result in data.get("outcomes", []))
        return state

    # -- applying -------------------------------------------------------------

    def apply(self, command: dict[str, Any]) -> Applied:
        """Apply one committed command; a refused command changes nothing.

        A command whose ``id`` was applied before (its node sent it again, not knowing
        whether the first copy committed under a leader that lost its office) changes
        nothing and answers what the first copy did: sending again is always safe."""
        self.seq += 1
        command_id = command.get("id")
        if not isinstance(command_id, str):
            command_id = None
        elif command_id in self.outcomes:
            return Applied(self.seq, self.outcomes[command_id], ())
        result = self._run(command)
        if command_id is not None:
            self.outcomes[command_id] = result
            while len(self.outcomes) > REMEMBERED_OUTCOMES:
                self.outcomes.popitem(last=False)
        changed = {k.decode()[len("catalog/"):] for k in self._meta.changed}
        self._meta.changed.clear()
        current = {i.key: i for i in self.items.snapshot()}
        return Applied(self.seq, result, tuple(current[k] for k in sorted(changed)
                                                if k in current))

    def _run(self, command: dict[str, Any]) -> dict[str, Any]:
        """The command's handler: its result, or its error as data (nothing changed)."""
        handler = getattr(self, "_op_" + str(command.get("op")), None)
        before = self.items.snapshot()
        try:
            if handler is None:
                raise InvalidRequest(f"unknown metadata command {command.get('op')!r}")
            result = handler(command) or {}
        except ManhattanError as exc:
            if self._meta.changed:  # a refusal changes nothing, even half-way through
                self._restore(before)
            result = {"error": [type(exc).__name__ if type(exc).__name__ in ERRORS
                                else "InvalidRequest", str(exc)]}
        except (KeyError, TypeError, ValueError) as exc:
            self._restore(before)
            result = {"error": ["InvalidRequest", f"malformed metadata command: {exc!r}"]}
        return result

    def _restore(self, items: list[Item]) -> None:
        """Back to ``items`` (a command failed after changing something)."""
        self._meta.data.clear()
        fresh = MetadataState(items, self.seq)
        self._meta, self.items = fresh._meta, fresh.items
        self.catalog, self.tokens, self.limits = fresh.catalog, fresh.tokens, fresh.limits

    def _op_barrier(self, command: dict[str, Any]) -> dict[str, Any]:
        return {"seq": self.seq}

    def _op_create_tenant(self, command: dict[str, Any]) -> dict[str, Any]:
        # The incarnation is the command's position: unique, so a tenant dropped and
        # created again is another tenant, which tokens of the first never reach.
        tenant = self.catalog.create_tenant(command["name"], self.seq, command["now_ms"],
                                            incarnation=self.seq)
        record = TokenRecord.from_json(json.dumps(command["token"]).encode())
        if record.tenant != tenant.name:
            raise InvalidRequest("the first token must belong to the new tenant")
        self.tokens.put_record(replace(record, tenant_incarnation=tenant.incarnation), self.seq)
        return {"tenant": asdict(tenant)}

    def _op_drop_tenant(self, command: dict[str, Any]) -> dict[str, Any]:
        """A tenant, its tokens, datasets and limits, gone in one command."""
        tenant, datasets = self.catalog.remove_tenant(command["name"], self.seq)
        for record in self.tokens.records(tenant.name):
            self.tokens.revoke(record.token_id, self.seq)
        self.limits.forget([tenant.name], [d.storage_id for d in datasets], self.seq)
        return {"tenant": asdict(tenant),
                "datasets": [json.loads(d.to_json()) for d in datasets]}

    def _op_create_dataset(self, command: dict[str, Any]) -> dict[str, Any]:
        # The incarnation (the command's position) is unique across tenants, so the
        # storage id name@incarnation is too: two tenants' "events" never share storage.
        spec = replace(DatasetSpec.from_json(json.dumps(command["spec"]).encode()),
                       incarnation=self.seq)
        self.catalog.add_dataset(spec, self.seq)
        return {"spec": json.loads(spec.to_json())}

    def _op_drop_dataset(self, command: dict[str, Any]) -> dict[str, Any]:
        found = self.catalog.resolve(command.get("tenant") or None, command["name"])
        spec = self.catalog.remove_dataset(found.tenant, found.name, self.seq)
        self.limits.forget([], [spec.storage_id], self.seq)
        return {"spec": json.loads(spec.to_json())}

    def _token_scope(self, tenant: str, datasets: list[str] | None) -> list[str] | None:
        self.catalog.tenant(tenant)
        if not datasets:
            return None
        for name in datasets:
            try:
                self.catalog.dataset(tenant, name)
            except NotFound:
                # never say whether another tenant owns one: not this one's business
                raise InvalidRequest(f"tenant {tenant!r} has no dataset {name!r}") from None
        return sorted(set(datasets))

    def _op_create_token(self, command: dict[str, Any]) -> dict[str, Any]:
        record = TokenRecord.from_json(json.dumps(command["token"]).encode())
        if record.tenant == ADMIN:
            raise InvalidRequest("admin tokens are set in the nodes' configuration")
        record = replace(record, datasets=self._token_scope(record.tenant, record.datasets),
                         tenant_incarnation=self.catalog.tenant(record.tenant).incarnation)
        held = len(self.tokens.records(record.tenant))
        if held >= int(command["max_tokens"]):
            raise InvalidRequest(f"tenant {record.tenant!r} holds {held} tokens, the limit "
                                 f"(limits.max_tokens_per_tenant); revoke some first")
        self.tokens.put_record(record, self.seq)
        return {"token": asdict(record)}

    def _op_revoke_token(self, command: dict[str, Any]) -> dict[str, Any]:
        return {"token": asdict(self.tokens.revoke(command["token_id"], self.seq))}

    def _op_rotate_token(self, command: dict[str, Any]) -> dict[str, Any]:
        old = self.tokens.record(command["token_id"])
        if old.tenant == ADMIN:
            raise InvalidRequest("the admin token is set in the nodes' configuration "
                                 "(node.admin_token), not rotated through the API")
        new = TokenRecord.from_json(json.dumps(command["token"]).encode())
        new = replace(new, tenant=old.tenant, read_only=old.read_only, datasets=old.datasets,
                      tenant_incarnation=old.tenant_incarnation)
        self.tokens.put_record(new, self.seq)
        grace_ms = int(command["grace_ms"])
        if grace_ms:
            expires = new.created_at_ms + grace_ms
            if not old.expires_at_ms or expires < old.expires_at_ms:
                self.tokens.put_record(replace(old, expires_at_ms=expires), self.seq)
        else:
            self.tokens.revoke(old.token_id, self.seq)
        return {"token": asdict(new)}

    def _op_set_limits(self, command: dict[str, Any]) -> dict[str, Any]:
        changes = {k: command["changes"].get(k) for k in LIMIT_FIELDS}
        if not command.get("dataset"):
            self.catalog.tenant(command["tenant"])
            limits = self.limits.tenant(command["tenant"]).merged(**changes)
            self.limits.set_tenant(command["tenant"], limits, self.seq)
        else:
            # dataset limits key by storage id: a name created again starts unlimited
            storage_id = self.catalog.resolve(command.get("tenant") or None,
                                              command["dataset"]).storage_id
            limits = self.limits.dataset(storage_id).merged(**changes)
            self.limits.set_dataset(storage_id, limits, self.seq)
        return {"limits": json.loads(limits.to_json())}

    def _op_import(self, command: dict[str, Any]) -> dict[str, Any]:
        """The catalog of a data dir from the gossip version, taken once: only into an
        empty log (every node of an upgraded cluster offers the same, converged one)."""
        if self.catalog.tenants():
            return {"imported": 0}
        items = [Item(key, value.encode("latin-1"), self.seq, False)
                 for key, value in command["items"]
                 if key.startswith(("tenant/", "dataset/", "token/", "limits/"))]
        self.items.merge(items)
        self.catalog.reload()
        self.tokens.reload()
        self.limits.reload()
        # Imported datasets keep incarnation 0: their storage stays under the bare name
        # (the name was unique cluster-wide before the log, and their rows stay theirs).
        return {"imported": len(items)}


def raise_for(result: dict[str, Any]) -> dict[str, Any]:
    """The result of a command, or the error it ended with raised here."""
    error = result.get("error")
    if error:
        raise ERRORS.get(error[0], InvalidRequest)(error[1])
    return result
