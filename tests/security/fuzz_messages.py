"""Hypothesis strategies for any protobuf request, built from its descriptor.

Every field gets ordinary and extreme values: empty, huge, NUL bytes, negative
and overflowing numbers, unknown enum values, unset optional fields, NaN and
infinities. Names of fields that matter to the node (``dataset``, ``tenant``,
``pkey``...) also draw from a pool of real values, so the fuzz reaches past the
first check. Invalid UTF-8 in string fields, which the Python protobuf API
refuses to build, is spliced in as raw wire bytes.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Sequence
from dataclasses import dataclass

from google.protobuf.descriptor import Descriptor, FieldDescriptor, MethodDescriptor
from google.protobuf.message import Message
from google.protobuf.message_factory import GetMessageClass
from hypothesis import strategies as st

import manhattan.proto.v1 as proto_v1

F = FieldDescriptor
_INT_RANGES = {
    F.TYPE_INT32: (-2**31, 2**31 - 1), F.TYPE_SINT32: (-2**31, 2**31 - 1),
    F.TYPE_SFIXED32: (-2**31, 2**31 - 1), F.TYPE_INT64: (-2**63, 2**63 - 1),
    F.TYPE_SINT64: (-2**63, 2**63 - 1), F.TYPE_SFIXED64: (-2**63, 2**63 - 1),
    F.TYPE_UINT32: (0, 2**32 - 1), F.TYPE_FIXED32: (0, 2**32 - 1),
    F.TYPE_UINT64: (0, 2**64 - 1), F.TYPE_FIXED64: (0, 2**64 - 1),
}
HUGE = 2 * 1024 * 1024


@dataclass(frozen=True)
class Rpc:
    """One method of one service, from the descriptors."""

    service: str
    method: MethodDescriptor

    @property
    def path(self) -> str:
        """The gRPC method path."""
        return f"/{self.service}/{self.method.name}"

    @property
    def streaming(self) -> bool:
        """Whether either side streams."""
        return self.method.client_streaming or self.method.server_streaming

    def __str__(self) -> str:
        return f"{self.service.rsplit('.', 1)[-1]}.{self.method.name}"


def every_rpc() -> list[Rpc]:
    """Every method of every service of the wire contract, new services included."""
    rpcs = []
    for info in pkgutil.iter_modules(proto_v1.__path__):
        if not info.name.endswith("_pb2"):
            continue
        module = importlib.import_module(f"manhattan.proto.v1.{info.name}")
        for service in module.DESCRIPTOR.services_by_name.values():
            rpcs += [Rpc(service.full_name, m) for m in service.methods]
    return sorted(rpcs, key=str)


def _ints(kind: int) -> st.SearchStrategy[int]:
    low, high = _INT_RANGES[kind]
    return st.one_of(st.sampled_from(sorted({low, high, 0, 1, -1 if low < 0 else 2,
                                             2**31 - 1, 2**32 - 1 if high >= 2**32 else 7})),
                     st.integers(low, high))


def _text(pool: Sequence[str]) -> st.SearchStrategy[str]:
    extremes = st.sampled_from(["", "\x00", "a\x00b", "x" * 70_000, "é" * 100, "../../etc",
                                "*admin*", "\U0010ffff"])
    choices = [st.text(max_size=40), extremes]
    if pool:
        choices.append(st.sampled_from(list(pool)))
    return st.one_of(*choices)


def _bytes(pool: Sequence[bytes]) -> st.SearchStrategy[bytes]:
    extremes = st.sampled_from([b"", b"\x00", b"\xff" * 8, b"k" * 5000, b"v" * (HUGE + 1)])
    choices = [st.binary(max_size=64), extremes]
    if pool:
        choices.append(st.sampled_from(list(pool)))
    return st.one_of(*choices)


def _scalar(field: FieldDescriptor, pools: dict[str, Sequence]) -> st.SearchStrategy:
    pool = pools.get(field.name, ())
    kind = field.type
    if kind == F.TYPE_STRING:
        return _text(pool)
    if kind == F.TYPE_BYTES:
        return _bytes(pool)
    if kind == F.TYPE_BOOL:
        return st.booleans()
    if kind in (F.TYPE_DOUBLE, F.TYPE_FLOAT):
        return st.floats(allow_nan=True, allow_infinity=True, width=64 if kind == F.TYPE_DOUBLE
                         else 32)
    if kind == F.TYPE_ENUM:  # known values and unknown ones (open enums keep them)
        known = [v.number for v in field.enum_type.values]
        return st.one_of(st.sampled_from(known), st.integers(-2**31, 2**31 - 1))
    return _ints(kind)


def messages(descriptor: Descriptor, pools: dict[str, Sequence], depth: int = 0
             ) -> st.SearchStrategy[Message]:
    """Messages of ``descriptor`` with every field set or left unset at random."""
    cls = GetMessageClass(descriptor)

    @st.composite
    def build(draw) -> Message:
        message = cls()
        for field in descriptor.fields:
            if not draw(st.booleans()):
                continue  # missing field
            if field.type == F.TYPE_MESSAGE:
                if field.message_type.GetOptions().map_entry:
                    key_f, value_f = field.message_type.fields
                    if value_f.type == F.TYPE_MESSAGE:
                        continue
                    entries = draw(st.dictionaries(_scalar(key_f, pools), _scalar(value_f, pools),
                                                   max_size=3))
                    getattr(message, field.name).update(entries)
                    continue
                if depth >= 3:
                    continue
                sub = messages(field.message_type, pools, depth + 1)
                if field.is_repeated:
                    getattr(message, field.name).extend(draw(st.lists(sub, max_size=4)))
                else:
                    getattr(message, field.name).CopyFrom(draw(sub))
                continue
            values = _scalar(field, pools)
            if field.is_repeated:
                getattr(message, field.name).extend(draw(st.lists(values, max_size=4)))
            else:
                setattr(message, field.name, draw(values))
        return message

    return build()


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def corrupted(descriptor: Descriptor) -> st.SearchStrategy[bytes]:
    """Wire bytes a well-behaved client could not send: invalid UTF-8 in a string
    field, a field of the wrong wire type, a truncated varint, or random bytes."""
    strings = [f.number for f in descriptor.fields if f.type == F.TYPE_STRING]
    numbers = [f.number for f in descriptor.fields] or [1]
    options = [
        st.binary(max_size=256),
        st.sampled_from(numbers).map(lambda n: _varint(n << 3 | 2) + b"\x05" + b"\xff\xfe\x00\xc3("),
        st.sampled_from(numbers).map(lambda n: _varint(n << 3 | 0) + b"\xff\xff\xff"),
        st.sampled_from(numbers).map(lambda n: _varint(n << 3 | 2) + _varint(2**40)),
        st.just(b"\x80" * 20),
    ]
    if strings:
        options.append(st.sampled_from(strings).map(
            lambda n: _varint(n << 3 | 2) + b"\x04" + b"\x80\x80\xff\xfe"))
    return st.one_of(*options)


def request_bytes(rpc: Rpc, pools: dict[str, Sequence]) -> st.SearchStrategy[bytes]:
    """Serialized requests of ``rpc``: mostly well-formed messages, some corrupted."""
    valid = messages(rpc.method.input_type, pools).map(lambda m: m.SerializeToString())
    return st.one_of(valid, valid, valid, corrupted(rpc.method.input_type))
