"""The Data service's SERIAL calls: conditional writes (``Cas``) and linearizable reads
(``SerialGet``, and ``Get`` at SERIAL), checked then run as per-key Paxos rounds
(``replication/paxos.py``), and ``PeekSerial``, one replica's part of a linearizable
read its client coordinates. A mixin of ``DataService``, which provides the checks."""

from __future__ import annotations

from typing import Any

from manhattan.errors import InvalidRequest
from manhattan.proto.v1 import data_pb2
from manhattan.replication.paxos import Condition, expiry
from manhattan.replication.paxos_replica import ballot_to_proto
from manhattan.rpc.servicers import record_to_proto, rpc_errors, version_to_proto
from manhattan.storage import Entry, Record, Version
from manhattan.tenancy import DatasetSpec


def refuse_counters(spec: DatasetSpec, call: str) -> None:
    """Records of kv datasets only: a counter changes only by adds (CounterAdd)."""
    if spec.is_counter:
        raise InvalidRequest(f"dataset {spec.name!r} is a counter dataset: {call} is refused; "
                             "change its counters with CounterAdd (Dataset.add)")


def condition_of(request: data_pb2.CasRequest) -> Condition:
    """The request's condition on the current record (precise INVALID_ARGUMENT)."""
    kind = request.WhichOneof("condition")
    if kind == "if_version":
        if request.if_version.timestamp == 0:
            raise InvalidRequest("if_version must be the version of a record a read returned "
                                 "(timestamp 0 is no version); for a missing record use "
                                 "if_absent")
        expected = Version(request.if_version.timestamp, request.if_version.writer)
        return lambda record: record is not None and record.version[:2] == expected[:2]
    if kind == "if_absent":
        if not request.if_absent:
            raise InvalidRequest("if_absent must be true when set (leave the condition "
                                 "unset for an unconditional SERIAL write)")
        if request.delete:
            raise InvalidRequest("a delete cannot be conditional on if_absent (there is "
                                 "nothing to delete); use if_version")
        return lambda record: record is None
    return lambda record: True


class SerialData:
    """``Cas`` and ``SerialGet`` for ``DataService`` (which supplies ``_dataset``,
    ``_check``, ``_admit``, ``_charge`` and ``_coordinator``)."""

    _dataset: Any
    _check: Any
    _admit: Any
    _charge: Any
    _coordinator: Any

    async def _serial_read(self, context: Any, dataset: str, pkey: bytes, lkey: bytes,
                           seal: bool) -> data_pb2.GetResponse:
        principal, spec = await self._dataset(context, dataset)
        refuse_counters(spec, "a SERIAL read")
        self._check.key(pkey, lkey)
        await self._admit(context, principal, spec, 1, len(pkey) + len(lkey))
        record: Record | None = await self._coordinator.paxos.read(
            spec, pkey, lkey, seal=seal, timeout=context.time_remaining())
        if record is None:
            return data_pb2.GetResponse(found=False)
        self._charge(principal, spec, len(record.value))
        return data_pb2.GetResponse(found=True, record=record_to_proto(record))

    @rpc_errors
    async def SerialGet(self, request: data_pb2.SerialGetRequest, context
                        ) -> data_pb2.GetResponse:
        return await self._serial_read(context, request.dataset, request.pkey, request.lkey,
                                       request.seal)

    @rpc_errors
    async def PeekSerial(self, request: data_pb2.PeekSerialRequest, context
                         ) -> data_pb2.PeekSerialResponse:
        """This replica's view of the key (``PaxosCoordinator.view``): the SDK asks a
        majority of the replicas at once and decides itself (``client/serial_read.py``).
        Checked and counted like a read on this node."""
        principal, spec = await self._dataset(context, request.dataset)
        refuse_counters(spec, "a SERIAL read")
        self._check.key(request.pkey, request.lkey)
        await self._admit(context, principal, spec, 1, len(request.pkey) + len(request.lkey))
        paxos = self._coordinator.paxos
        view = paxos.view(spec, request.pkey, request.lkey)
        record = self._coordinator._visible(request.pkey, request.lkey, view.newest)
        response = data_pb2.PeekSerialResponse(
            node_id=self._coordinator.node_id, replicas=view.replicas,
            accepted=ballot_to_proto(view.accepted), committed=ballot_to_proto(view.committed),
            newest=ballot_to_proto(None if view.newest is None else view.newest.version),
            found=record is not None)
        if record is not None:
            self._charge(principal, spec, len(record.value))
            response.record.CopyFrom(record_to_proto(record))
        return response

    @rpc_errors
    async def Cas(self, request: data_pb2.CasRequest, context) -> data_pb2.CasResponse:
        principal, spec = await self._dataset(context, request.dataset, write=True)
        refuse_counters(spec, "compare-and-set")
        self._check.key(request.pkey, request.lkey)
        if request.delete and request.value:
            raise InvalidRequest("a delete carries no value")
        if request.delete and request.ttl_ms:
            raise InvalidRequest("a delete carries no ttl_ms")
        self._check.value(request.value)
        self._check.ttl(request.ttl_ms)
        # Checked, but every SERIAL write is durable at its ack: each accept is fsynced.
        self._check.durability(request.durability)
        condition = condition_of(request)
        await self._admit(context, principal, spec, 1,
                          len(request.pkey) + len(request.lkey) + len(request.value),
                          grows=not request.delete)
        ttl = 0 if request.delete else request.ttl_ms or spec.default_ttl_ms

        def make_entry(ballot: Version) -> Entry:
            return Entry(ballot, b"" if request.delete else request.value,
                         expiry(ttl, ballot), request.delete)

        outcome = await self._coordinator.paxos.cas(
            spec, request.pkey, request.lkey, condition, make_entry, context.time_remaining(),
            may_skip_prepare=not ttl)
        if outcome.applied:
            return data_pb2.CasResponse(applied=True, version=version_to_proto(outcome.version))
        if outcome.current is None:
            return data_pb2.CasResponse(applied=False, found=False)
        return data_pb2.CasResponse(applied=False, found=True,
                                    current=record_to_proto(outcome.current))


__all__ = ["SerialData", "condition_of"]
