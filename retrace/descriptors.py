"""Descriptor numbers: the program's are exactly as without retrace; ours stay out of the way.

A new descriptor takes the lowest free number, so one retrace holds open at a low number
(the trace file) would shift every number the program gets, and code that shows or
keys on them would differ from a plain run. Retrace's long-lived descriptors are
therefore moved above the range programs use (``move_up``).

On replay a file is opened in the trace only: the program gets the recorded number
(``fileno()``) but nothing is open there. C code that does I/O on ``fileno()`` itself
(Pillow encoding straight into the descriptor, a library ``fdopen``ing it) would then hit
EBADF, or a descriptor of the replay's own. ``hold`` puts a stand-in there: ``/dev/null``
opened for writing only, so the C code's writes go nowhere (replay never writes files)
and a C read fails loudly instead of reading something else.
"""

from __future__ import annotations

import posix

_FLOOR = 1000  # ours start here (or as high as the descriptor limit lets them)
_held: set[int] = set()
_sink = -1


def move_up(fd: int) -> int:
    """``fd`` moved to a free number at or above the floor (close-on-exec), or left where
    it is when the descriptor limit has no room; the number it now has. (With dup2, not
    fcntl: the program's modules must be the same in both modes, and fcntl is one.)"""
    for floor in (_FLOOR, 256, 64):
        for target in range(floor, floor + 64):
            try:
                posix.fstat(target)
            except OSError:
                break  # free (EBADF), or beyond the limit: dup2 says which
        else:
            continue  # (all taken: dup2 would close one of them)
        try:
            posix.dup2(fd, target, inheritable=False)
        except OSError:
            continue
        posix.close(fd)
        return target
    return fd


def hold(fd: int) -> bool:
    """Replay: make ``fd`` a real descriptor (our write-only ``/dev/null``) if nothing has
    that number; True if it is ours now."""
    global _sink
    if fd in _held:
        return True
    if fd < 3:
        return False
    try:
        posix.fstat(fd)
        return False  # taken (by the replay's own terminal, or already in use)
    except OSError:
        pass
    try:
        if _sink < 0:
            _sink = move_up(posix.open("/dev/null", posix.O_WRONLY | posix.O_CLOEXEC))
        posix.dup2(_sink, fd, inheritable=False)
    except OSError:
        return False
    _held.add(fd)
    return True


def release(fd: int) -> None:
    """Replay: the program closed the file that had ``fd``: our stand-in goes too."""
    if fd in _held:
        _held.discard(fd)
        try:
            posix.close(fd)
        except OSError:
            pass
