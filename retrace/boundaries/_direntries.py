"""``os.scandir``'s and ``os.listdir``'s answers while retrace runs, for the files family.

A directory read is recorded at once, packed into one bytes value, and handed out
as entries of our own ``DirEntry`` class (the same surface as ``os.DirEntry``), whose
``stat()`` goes through the ``os.stat`` leaf.
"""

from __future__ import annotations

import os as _os
import struct
from types import GenericAlias

# A directory read is packed into one bytes value (nothing to encode on the hot
# path, and undecodable names survive): entry count, one flag byte per entry,
# the inodes, then the names joined by NUL (which no file name contains).
_IS_DIR, _IS_FILE, _IS_SYMLINK = 1, 2, 4  # is_dir()/is_file() follow symlinks
_COUNT = struct.Struct("<I")


def _entry_bits(entry) -> int:
    bits = _IS_SYMLINK if entry.is_symlink() else 0
    for test, bit in ((entry.is_dir, _IS_DIR), (entry.is_file, _IS_FILE)):
        try:
            if test():
                bits |= bit
        except OSError:  # a symlink that cannot be followed (loop, no permission)
            pass
    return bits


def pack_names(names, as_bytes: bool) -> bytes:
    if as_bytes:
        return b"\0".join(names)
    return "\0".join(names).encode("utf-8", "surrogateescape")


def unpack_names(blob: bytes, count: int, as_bytes: bool) -> list:
    if not count:
        return []
    return blob.split(b"\0") if as_bytes else blob.decode("utf-8", "surrogateescape").split("\0")


def scan(real_scandir, *args, **kwargs) -> bytes:
    """Recording only: read every entry and what DirEntry can tell of it."""
    with real_scandir(*args, **kwargs) as iterator:
        entries = list(iterator)
    count = len(entries)
    names = [entry.name for entry in entries]
    try:
        flags = bytes([(_IS_SYMLINK if e.is_symlink() else 0) | (_IS_DIR if e.is_dir() else 0)
                       | (_IS_FILE if e.is_file() else 0) for e in entries])
    except OSError:
        flags = bytes([_entry_bits(entry) for entry in entries])
    inodes = struct.pack(f"<{count}Q", *[entry.inode() for entry in entries])
    return _COUNT.pack(count) + flags + inodes + pack_names(names, count and type(names[0]) is bytes)


class DirEntry:
    """What ``os.scandir`` yields while retrace runs (same surface as os.DirEntry)."""

    __slots__ = ("name", "_prefix", "_dir_fd", "_ino", "_bits", "_stat", "_lstat")

    def __init__(self, name, prefix, dir_fd, ino, bits) -> None:
        self.name = name
        self._prefix = prefix
        self._dir_fd = dir_fd
        self._ino = ino
        self._bits = bits
        self._stat = None
        self._lstat = None

    @property
    def path(self):
        return self.name if self._prefix is None else self._prefix + self.name

    def inode(self) -> int:
        return self._ino

    def is_dir(self, *, follow_symlinks=True) -> bool:
        bits = self._bits
        return bool(bits & _IS_DIR) and (follow_symlinks or not bits & _IS_SYMLINK)

    def is_file(self, *, follow_symlinks=True) -> bool:
        bits = self._bits
        return bool(bits & _IS_FILE) and (follow_symlinks or not bits & _IS_SYMLINK)

    def is_symlink(self) -> bool:
        return bool(self._bits & _IS_SYMLINK)

    def _fetch(self, follow_symlinks):
        if self._dir_fd is None:
            return _os.stat(self.path, follow_symlinks=follow_symlinks)
        return _os.stat(self.name, dir_fd=self._dir_fd, follow_symlinks=follow_symlinks)

    def stat(self, *, follow_symlinks=True):
        if follow_symlinks and self._bits & _IS_SYMLINK:
            if self._stat is None:
                self._stat = self._fetch(True)
            return self._stat
        if self._lstat is None:
            self._lstat = self._fetch(False)
        return self._lstat

    def __fspath__(self):
        return self.path

    def __repr__(self) -> str:
        return f"<DirEntry {self.name!r}>"

    __class_getitem__ = classmethod(GenericAlias)


class ScandirIterator:
    """The iterator ``os.scandir`` returns while retrace runs (also a context manager)."""

    __slots__ = ("_names", "_inodes", "_flags", "_next", "_prefix", "_dir_fd", "__weakref__")

    def __init__(self, top, packed: bytes) -> None:
        self._dir_fd = None
        as_bytes = False
        if top is None:
            self._prefix = "./"
        elif type(top) is int:
            self._prefix = None
            self._dir_fd = top
        else:
            top = _os.fspath(top)
            as_bytes = type(top) is bytes
            sep = b"/" if as_bytes else "/"
            self._prefix = top if top.endswith(sep) or not top else top + sep
        count = _COUNT.unpack_from(packed)[0]
        start = _COUNT.size
        self._flags = packed[start:start + count]
        self._inodes = struct.unpack_from(f"<{count}Q", packed, start + count)
        self._names = unpack_names(packed[start + 9 * count:], count, as_bytes)
        self._next = 0

    def __iter__(self):
        return self

    def __next__(self) -> DirEntry:
        index = self._next
        if index >= len(self._names):
            raise StopIteration
        self._next = index + 1
        return DirEntry(self._names[index], self._prefix, self._dir_fd, self._inodes[index],
                        self._flags[index])

    def close(self) -> None:
        self._next = len(self._names)

    def __enter__(self):
        return self

    def __exit__(self, *exc_info) -> bool:
        self.close()
        return False
