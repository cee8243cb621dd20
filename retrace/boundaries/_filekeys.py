"""The files family's keys and packed values: how a file call's arguments and results cross.

A key names the arguments that matter for the replay fingerprint, cheaply and
without ever raising (a path, a descriptor, a size: never the bytes written). A
stat result is packed into bytes, so that the hot path encodes nothing.
"""

from __future__ import annotations

import os as _os
import struct

_PLAIN = frozenset({str, bytes, int, bool, float, type(None)})


def norm(value):
    kind = type(value)
    if kind in _PLAIN:
        return value
    fspath = getattr(kind, "__fspath__", None)
    if fspath is not None:
        try:
            return fspath(value)
        except Exception:
            return kind.__name__
    try:
        return memoryview(value).nbytes
    except TypeError:
        pass
    try:
        return len(value)
    except Exception:
        return kind.__name__


def key_args(*args, **kwargs):
    normal = tuple(map(norm, args))
    if kwargs:
        return normal, tuple((name, norm(value)) for name, value in kwargs.items())
    return normal


def key_path(*args, **kwargs):
    if len(args) == 1 and not kwargs and type(args[0]) is str:
        return args[0]
    return key_args(*args, **kwargs)


def key_ints(*args, **kwargs):
    if kwargs:
        return key_args(*args, **kwargs)
    for arg in args:
        if type(arg) is not int:
            return key_args(*args)
    return args


def key_fd_data(*args, **kwargs):
    """os.write(fd, data) and friends: the descriptor and the size, not the bytes."""
    if len(args) >= 2 and type(args[0]) is int and not kwargs:
        try:
            return (args[0], memoryview(args[1]).nbytes, *map(norm, args[2:]))
        except TypeError:
            pass
    return key_args(*args, **kwargs)


def key_fd_buffers(*args, **kwargs):
    """os.readv/writev(fd, buffers, ...): the descriptor and each buffer's size."""
    try:
        sizes = tuple(memoryview(b).nbytes for b in args[1])
        return (norm(args[0]), sizes, *map(norm, args[2:])), tuple(kwargs.items())
    except Exception:
        return key_args(*args, **kwargs)


# -- stat results: packed into bytes (no encoding on the hot path) -----------------
_STAT = struct.Struct("<QQQQQQqqqqqqQ")


def store_stat(st, args, kwargs):
    try:
        return _STAT.pack(st.st_mode, st.st_ino, st.st_dev, st.st_nlink, st.st_uid, st.st_gid,
                          st.st_size, st.st_atime_ns, st.st_mtime_ns, st.st_ctime_ns,
                          st.st_blksize, st.st_blocks, st.st_rdev)
    except (struct.error, AttributeError, TypeError):
        return st  # out of range for the packed form: kept as a structseq


def _time_fields(ns):
    sec, nsec = divmod(ns, 1_000_000_000)
    return sec, sec + nsec * 1e-9


def load_stat(stored, args, kwargs):
    if type(stored) is not bytes:
        return stored
    mode, ino, dev, nlink, uid, gid, size, atime_ns, mtime_ns, ctime_ns, blksize, blocks, rdev = \
        _STAT.unpack(stored)
    atime, fatime = _time_fields(atime_ns)
    mtime, fmtime = _time_fields(mtime_ns)
    ctime, fctime = _time_fields(ctime_ns)
    return _os.stat_result(
        (mode, ino, dev, nlink, uid, gid, size, atime, mtime, ctime),
        {"st_atime": fatime, "st_mtime": fmtime, "st_ctime": fctime, "st_atime_ns": atime_ns,
         "st_mtime_ns": mtime_ns, "st_ctime_ns": ctime_ns, "st_blksize": blksize,
         "st_blocks": blocks, "st_rdev": rdev},
    )
