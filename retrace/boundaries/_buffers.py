"""Out-parameter reads into several buffers (``readv``, ``recvmsg_into``): what the
recording keeps of them (the bytes read, joined) and how replay puts them back."""

from __future__ import annotations


def gather(buffers, count: int) -> bytes:
    """The first ``count`` bytes that a read left across ``buffers``."""
    parts = []
    left = count
    for buffer in buffers:
        if left <= 0:
            break
        part = memoryview(buffer).cast("B")[:left].tobytes()
        parts.append(part)
        left -= len(part)
    return b"".join(parts)


def scatter(data, buffers) -> None:
    """Copy ``data`` across ``buffers`` in order, as the read did."""
    view = memoryview(data)
    for buffer in buffers:
        if not view:
            break
        target = memoryview(buffer).cast("B")
        part = view[:len(target)]
        target[:len(part)] = part
        view = view[len(part):]
