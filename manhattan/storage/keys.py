"""The storage-key layout and scan cursors.

Storage key = ring position of the pkey (4 bytes, big-endian) | pkey length
(2 bytes, big-endian) | pkey | lkey. Records of one pkey are contiguous and
sorted by lkey; records of one ring arc are one contiguous key range, so
streaming, hashing and deleting an arc are range operations.

The ring position is uhashring's ketama hash, the same one the cluster ring
places keys with, applied to the pkey read as latin-1 (a bijection of bytes).
"""

from __future__ import annotations

import functools
import struct
from hashlib import md5

MAX_PKEY_BYTES = 0xFFFF
POSITION_BYTES = 4
_PREFIX = struct.Struct(">IH")
_CURSOR_V1 = b"\x01"

@functools.lru_cache(maxsize=1 << 16)
def ring_position(pkey: bytes) -> int:
    """The pkey's position on the consistent-hash ring (32-bit ketama).

    Exactly uhashring's ketama ``hashi(pkey.decode("latin-1"))`` (the first four bytes of the md5
    of the key's UTF-8 form, little-endian), computed without uhashring's generic
    dispatch and remembered for the hottest 65,536 pkeys: every request, replica
    write and batch split hashes its pkeys, and a hot user's pkey comes back often."""
    return int.from_bytes(md5(pkey.decode("latin-1").encode()).digest()[:4], "little")


def pkey_prefix(pkey: bytes) -> bytes:
    """The storage-key prefix shared by every record of ``pkey``."""
    return _PREFIX.pack(ring_position(pkey), len(pkey)) + pkey


def storage_key(pkey: bytes, lkey: bytes) -> bytes:
    """The full storage key of (pkey, lkey)."""
    return pkey_prefix(pkey) + lkey


def split_storage_key(key: bytes) -> tuple[int, bytes, bytes]:
    """(ring position, pkey, lkey) of a storage key."""
    position, length = _PREFIX.unpack_from(key)
    start = _PREFIX.size
    return position, key[start:start + length], key[start + length:]


def position_key(position: int) -> bytes:
    """The first storage key at a ring position (for range operations)."""
    return position.to_bytes(POSITION_BYTES, "big")


def successor(prefix: bytes) -> bytes | None:
    """The smallest key greater than every key that starts with ``prefix``."""
    stripped = prefix.rstrip(b"\xff")
    if not stripped:
        return None
    return stripped[:-1] + bytes([stripped[-1] + 1])


def encode_cursor(last_lkey: bytes) -> bytes:
    """An opaque cursor that resumes a scan right after ``last_lkey``."""
    return _CURSOR_V1 + last_lkey


def decode_cursor(cursor: bytes) -> bytes:
    """The lkey a cursor resumes after; ValueError if it is not one of ours."""
    if not cursor.startswith(_CURSOR_V1):
        raise ValueError("cursor is malformed (not returned by a previous scan)")
    return cursor[len(_CURSOR_V1):]
