"""Conditional (SERIAL) writes, sans I/O: the request, its answer, and what to do when
the outcome is unknown.

A conditional write that times out may or may not have been chosen. It is never
blindly re-sent: the client first reads the key with a *sealing* SERIAL read (which
also makes every older proposal unrecoverable, so the answer cannot change later) and
decides from what it finds:

- the condition still holds: the write was not applied, so sending it again is safe;
- the value is the one written (and the version moved): it was applied;
- anything else: the outcome stays unknown (``Timeout``), since the write may have
  applied and been overwritten since.

Both transports run the same ``ConditionalWrite`` (``Client._conditional`` and
``AsyncClient._conditional``), only their I/O differs.
"""

from __future__ import annotations

from dataclasses import dataclass

from manhattan.client.models import Record, Version
from manhattan.client.operations import Key, Operation, _record, _version, as_bytes, ttl_ms
from manhattan.errors import ConditionFailed, InvalidRequest, Timeout
from manhattan.proto.v1 import data_pb2, types_pb2
from manhattan.types import Consistency, Durability

# Times an unapplied write (known by its re-read) is sent again within one call.
MAX_RESENDS = 3
# Share of the remaining budget one write attempt may use: the rest is kept for the
# re-read that settles an unknown outcome.
WRITE_SHARE = 0.6


@dataclass(frozen=True, slots=True)
class CasAnswer:
    """A Cas response, decoded: the new version, or the current record (None: absent)."""

    applied: bool
    version: Version | None
    current: Record | None


def _answer(response: data_pb2.CasResponse) -> CasAnswer:
    if response.applied:
        return CasAnswer(True, _version(response.version), None)
    return CasAnswer(False, None, _record(response.current) if response.found else None)


def serial_get(dataset: str, pkey: Key, lkey: Key, *, seal: bool) -> Operation[Record | None]:
    """A linearizable read; ``seal`` settles every older proposal for good."""
    p = as_bytes(pkey, "pkey")
    request = data_pb2.SerialGetRequest(dataset=dataset, pkey=p, lkey=as_bytes(lkey, "lkey"),
                                        seal=seal)
    return Operation("data", "SerialGet", request,
                     lambda r: _record(r.record) if r.found else None, True, p, dataset)


def _expected(if_version: object) -> Version:
    """``if_version`` as a Version: a Version, a (timestamp, writer) pair or a Record."""
    if isinstance(if_version, Record):
        if_version = if_version.version
    if (isinstance(if_version, tuple) and len(if_version) >= 2
            and all(isinstance(x, int) for x in if_version[:2])):
        timestamp, writer = if_version[0], if_version[1]
        if timestamp <= 0 or writer < 0:
            raise InvalidRequest(f"if_version must be a version a read returned, got "
                                 f"{if_version!r}")
        return Version(timestamp, writer)
    raise InvalidRequest("if_version must be a Version (or a Record, or a (timestamp, writer) "
                         f"pair), not {type(if_version).__name__}")


class ConditionalWrite:
    """One conditional put or delete: its operation, and its decisions."""

    def __init__(self, dataset: str, pkey: Key, lkey: Key, value: Key | None, *,
                 ttl: float | None, if_version: object, if_absent: bool,
                 consistency: Consistency, durability: Durability) -> None:
        if consistency not in (Consistency.DEFAULT, Consistency.SERIAL):
            raise InvalidRequest(f"a conditional write is SERIAL; consistency "
                                 f"{Consistency(consistency).name} cannot apply to it")
        if if_version is not None and if_absent:
            raise InvalidRequest("give if_version or if_absent, not both")
        delete = value is None
        if delete and if_absent:
            raise InvalidRequest("a delete cannot be conditional on if_absent; use if_version")
        self.dataset = dataset
        self.pkey = as_bytes(pkey, "pkey")
        self.lkey = as_bytes(lkey, "lkey")
        self.value = b"" if delete else as_bytes(value, "value")  # type: ignore[arg-type]
        self.delete = delete
        self.if_version = None if if_version is None else _expected(if_version)
        self.if_absent = bool(if_absent)
        request = data_pb2.CasRequest(
            dataset=dataset, pkey=self.pkey, lkey=self.lkey, value=self.value,
            ttl_ms=ttl_ms(ttl), delete=delete, durability=int(durability))
        if self.if_version is not None:
            request.if_version.CopyFrom(types_pb2.Version(
                timestamp=self.if_version.timestamp, writer=self.if_version.writer))
        elif self.if_absent:
            request.if_absent = True
        self.resends = 0
        # To the key's primary replica: one coordinator per key keeps the ballot its
        # replicas granted with its last commit, so its next compare-and-set there
        # skips the prepare (replication/paxos.py); it also spares the key dueling
        # proposers.
        self.write: Operation[CasAnswer] = Operation("data", "Cas", request, _answer, False,
                                                     self.pkey, dataset, primary_first=True)

    @property
    def conditional(self) -> bool:
        """Whether a condition was given (else: an unconditional SERIAL write)."""
        return self.if_version is not None or self.if_absent

    def written(self, answer: CasAnswer) -> Version:
        """The version written; ``ConditionFailed`` (with the current record) if not."""
        if answer.applied:
            assert answer.version is not None
            return answer.version
        raise ConditionFailed(
            f"{self.write.method}: the condition did not hold for ({self.pkey!r}, "
            f"{self.lkey!r}); nothing was written", current=answer.current)

    def reread(self) -> Operation[Record | None]:
        """The sealing SERIAL read that settles an unknown outcome."""
        return serial_get(self.dataset, self.pkey, self.lkey, seal=True)

    def _holds(self, record: Record | None) -> bool:
        if self.if_absent:
            return record is None
        return record is not None and record.version[:2] == self.if_version[:2]  # type: ignore[index]

    def settle(self, record: Record | None, unknown: Timeout) -> Version | None:
        """After an unknown outcome and the sealing re-read: the version written (it was
        applied), None (it was not: send it again), or ``Timeout`` (still unknown)."""
        if self.conditional and self._holds(record):
            if self.resends >= MAX_RESENDS:
                raise unknown
            self.resends += 1
            return None
        if not self.delete and record is not None and record.value == self.value:
            return Version(record.version.timestamp, record.version.writer)
        error = Timeout(f"{self.write.method}: the outcome is unknown: the record changed "
                        f"to a value that is not this write's ({unknown.message})")
        error.__cause__ = unknown
        raise error


__all__ = ["CasAnswer", "ConditionalWrite", "MAX_RESENDS", "WRITE_SHARE", "serial_get"]
