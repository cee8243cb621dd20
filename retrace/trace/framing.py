"""Chunk framing: length + CRC-32 around each CBOR payload (pure, no I/O policy).

The CRC lets a reader tell a torn tail (the process died mid-write) from a
complete chunk, so everything before the tear stays usable.
"""

from __future__ import annotations

import struct
import zlib

from retrace.trace.format import FRAME_HEADER_SIZE

_HEADER = struct.Struct("<II")


def frame(payload: bytes) -> bytes:
    return _HEADER.pack(len(payload), zlib.crc32(payload)) + payload


def split_frames(data: bytes, offset: int = 0):
    """Yield ``(offset, payload)`` for each complete chunk in ``data``.

    Stops quietly at a short or checksum-failing chunk and reports where via
    ``StopIteration``'s value: ``(offset_of_tear, reason)`` or ``None`` if the
    data ends exactly on a chunk boundary.
    """
    end = len(data)
    while offset < end:
        if end - offset < FRAME_HEADER_SIZE:
            return (offset, "partial chunk header")
        length, crc = _HEADER.unpack_from(data, offset)
        start = offset + FRAME_HEADER_SIZE
        if end - start < length:
            return (offset, "partial chunk")
        payload = data[start:start + length]
        if zlib.crc32(payload) != crc:
            return (offset, "checksum mismatch")
        yield offset, payload
        offset = start + length
    return None
