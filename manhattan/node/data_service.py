"""The Data service: tenants' reads and writes, checked then coordinated."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace

import grpc

from manhattan.errors import (
    InvalidRequest, NotFound, QuotaExceeded, Unauthenticated, Unavailable,
)
from manhattan.node.session import absorb_session
from manhattan.rpc import request_context
from manhattan.rpc.auth import Authenticator
from manhattan.replication.coordinator import Coordinator, Mutation
from manhattan.replication.supersede import WriteResult
from manhattan.rpc.servicers import record_to_proto, rpc_errors, version_to_proto
from manhattan.node.serial_data import SerialData, refuse_counters
from manhattan.node.validation import RequestValidator
from manhattan.proto.v1 import data_pb2, data_pb2_grpc
from manhattan.qos import QosGate
from manhattan.storage import DEFAULT_SCAN_LIMIT, Record
from manhattan.storage.counters import INT64_MAX, INT64_MIN, MAX_OP_ID_BYTES, CounterState
from manhattan.storage.keys import decode_cursor, encode_cursor
from manhattan.tenancy import Catalog, DatasetSpec, Principal
from manhattan.types import Consistency


_SERIAL_WRITE = ("a plain write is last-writer-wins: use Cas (the SDK's put/delete with if_version or if_absent, or consistency=SERIAL)")


_COUNTER_LEVELS = ("counters merge the replicas' shards: use ONE, QUORUM or ALL")
# A trim keeps at most this many records: a capped partition is meant to stay small.
MAX_TRIM_KEEP = 1_000_000


def _payload(record: Record) -> int:
    return len(record.pkey) + len(record.lkey) + len(record.value)


def _shown(spec: DatasetSpec, record: Record) -> Record:
    """What a reader of the dataset sees: a counter's value in decimal ASCII (its
    CRDT state stays inside the cluster)."""
    if not spec.is_counter:
        return record
    return replace(record, value=str(value_of_state(record.value)).encode())


class DataService(SerialData, data_pb2_grpc.DataServicer):
    """Implements manhattan.v1.Data (the SERIAL calls: ``serial_data.py``)."""

    def __init__(
        self, catalog: Catalog, auth: Authenticator, validator: RequestValidator,
        coordinator: Coordinator, gate: QosGate | None = None,
        throttle_delay: float = 0.0,
        catch_up_catalog: Callable[[], Awaitable[bool]] | None = None,
        may_freshen: Callable[[], bool] = lambda: False,
    ) -> None:
        self._catalog = catalog
        # Whether a barrier may make this stale node fresh (``MetadataLog.may_freshen``):
        # one that just started or resumed from a pause renews its freshness within the
        # call's deadline instead of refusing; one cut off from the log refuses at once.
        self._may_freshen = may_freshen
        self._catch_up_catalog = catch_up_catalog
        self._auth = auth
        self._check = validator
        self._coordinator = coordinator
        self._gate = gate
        self._throttle_delay = throttle_delay

    async def _dataset(self, context: grpc.aio.ServicerContext, name: str, *,
                       write: bool = False) -> tuple[Principal, DatasetSpec]:
        """Who calls and the dataset, if the token may use it (and write, for writes).

        A dataset (or token) this node has not heard of may have just been created through
        another node and not be applied here yet: the node catches up (the metadata log's
        barrier, or its peers' catalogs) before answering NotFound (or Unauthenticated)."""
        metadata = request_context.metadata(context)  # read once
        try:
            principal = self._auth.principal(metadata)
        except Unauthenticated:
            # A token issued through another node moments ago: this node may not have
            # applied it yet. Catch up once (shared, one in flight), then decide.
            if not await self._caught_up(context):
                raise
            principal = self._auth.principal(metadata)
        except Unavailable:
            # Metadata stale (``MetadataLog.stale``): with the log in reach, a barrier
            # (shared, one in flight) applies what was committed meanwhile, revokes
            # included, and makes this node fresh again; then the token is checked anew.
            if not self._may_freshen() or not await self._caught_up(context):
                raise
            principal = self._auth.principal(metadata)
        if not name:
            raise InvalidRequest("dataset must not be empty")
        # The caller's session clock: everything it saw acknowledged is ordered before
        # what this request does (skew-checked; authenticated callers only).
        absorb_session(self._coordinator.clock, metadata)
        authorize = self._catalog.authorize_write if write else self._catalog.authorize
        try:
            return principal, authorize(principal, name)
        except NotFound:
            if not await self._caught_up(context):
                raise
        return principal, authorize(principal, name)

    async def _caught_up(self, context: grpc.aio.ServicerContext) -> bool:
        """Catch up (see ``_dataset``), waiting no longer than the call's deadline."""
        if self._catch_up_catalog is None:
            return False
        remaining = context.time_remaining() if context is not None else None
        if remaining is None:
            return await self._catch_up_catalog()
        try:  # the catch-up is shared: leaving early does not cancel it for others
            return await asyncio.wait_for(self._catch_up_catalog(),
                                          request_context.wait_before_refusing(remaining))
        except asyncio.TimeoutError:
            # nothing was done: Unavailable (safe to send again), not NotFound
            raise Unavailable("this node has not applied that name yet and could not check "
                              "with the cluster within the deadline") from None

    async def _admit(self, context: grpc.aio.ServicerContext, principal: Principal,
                     spec: DatasetSpec, ops: int, nbytes: int, grows: bool = False) -> None:
        """Rate limits and quotas, before any storage or replication work (admin: exempt).

        A refusal is answered after ``throttle_delay_s``: a client that ignores
        retry-after and resends at once cannot turn refusals into a CPU flood that slows
        other tenants (it is over its limit anyway). The pause costs a sleeping
        coroutine, not CPU, and never more than half the call's remaining deadline."""
        if self._gate is None or principal.is_admin:
            return
        try:
            self._gate.admit(spec.tenant, spec.storage_id, spec.replication_factor, ops=ops,
                             nbytes=nbytes, grows=grows)
        except QuotaExceeded:
            remaining = context.time_remaining()
            pause = min(self._throttle_delay,
                        remaining / 2 if remaining is not None else self._throttle_delay)
            if pause > 0:
                await asyncio.sleep(pause)
            raise

    def _charge(self, principal: Principal, spec: DatasetSpec, nbytes: int) -> None:
        """Bytes a read served count against the byte rate of what follows."""
        if self._gate is not None and not principal.is_admin:
            self._gate.charge(spec.tenant, spec.storage_id, nbytes)

    async def _read_one(self, request: data_pb2.GetRequest | data_pb2.CounterGetRequest,
                        context: grpc.aio.ServicerContext, consistency: Consistency,
                        counter: bool = False
                        ) -> tuple[Principal, DatasetSpec, Record | None]:
        """Check and coordinate a single-key read (a counter read: of a counter dataset)."""
        principal, spec = await self._dataset(context, request.dataset)
        if counter:
            self._counter_dataset(spec, "CounterGet")
        self._check.key(request.pkey, request.lkey)
        await self._admit(context, principal, spec, 1, len(request.pkey) + len(request.lkey))
        record = await self._coordinator.read(spec, request.pkey, request.lkey, consistency,
                                              context.time_remaining())
        return principal, spec, record

    @rpc_errors
    async def Get(self, request: data_pb2.GetRequest, context) -> data_pb2.GetResponse:
        consistency = self._check.consistency(request.consistency)
        if consistency == Consistency.SERIAL:
            return await self._serial_read(context, request.dataset, request.pkey,
                                           request.lkey, seal=False)
        principal, spec, record = await self._read_one(request, context, consistency)
        if record is None:
            return data_pb2.GetResponse(found=False)
        self._charge(principal, spec, len(record.value))
        return data_pb2.GetResponse(found=True, record=record_to_proto(_shown(spec, record)))

    @rpc_errors
    async def Put(self, request: data_pb2.PutRequest, context) -> data_pb2.PutResponse:
        principal, spec = await self._dataset(context, request.dataset, write=True)
        refuse_counters(spec, "put")
        self._check.key(request.pkey, request.lkey)
        self._check.value(request.value)
        self._check.ttl(request.ttl_ms)
        consistency = self._check.consistency(request.consistency, _SERIAL_WRITE)
        durability = self._check.durability(request.durability)
        await self._admit(context, principal, spec, 1,
                    len(request.pkey) + len(request.lkey) + len(request.value), grows=True)
        mutation = Mutation(request.pkey, request.lkey, request.value, request.ttl_ms)
        [result] = await self._coordinator.write(spec, [mutation], durability, consistency,
                                                 context.time_remaining())
        return data_pb2.PutResponse(version=version_to_proto(*result))

    @rpc_errors
    async def Delete(self, request: data_pb2.DeleteRequest, context) -> data_pb2.DeleteResponse:
        principal, spec = await self._dataset(context, request.dataset, write=True)
        refuse_counters(spec, "delete")
        self._check.key(request.pkey, request.lkey)
        consistency = self._check.consistency(request.consistency, _SERIAL_WRITE)
        durability = self._check.durability(request.durability)
        await self._admit(context, principal, spec, 1, len(request.pkey) + len(request.lkey))
        mutation = Mutation(request.pkey, request.lkey, delete=True)
        [result] = await self._coordinator.write(spec, [mutation], durability, consistency,
                                                 context.time_remaining())
        return data_pb2.DeleteResponse(version=version_to_proto(*result))

    @rpc_errors
    async def Scan(self, request: data_pb2.ScanRequest, context) -> data_pb2.ScanResponse:
        principal, spec = await self._dataset(context, request.dataset)
        self._check.key(request.pkey, b"")
        consistency = self._check.consistency(
            request.consistency, "a scan reads many keys; SERIAL is per key (get one key "
                                 "at SERIAL instead)")
        limit = self._check.scan_limit(request.limit, DEFAULT_SCAN_LIMIT)
        if request.cursor:
            try:
                decode_cursor(request.cursor)
            except ValueError as exc:
                raise InvalidRequest(f"cursor: {exc}") from None
        await self._admit(context, principal, spec, 1, len(request.pkey))
        page = await self._coordinator.scan(
            spec, request.pkey,
            start=request.start if request.HasField("start") else None,
            end=request.end if request.HasField("end") else None,
            limit=limit, reverse=request.reverse, cursor=request.cursor or None,
            consistency=consistency, timeout=context.time_remaining(),
        )
        records, cursor = self._fit(page.records, page.cursor)
        self._charge(principal, spec, sum(_payload(r) for r in records))
        return data_pb2.ScanResponse(
            records=[record_to_proto(_shown(spec, r)) for r in records],
            next_cursor=cursor or b""
        )

    def _fit(
        self, records: list[Record], cursor: bytes | None
    ) -> tuple[list[Record], bytes | None]:
        """Cut a page to the reply budget (100 values of 1 MiB would not fit one gRPC
        message); the cursor then resumes right after the last record kept."""
        total = 0
        for i, record in enumerate(records):
            total += _payload(record)
            if total > self._check.reply_bytes and i > 0:
                return records[:i], encode_cursor(records[i - 1].lkey)
        return records, cursor

    @rpc_errors
    async def MultiGet(self, request: data_pb2.MultiGetRequest, context) -> data_pb2.MultiGetResponse:
        principal, spec = await self._dataset(context, request.dataset)
        key_bytes = [len(k.pkey) + len(k.lkey) for k in request.keys]
        self._check.batch(len(request.keys), key_bytes, "keys")
        for i, key in enumerate(request.keys):
            self._check.key(key.pkey, key.lkey, where=f"keys[{i}].")
        consistency = self._check.consistency(
            request.consistency, "a multi-get reads many keys; SERIAL is per key (get each "
                                 "key at SERIAL instead)")
        if not request.paged:  # the keys alone would not fit: refused before any work
            self._check.reply(sum(key_bytes), "keys", paged_hint=True)
        await self._admit(context, principal, spec, max(len(request.keys), 1), sum(key_bytes))
        keys = [(k.pkey, k.lkey) for k in request.keys]
        records: list[Record | None] = []
        served = 0
        while len(records) < len(keys):
            # Paged: one prefix that fits a reply; the caller follows next_index. Not
            # paged: every page, refused as soon as the answer is over one reply.
            page = await self._coordinator.read_page(
                spec, keys[len(records):], consistency, context.time_remaining(),
                self._check.reply_bytes)
            records += page
            served += sum(_payload(r) for r in page if r is not None)
            self._check.reply(served, "keys", paged_hint=True)
            if request.paged:
                break
        self._charge(principal, spec, served)
        return data_pb2.MultiGetResponse(results=[
            data_pb2.GetResult(found=True, record=record_to_proto(_shown(spec, r)))
            if r is not None
            else data_pb2.GetResult(found=False)
            for r in records
        ], next_index=len(records) if len(records) < len(keys) else 0)

    @rpc_errors
    async def MultiPut(self, request: data_pb2.MultiPutRequest, context) -> data_pb2.MultiPutResponse:
        principal, spec = await self._dataset(context, request.dataset, write=True)
        refuse_counters(spec, "multi-put")
        mutations = request.mutations
        sizes = [len(m.pkey) + len(m.lkey) + len(m.value) for m in mutations]
        self._check.batch(len(mutations), sizes, "mutations")
        for i, m in enumerate(mutations):
            where = f"mutations[{i}]."
            self._check.key(m.pkey, m.lkey, where)
            self._check.value(m.value, where)
            self._check.ttl(m.ttl_ms, where)
        consistency = self._check.consistency(
            request.consistency, "a multi-put is last-writer-wins; SERIAL writes are single-key "
                                 "conditional writes (Cas)")
        durability = self._check.durability(request.durability)
        await self._admit(context, principal, spec, max(len(mutations), 1), sum(sizes),
                    grows=any(not m.delete for m in mutations))
        results = await self._coordinator.write(
            spec, [Mutation(m.pkey, m.lkey, m.value, m.ttl_ms, m.delete) for m in mutations],
            durability, consistency, context.time_remaining(),
        )
        return multi_put_reply(results, request.compact_reply)

    # -- counters -----------------------------------------------------------

    def _counter_dataset(self, spec: DatasetSpec, call: str) -> None:
        if not spec.is_counter:
            raise InvalidRequest(f"dataset {spec.name!r} is a kv dataset: {call} is for "
                                 "counter datasets (create one with kind=\"counter\")")

    @rpc_errors
    async def CounterAdd(self, request: data_pb2.CounterAddRequest, context
                         ) -> data_pb2.CounterAddResponse:
        principal, spec = await self._dataset(context, request.dataset, write=True)
        self._counter_dataset(spec, "CounterAdd")
        self._check.key(request.pkey, request.lkey)
        if not INT64_MIN <= request.delta <= INT64_MAX:  # sint64 already: a guard for tools
            raise InvalidRequest(f"delta must be a signed 64-bit integer, got {request.delta}")
        if len(request.op_id) > MAX_OP_ID_BYTES:
            raise InvalidRequest(f"op_id is {len(request.op_id)} bytes; at most "
                                 f"{MAX_OP_ID_BYTES} are allowed")
        consistency = self._check.consistency(request.consistency, _COUNTER_LEVELS)
        durability = self._check.durability(request.durability)
        await self._admit(context, principal, spec, 1, len(request.pkey) + len(request.lkey) + 8,
                          grows=True)
        op_id = request.op_id or uuid.uuid4().bytes
        result = await self._coordinator.add(spec, request.pkey, request.lkey, request.delta,
                                             op_id, consistency, durability,
                                             context.time_remaining(), request.retry)
        return data_pb2.CounterAddResponse(value=result.value, counted=result.counted,
                                           version=version_to_proto(result.version))

    @rpc_errors
    async def CounterGet(self, request: data_pb2.CounterGetRequest, context
                         ) -> data_pb2.CounterGetResponse:
        consistency = self._check.consistency(request.consistency, _COUNTER_LEVELS)
        _, _, record = await self._read_one(request, context, consistency, counter=True)
        if record is None:
            return data_pb2.CounterGetResponse(value=0, found=False)
        return data_pb2.CounterGetResponse(value=value_of_state(record.value), found=True,
                                           version=version_to_proto(record.version))


    @rpc_errors
    async def Trim(self, request: data_pb2.TrimRequest, context) -> data_pb2.TrimResponse:
        """Keep the newest ``keep`` records of a partition range; each replica trims locally."""
        principal, spec = await self._dataset(context, request.dataset, write=True)
        refuse_counters(spec, "trim")
        self._check.key(request.pkey, b"")
        start = request.start if request.HasField("start") else None
        end = request.end if request.HasField("end") else None
        if start is not None and end is not None and start >= end:
            raise InvalidRequest("trim: start must sort below end")
        if request.keep > MAX_TRIM_KEEP:
            raise InvalidRequest(f"trim: keep is {request.keep}; the limit is {MAX_TRIM_KEEP}")
        consistency = self._check.consistency(request.consistency)
        durability = self._check.durability(request.durability)
        await self._admit(context, principal, spec, 1, len(request.pkey))
        result = await self._coordinator.trim(
            spec, request.pkey, keep=request.keep, start=start, end=end,
            consistency=consistency, durability=durability, timeout=context.time_remaining())
        return data_pb2.TrimResponse(version=version_to_proto(result.version),
                                     removed=result.removed, floor=result.floor or b"")


def value_of_state(raw: bytes) -> int:
    """The counter a stored state holds."""
    return CounterState.decode(raw).value


def multi_put_reply(results: Sequence[WriteResult], compact: bool) -> data_pb2.MultiPutResponse:
    """A multi-put's answer: a version per mutation, or (``compact``) the first version,
    a count and the superseded exceptions, which spares a message per record on both
    ends. A coordinator versions a batch with consecutive timestamps of its own; a batch
    that is not so (none today) is answered in full rather than wrongly."""
    if compact and results:
        first = results[0].version
        if all(r.version.timestamp == first.timestamp + i and r.version.writer == first.writer
               for i, r in enumerate(results)):
            return data_pb2.MultiPutResponse(
                first=version_to_proto(first), count=len(results),
                superseded=[data_pb2.Superseded(index=i, by=r.superseded_by)
                            for i, r in enumerate(results) if r.superseded_by])
    return data_pb2.MultiPutResponse(versions=[version_to_proto(*r) for r in results])
