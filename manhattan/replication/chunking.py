"""Cutting sequences into messages bounded in bytes as well as in count.

A gRPC message over ``limits.max_message_bytes`` does not fail alone: it ends
the whole stream it rides on, and with it every tenant's operations in flight
on that peer link. So whatever a node puts into one message (peer batches and
replies, hint replay, multi-get and scan answers) is cut here first, and an
item that cannot fit any message is refused up front rather than sent.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TypeVar

from google.protobuf.message import Message

T = TypeVar("T")

# Room a message keeps for its own framing, ids and metadata besides its items.
MESSAGE_HEADROOM = 64 * 1024
# What one repeated protobuf field element costs beyond its payload: tag + length.
FIELD_OVERHEAD = 8
# Anti-entropy and range-streaming chunks stop once past this size (so they hold at most
# this plus one record); limits.max_message_bytes is checked to hold that.
STREAM_CHUNK_BYTES = 8 << 20


class ItemTooLarge(ValueError):
    """One item is larger than a whole message may be."""

    def __init__(self, size: int, max_bytes: int) -> None:
        super().__init__(f"an item of {size} bytes cannot fit a message of at most "
                         f"{max_bytes} bytes")
        self.size = size
        self.max_bytes = max_bytes


def message_budget(max_message_bytes: int) -> int:
    """Payload bytes one message may carry under the gRPC limit ``max_message_bytes``."""
    return max(max_message_bytes - MESSAGE_HEADROOM, max_message_bytes // 2)


def proto_size(message: Message) -> int:
    """Bytes ``message`` adds as an element of a repeated field."""
    return message.ByteSize() + FIELD_OVERHEAD


def chunk_by_bytes(items: Iterable[T], size: Callable[[T], int], max_bytes: int,
                   max_count: int | None = None) -> Iterator[list[T]]:
    """Consecutive chunks of ``items``, each of at most ``max_bytes`` (by ``size``) and
    ``max_count`` items, in order; raises ItemTooLarge at an item over ``max_bytes``
    (the chunks before it have been yielded)."""
    if max_bytes <= 0 or (max_count is not None and max_count <= 0):
        raise ValueError("max_bytes and max_count must be positive")
    chunk: list[T] = []
    total = 0
    for item in items:
        n = size(item)
        if n > max_bytes:
            raise ItemTooLarge(n, max_bytes)
        if chunk and (total + n > max_bytes or len(chunk) == max_count):
            yield chunk
            chunk, total = [], 0
        chunk.append(item)
        total += n
    if chunk:
        yield chunk


def fitting_prefix(sizes: Sequence[int], max_bytes: int) -> int:
    """How many leading items fit ``max_bytes`` together; at least one (so a reader
    always makes progress; the caller bounds single items elsewhere)."""
    total = 0
    for count, n in enumerate(sizes):
        total += n
        if total > max_bytes and count:
            return count
    return len(sizes)
