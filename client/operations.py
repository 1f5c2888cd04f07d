"""The shared core of the sync and async clients: one Operation per call.

An Operation names the RPC, carries the request message and knows how to read
the response. The sync and async clients differ only in how they send it, so
request building, validation of arguments and decoding live here once.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any, Generic, TypeVar

from manhattan.client.models import (
    ClusterTopology, CounterAdded, DatasetInfo, MemberInfo, Delete, MetadataStatus, NodeInfo, Put, Record, ScanPage, Tenant, TrimResult, Version,
)
from manhattan.errors import InternalError, InvalidRequest
from manhattan.proto.v1 import admin_pb2, cluster_pb2, data_pb2, types_pb2
from manhattan.types import Consistency, Durability

# The counter contract (the node checks the same bounds).
INT64_MIN, INT64_MAX = -(1 << 63), (1 << 63) - 1
MAX_OP_ID_BYTES = 64
DATASET_KINDS = ("kv", "counter")

T = TypeVar("T")
Key = bytes | str


@dataclass(frozen=True, slots=True)
class Operation(Generic[T]):
    """One RPC: service ('data', 'admin', 'cluster'), method, request, decoder, retry safety.

    ``pkey`` (single-key data calls) and ``dataset`` let routing find the replicas;
    ``batch`` names the repeated field of a multi-key call (one item per key), which
    ``split`` cuts by replica set.
    """

    service: str
    method: str
    request: Any
    parse: Callable[[Any], T]
    idempotent: bool
    pkey: bytes | None = None
    dataset: str | None = None
    batch: str | None = None
    on_retry: Callable[[Any], None] | None = None
    """Called with the request before the SDK sends it again (after a failed attempt)."""
    write: bool = False
    """A write that is safe to retry (``idempotent``, e.g. a counter add under its op id):
    an attempt that timed out may still have applied, whatever a later attempt says."""
    primary_first: bool = False
    """Route to the first live replica of ``pkey`` (not rotated): the node that does the
    work (a counter's shard owner), so the call takes no extra hop."""

    def batch_pkeys(self) -> list[bytes]:
        """The pkey of each item of a multi-key call, in order."""
        if self.batch is None:
            return []
        return [item.pkey for item in getattr(self.request, self.batch)]


def as_bytes(value: Key, field: str) -> bytes:
    """Keys and values may be given as bytes or str (encoded UTF-8)."""
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, (bytearray, memoryview)):
        return bytes(value)
    raise InvalidRequest(f"{field} must be bytes or str, not {type(value).__name__}")


def ttl_ms(ttl: float | None) -> int:
    """Seconds (float) to whole milliseconds; None means no TTL."""
    if ttl is None:
        return 0
    if ttl <= 0:
        raise InvalidRequest(f"ttl must be positive seconds, got {ttl}")
    return max(1, round(ttl * 1000))


def _version(message: types_pb2.Version) -> Version:
    return Version(message.timestamp, message.writer, message.superseded_by)


def _record(message: types_pb2.Record) -> Record:
    return Record(message.pkey, message.lkey, message.value, _version(message.version),
                  message.expires_at_ms)


def _dataset_info(m: admin_pb2.DatasetSpec) -> DatasetInfo:
    return DatasetInfo(
        m.name, m.tenant, m.replication_factor, Consistency(m.read_consistency),
        Consistency(m.write_consistency), Durability(m.durability), m.default_ttl_ms,
        m.created_at_ms, m.incarnation, m.kind or "kv",
    )


# -- data operations --------------------------------------------------------


def not_serial(consistency: Consistency, what: str) -> None:
    """SERIAL is per key: refused (before anything is sent) for multi-key calls."""
    if consistency == Consistency.SERIAL:
        raise InvalidRequest(f"consistency SERIAL is not supported for {what}: SERIAL is "
                             "per key (a get, or a put/delete with if_version/if_absent)")


def get(dataset: str, pkey: Key, lkey: Key, consistency: Consistency) -> Operation[Record | None]:
    """Get one record."""
    p = as_bytes(pkey, "pkey")
    request = data_pb2.GetRequest(dataset=dataset, pkey=p, lkey=as_bytes(lkey, "lkey"),
                                  consistency=int(consistency))
    return Operation("data", "Get", request,
                     lambda r: _record(r.record) if r.found else None, True, p, dataset)


def put(dataset: str, pkey: Key, lkey: Key, value: Key, ttl: float | None,
        consistency: Consistency, durability: Durability) -> Operation[Version]:
    """Put one record."""
    p = as_bytes(pkey, "pkey")
    request = data_pb2.PutRequest(
        dataset=dataset, pkey=p, lkey=as_bytes(lkey, "lkey"), value=as_bytes(value, "value"),
        ttl_ms=ttl_ms(ttl), consistency=int(consistency), durability=int(durability),
    )
    return Operation("data", "Put", request, lambda r: _version(r.version), False, p, dataset)


def delete(dataset: str, pkey: Key, lkey: Key, consistency: Consistency,
           durability: Durability) -> Operation[Version]:
    """Delete one record (writes a tombstone)."""
    p = as_bytes(pkey, "pkey")
    request = data_pb2.DeleteRequest(
        dataset=dataset, pkey=p, lkey=as_bytes(lkey, "lkey"), consistency=int(consistency),
        durability=int(durability),
    )
    return Operation("data", "Delete", request, lambda r: _version(r.version), False, p,
                     dataset)


def scan_page(dataset: str, pkey: Key, start: Key | None, end: Key | None, limit: int,
              reverse: bool, cursor: bytes | None, consistency: Consistency
              ) -> Operation[ScanPage]:
    """One page of a scan inside one pkey."""
    not_serial(consistency, "scans")
    if limit < 0:
        raise InvalidRequest(f"limit must not be negative, got {limit}")
    p = as_bytes(pkey, "pkey")
    request = data_pb2.ScanRequest(dataset=dataset, pkey=p, limit=limit, reverse=reverse,
                                   cursor=cursor or b"", consistency=int(consistency))
    if start is not None:
        request.start = as_bytes(start, "start")
    if end is not None:
        request.end = as_bytes(end, "end")
    return Operation(
        "data", "Scan", request,
        lambda r: ScanPage([_record(m) for m in r.records], r.next_cursor or None), True, p,
        dataset,
    )


def get_many(dataset: str, keys: Sequence[tuple[Key, Key]], consistency: Consistency
             ) -> Operation[list[Record | None]]:
    """Get many records in one call; results in key order."""
    not_serial(consistency, "get_many")
    request = data_pb2.MultiGetRequest(
        dataset=dataset, consistency=int(consistency), paged=True,
        keys=[types_pb2.Key(pkey=as_bytes(p, f"keys[{i}].pkey"), lkey=as_bytes(l, f"keys[{i}].lkey"))
              for i, (p, l) in enumerate(keys)],
    )
    return Operation("data", "MultiGet", request,
                     lambda r: [_record(x.record) if x.found else None for x in r.results], True,
                     dataset=dataset, batch="keys")


def _mutation(i: int, item: Put | Delete | tuple) -> data_pb2.Mutation:
    if isinstance(item, tuple):
        item = Put(*item)
    where = f"mutations[{i}]"
    if isinstance(item, Delete):
        return data_pb2.Mutation(pkey=as_bytes(item.pkey, where + ".pkey"),
                                 lkey=as_bytes(item.lkey, where + ".lkey"), delete=True)
    if isinstance(item, Put):
        return data_pb2.Mutation(
            pkey=as_bytes(item.pkey, where + ".pkey"), lkey=as_bytes(item.lkey, where + ".lkey"),
            value=as_bytes(item.value, where + ".value"), ttl_ms=ttl_ms(item.ttl),
        )
    raise InvalidRequest(f"{where} must be a Put, a Delete or a (pkey, lkey, value) tuple")


def put_many(dataset: str, items: Iterable[Put | Delete | tuple], consistency: Consistency,
             durability: Durability) -> Operation[list[Version]]:
    """Puts and deletes in one batch, atomic on each node per replica set."""
    not_serial(consistency, "put_many")
    request = data_pb2.MultiPutRequest(
        dataset=dataset, consistency=int(consistency), durability=int(durability),
        mutations=[_mutation(i, item) for i, item in enumerate(items)], compact_reply=True,
    )
    return Operation("data", "MultiPut", request, _put_versions, False,
                     dataset=dataset, batch="mutations")


def _put_versions(reply: data_pb2.MultiPutResponse) -> list[Version]:
    """A multi-put's versions, from either answer: one per mutation (a node before the
    compact form), or the first, a count and the superseded exceptions."""
    if reply.versions or not reply.count:
        return [_version(v) for v in reply.versions]
    first = reply.first
    superseded = {s.index: s.by for s in reply.superseded}
    return [Version(first.timestamp + i, first.writer, superseded.get(i, 0))
            for i in range(reply.count)]


MAX_TRIM_KEEP = 1_000_000


def trim(dataset: str, pkey: Key, keep: int, start: Key | None, end: Key | None,
         consistency: Consistency, durability: Durability) -> Operation[TrimResult]:
    """Keep the ``keep`` records of highest lkey in [start, end) of one pkey; each
    replica deletes the rest locally. Idempotent: trimming twice keeps the same."""
    if isinstance(keep, bool) or not isinstance(keep, int):
        raise InvalidRequest(f"keep must be an int, not {type(keep).__name__}")
    if not 0 <= keep <= MAX_TRIM_KEEP:
        raise InvalidRequest(f"keep must be between 0 and {MAX_TRIM_KEEP}, got {keep}")
    p = as_bytes(pkey, "pkey")
    request = data_pb2.TrimRequest(dataset=dataset, pkey=p, keep=keep,
                                   consistency=int(consistency), durability=int(durability))
    if start is not None:
        request.start = as_bytes(start, "start")
    if end is not None:
        request.end = as_bytes(end, "end")
    if request.HasField("start") and request.HasField("end") and request.start >= request.end:
        raise InvalidRequest("start must sort below end")
    return Operation("data", "Trim", request,
                     lambda r: TrimResult(_version(r.version), r.removed, r.floor or None),
                     True, p, dataset)


def counter_add(dataset: str, pkey: Key, lkey: Key, delta: int, op_id: Key | None,
                consistency: Consistency, durability: Durability) -> Operation[CounterAdded]:
    """Add ``delta`` to a counter. The op id (made here when not given) travels in the
    request, so every retry of this operation repeats it. Not retried after an unknown
    outcome (Timeout) unless the policy says ``retry_non_idempotent``: a retry that
    reaches another shard owner than the first attempt may count it twice (the caller
    who passed its own op id decides)."""
    if isinstance(delta, bool) or not isinstance(delta, int):
        raise InvalidRequest(f"delta must be an int, not {type(delta).__name__}")
    if not INT64_MIN <= delta <= INT64_MAX:
        raise InvalidRequest(f"delta {delta} is outside the signed 64-bit range")
    ident = uuid.uuid4().bytes if op_id is None else as_bytes(op_id, "op_id")
    if not 1 <= len(ident) <= MAX_OP_ID_BYTES:
        raise InvalidRequest(f"op_id must be 1 to {MAX_OP_ID_BYTES} bytes, got {len(ident)}")
    p = as_bytes(pkey, "pkey")
    request = data_pb2.CounterAddRequest(
        dataset=dataset, pkey=p, lkey=as_bytes(lkey, "lkey"), delta=delta, op_id=ident,
        consistency=int(consistency), durability=int(durability),
        retry=op_id is not None)  # a caller's own op id may repeat an earlier call
    return Operation("data", "CounterAdd", request,
                     lambda r: CounterAdded(r.value, r.counted, ident, _version(r.version)),
                     False, p, dataset, on_retry=_mark_retry, write=True, primary_first=True)


def _mark_retry(request: data_pb2.CounterAddRequest) -> None:
    """The SDK's own next attempt may repeat one that counted: say so."""
    request.retry = True


def counter_get(dataset: str, pkey: Key, lkey: Key, consistency: Consistency
                ) -> Operation[int]:
    """A counter's value (0 when never incremented)."""
    p = as_bytes(pkey, "pkey")
    request = data_pb2.CounterGetRequest(dataset=dataset, pkey=p, lkey=as_bytes(lkey, "lkey"),
                                         consistency=int(consistency))
    return Operation("data", "CounterGet", request, lambda r: int(r.value), True, p, dataset)


def split(op: Operation[list[T]], groups: Sequence[Sequence[int]]) -> list[Operation[list[T]]]:
    """One operation per group of item indices of a multi-key call (see TopologyCache.group).

    Each part carries the first pkey of its group, so it is routed to that group's
    replicas; its answer lists the group's items in the group's order.
    """
    if op.batch is None:
        raise ValueError(f"{op.method} is not a multi-key call")
    items = getattr(op.request, op.batch)
    template = type(op.request)()
    template.CopyFrom(op.request)
    template.ClearField(op.batch)
    parts = []
    for group in groups:
        request = type(op.request)()
        request.CopyFrom(template)
        getattr(request, op.batch).extend(items[i] for i in group)
        parts.append(Operation(op.service, op.method, request, op.parse, op.idempotent,
                               items[group[0]].pkey, op.dataset, op.batch))
    return parts


def to_its_replicas(op: Operation[list[T]]) -> Operation[list[T]]:
    """A multi-key call whose items share one replica set, routed to that set (by its
    first item's pkey) like a single-key call: a replica coordinates it, one hop less."""
    items = getattr(op.request, op.batch) if op.batch is not None else ()
    return replace(op, pkey=items[0].pkey) if items else op


def rest_of(op: Operation[Any], answer: Any) -> Operation[Any] | None:
    """A paged multi-get answered a prefix of its keys (it was over
    ``limits.max_response_bytes``): the operation for the keys left, or None when done."""
    if op.method != "MultiGet" or op.batch is None:
        return None
    keys = getattr(op.request, op.batch)
    if len(answer) >= len(keys):
        return None
    if not answer:
        raise InternalError(f"a node answered none of {len(keys)} keys of a paged multi-get")
    [rest] = split(op, [range(len(answer), len(keys))])
    return rest


def reassemble(groups: Sequence[Sequence[int]], results: Sequence[Sequence[T]]) -> list[T]:
    """The parts' answers back in the order of the original items."""
    size = sum(len(g) for g in groups)
    merged: list[Any] = [None] * size
    for group, answer in zip(groups, results, strict=True):
        if len(answer) != len(group):
            raise InternalError(f"a node answered {len(answer)} results for {len(group)} items")
        for index, value in zip(group, answer):
            merged[index] = value
    return merged


# -- cluster operations -----------------------------------------------------


def topology_message() -> Operation[cluster_pb2.TopologyMessage]:
    """The answering node's topology as it came (for the SDK's TopologyCache)."""
    return Operation("cluster", "GetTopology", cluster_pb2.GetTopologyRequest(), lambda r: r, True)


# -- admin operations -------------------------------------------------------


def create_tenant(name: str) -> Operation[str]:
    """Create a tenant; the result is its token (shown once)."""
    return Operation("admin", "CreateTenant", admin_pb2.CreateTenantRequest(name=name),
                     lambda r: r.token, False)


def list_tenants() -> Operation[list[Tenant]]:
    """Every tenant."""
    return Operation("admin", "ListTenants", admin_pb2.ListTenantsRequest(),
                     lambda r: [Tenant(t.name, t.created_at_ms, t.incarnation)
                                for t in r.tenants], True)


def create_dataset(name: str, tenant: str, replication_factor: int, read_consistency: Consistency,
                   write_consistency: Consistency, durability: Durability,
                   default_ttl: float | None, kind: str = "kv") -> Operation[DatasetInfo]:
    """Create a dataset owned by ``tenant`` (``kind``: "kv" or "counter")."""
    if kind not in DATASET_KINDS:
        raise InvalidRequest(f"kind must be one of {', '.join(DATASET_KINDS)}, got {kind!r}")
    spec = admin_pb2.DatasetSpec(
        name=name, tenant=tenant, replication_factor=replication_factor,
        read_consistency=int(read_consistency), write_consistency=int(write_consistency),
        durability=int(durability), default_ttl_ms=ttl_ms(default_ttl), kind=kind,
    )
    return Operation("admin", "CreateDataset", admin_pb2.CreateDatasetRequest(spec=spec),
                     lambda r: _dataset_info(r.dataset), False)


def list_datasets(tenant: str | None, local: bool = False) -> Operation[list[DatasetInfo]]:
    """Datasets visible to the caller (optionally one tenant's, for the admin); ``local``:
    the answering node's applied copy, without a barrier through the metadata log."""
    request = admin_pb2.ListDatasetsRequest(tenant=tenant or "", local=local)
    return Operation("admin", "ListDatasets", request,
                     lambda r: [_dataset_info(d) for d in r.datasets], True)


def drop_dataset(name: str, tenant: str | None) -> Operation[None]:
    """Drop a dataset and all its records (``tenant``: its owner, needed when several
    tenants own a dataset of that name)."""
    return Operation("admin", "DropDataset",
                     admin_pb2.DropDatasetRequest(name=name, tenant=tenant or ""),
                     lambda r: None, False)


def drop_tenant(name: str) -> Operation[list[DatasetInfo]]:
    """Drop a tenant, its tokens, datasets and limits; the datasets that went with it."""
    return Operation("admin", "DropTenant", admin_pb2.DropTenantRequest(name=name),
                     lambda r: [_dataset_info(d) for d in r.datasets], False)


_OPS_FIELDS = (
    "metrics_address", "requests_total", "requests_per_second", "repair_running",
    "repair_progress", "repair_keys_compared", "repair_ranges_differing",
    "repair_records_exchanged", "repair_last_completed_ms", "streaming_active",
    "streaming_progress", "streaming_records", "streaming_bytes", "snapshots",
    "clock_ahead_ms", "clock_refusing_writes", "hlc", "timestamps_refused",
)


def _ops_fields(response: admin_pb2.NodeInfoResponse) -> dict[str, object]:
    """NodeInfo's load, metrics, repair, streaming and snapshot fields, copied by name."""
    return {name: getattr(response, name) for name in _OPS_FIELDS}


def _metadata_status(response: admin_pb2.NodeInfoResponse) -> MetadataStatus | None:
    m = response.metadata
    if not response.HasField("metadata") or not m.enabled:
        return None
    return MetadataStatus(m.role, m.leader, m.term, m.commit_index, m.applied_index,
                          m.has_majority, m.stale, m.seconds_since_majority, list(m.voters),
                          m.applied_commands, m.voters_pending_change)


def node_info() -> Operation[NodeInfo]:
    """What the node that answers says about itself."""
    return Operation(
        "admin", "NodeInfo", admin_pb2.NodeInfoRequest(),
        lambda r: NodeInfo(r.node_id, r.address, r.version, r.started_at_ms, r.clock_ms,
                           list(r.datasets), r.approximate_keys, r.disk_bytes,
                           r.topology_epoch, dict(r.hints_pending), r.hints_dropped,
                           r.hints_replayed, r.read_repairs, **_ops_fields(r),
                           metadata=_metadata_status(r)),
        True,
    )


def topology() -> Operation[ClusterTopology]:
    """The cluster topology as the answering node sees it."""
    return Operation(
        "cluster", "GetTopology", cluster_pb2.GetTopologyRequest(),
        lambda r: ClusterTopology(r.epoch, r.vnodes, [
            MemberInfo(m.id, m.address, m.zone, m.weight,
                       cluster_pb2.MemberState.Name(m.state).lower(), m.alive)
            for m in r.members]),
        True,
    )


# -- scans, page by page ----------------------------------------------------


class ScanPager:
    """A scan as a sequence of page operations, I/O-free: ``next()`` is the next page's
    operation (None when done), ``feed(page)`` takes its answer and returns the
    records to hand out. ``limit`` (None: no limit) caps the records in all."""

    def __init__(self, dataset: str, pkey: Key, *, start: Key | None, end: Key | None,
                 reverse: bool, page_size: int, consistency: Consistency,
                 limit: int | None = None) -> None:
        if page_size < 1:
            raise InvalidRequest(f"page_size must be at least 1, got {page_size}")
        if limit is not None and limit < 0:
            raise InvalidRequest(f"limit must not be negative, got {limit}")
        self._page = (dataset, pkey, start, end, page_size, reverse)
        self._consistency = consistency
        self._left = limit
        self._cursor: bytes | None = None
        self._done = limit == 0

    def next(self) -> Operation[ScanPage] | None:
        """The operation of the next page, or None when the scan is complete."""
        if self._done:
            return None
        dataset, pkey, start, end, page_size, reverse = self._page
        size = page_size if self._left is None else min(page_size, self._left)
        return scan_page(dataset, pkey, start, end, size, reverse, self._cursor,
                         self._consistency)

    def feed(self, page: ScanPage) -> list[Record]:
        """The records of ``page`` to yield (cut at the limit)."""
        records = page.records
        if self._left is not None:
            records = records[:self._left]
            self._left -= len(records)
        self._cursor = page.cursor
        self._done = page.cursor is None or self._left == 0
        return records
