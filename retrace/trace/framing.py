"""Chunk framing: length + CRC-32 around each CBOR payload (pure, no I/O policy).

The CRC lets a reader tell a torn tail (the process died mid-write) from a
complete chunk, so everything before the tear stays usable.

What counts as a torn tail (the recording was cut short, readers keep what
precedes it) and what as corruption (damage inside the file):
- fewer than 8 bytes left, or a chunk whose length runs past the end: torn;
- a checksum mismatch in the *last* chunk: torn (the data never reached the disk);
- zeros to the end of the file (a crash after the file grew): torn;
- a checksum mismatch or an empty chunk with more data after it: ``FrameCorrupt``.
"""

from __future__ import annotations

import struct
import zlib

from retrace.trace.format import FRAME_HEADER_SIZE

_HEADER = struct.Struct("<II")


class FrameCorrupt(ValueError):
    """A damaged chunk with data after it: not a torn tail."""

    def __init__(self, offset: int, reason: str) -> None:
        super().__init__(f"{reason} at byte {offset}")
        self.offset = offset
        self.reason = reason


def frame(payload: bytes) -> bytes:
    return _HEADER.pack(len(payload), zlib.crc32(payload)) + payload


def split_frames(data: bytes, offset: int = 0):
    """Yield ``(offset, payload)`` for each complete chunk in ``data``.

    Stops quietly at a torn tail and reports where via ``StopIteration``'s
    value: ``(offset_of_tear, reason)``, or ``None`` if the data ends exactly on
    a chunk boundary. Raises ``FrameCorrupt`` at a damaged chunk in the middle.
    """
    end = len(data)
    while offset < end:
        if end - offset < FRAME_HEADER_SIZE:
            return (offset, "partial chunk header")
        length, crc = _HEADER.unpack_from(data, offset)
        start = offset + FRAME_HEADER_SIZE
        if length == 0:  # never written: a zero-filled tail, or damage
            if data.count(0, offset) == end - offset:
                return (offset, "zero-filled tail")
            raise FrameCorrupt(offset, "empty chunk")
        if end - start < length:
            return (offset, "partial chunk")
        payload = data[start:start + length]
        if zlib.crc32(payload) != crc:
            if start + length == end:
                return (offset, "checksum mismatch in the last chunk")
            raise FrameCorrupt(offset, "checksum mismatch")
        yield offset, payload
        offset = start + length
    return None
