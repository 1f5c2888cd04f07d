"""The audit log: every admin action a node performs, persisted on that node.

Entries live in the node's metadata store under ``audit/<at_ms><seq>`` so they
survive restarts and list in time order; the oldest are trimmed past
``max_entries``. Each node records the actions it served; the SDK merges the
logs of every node for a cluster-wide view.
"""

from __future__ import annotations

import itertools
import json
import struct
import threading
from dataclasses import asdict

from manhattan.tenancy.items import MetaStore
from manhattan.types import AuditEntry

_PREFIX = b"audit/"
_KEY = struct.Struct(">QQ")
DEFAULT_MAX_ENTRIES = 100_000


class AuditLog:
    """Append-only (trimmed) log of admin actions in the metadata store."""

    def __init__(self, meta: MetaStore, node_id: int, *,
                 max_entries: int = DEFAULT_MAX_ENTRIES) -> None:
        self._meta = meta
        self._node_id = node_id
        self._max = max_entries
        self._lock = threading.Lock()
        existing = meta.meta_items(_PREFIX)
        self._count = len(existing)
        last_seq = max((_KEY.unpack(k[len(_PREFIX):])[1] for k, _ in existing), default=0)
        self._seq = itertools.count(last_seq + 1)

    def record(self, at_ms: int, actor: str, action: str, target: str, detail: str = ""
               ) -> AuditEntry:
        """Persist one entry (durably: an admin action must not vanish from its log)."""
        entry = AuditEntry(at_ms, self._node_id, actor, action, target, detail)
        with self._lock:
            key = _PREFIX + _KEY.pack(at_ms, next(self._seq))
            self._meta.meta_put(key, json.dumps(asdict(entry)).encode())
            self._count += 1
            if self._count > self._max:
                self._trim()
        return entry

    def _trim(self) -> None:
        excess = self._count - self._max
        for key, _ in self._meta.meta_items(_PREFIX)[:excess]:
            self._meta.meta_delete(key)
        self._count = self._max

    def entries(self, *, limit: int = 100, since_ms: int = 0) -> list[AuditEntry]:
        """Up to ``limit`` entries at or after ``since_ms``, newest first."""
        entries = []
        for key, raw in reversed(self._meta.meta_items(_PREFIX)):
            if len(entries) >= limit or _KEY.unpack(key[len(_PREFIX):])[0] < since_ms:
                break
            entries.append(AuditEntry(**json.loads(raw)))
        return entries
