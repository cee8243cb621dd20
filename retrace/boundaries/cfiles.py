"""Files read and written below Python: numpy's fromfile/tofile, lxml by path, mmap,
ast_serialize (mypy's parser) by path.

Such code reaches the world below Python -- libxml2 opens a path with its own
``open(2)``, numpy ``fdopen``s a duplicate of a file object's descriptor and
``fread``s -- so none of it passes our file leaves: a replay would find the file gone
(or write it again). Each replacement moves the bytes through Python instead: the
file is read (or written) with ``open`` and the file object's own methods, which are
boundaries (boundaries/files.py), and the C code is handed a ``MemoryFile`` of ours
holding exactly those bytes. The C code itself runs for real in both modes, so the
arrays and trees it makes, its errors and the bytes it writes are its own.
"""

from __future__ import annotations

import os
import posix

from retrace.boundaries.spec import Family, Patch, all_args, replacing
from retrace.engine.state import state, untraced

_PATHS = (str, bytes, os.PathLike)


class MemoryFile:
    """A real, anonymous file in memory (memfd) for C code that wants a descriptor or a
    path. Retrace's own: nothing done to it is recorded, in either mode."""

    __slots__ = ("fd",)

    def __init__(self, data: bytes = b"") -> None:
        with untraced():
            self.fd = posix.memfd_create("retrace", posix.MFD_CLOEXEC)
            view = memoryview(data)
            while view:
                view = view[posix.write(self.fd, view):]
            posix.lseek(self.fd, 0, os.SEEK_SET)

    @property
    def path(self) -> str:
        return f"/proc/self/fd/{self.fd}"

    def file(self, mode: str):
        with untraced():
            return open(self.fd, mode, closefd=False)

    def contents(self) -> bytes:
        with untraced():
            size = posix.fstat(self.fd).st_size
            chunks, offset = [], 0
            while offset < size:
                chunk = posix.pread(self.fd, size - offset, offset)
                if not chunk:
                    break
                chunks.append(chunk)
                offset += len(chunk)
            return b"".join(chunks)

    def close(self) -> None:
        with untraced():
            posix.close(self.fd)

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()
        return False


# -- numpy ---------------------------------------------------------------------------------
# fromfile/tofile (and np.load/np.save of .npy files, which call them on real file
# objects) dup the descriptor and use C stdio on it. The replacement reads what numpy
# would read, lets the real function work on a memory copy, and moves the file object
# to where numpy would have left it.

def _make_fromfile(engine, original, name):
    def fromfile(file, dtype=float, count=-1, sep="", offset=0, **like):
        binary = sep == ""
        if binary and count >= 0:
            import numpy

            wanted = offset + count * numpy.dtype(dtype).itemsize
        else:
            wanted = -1
        if isinstance(file, _PATHS):
            with open(file, "rb") as source:
                data, start = source.read(wanted), None
        else:
            file.flush()  # (as numpy does)
            start = file.tell()
            data = file.read(wanted)
        with MemoryFile(data) as memory, untraced():
            copy = memory.file("rb")
            with copy:
                array = original(copy, dtype, count, sep, offset, **like)
                used = copy.tell()
        if start is not None:
            file.seek(start + used)
        return array

    return replacing(fromfile, original)


def _make_tofile(engine, original, name):
    def tofile(self, fid, sep="", format="%s"):
        with MemoryFile() as memory:
            with untraced():
                with memory.file("wb") as copy:
                    original(self, copy, sep, format)
            data = memory.contents()
        if isinstance(fid, _PATHS):
            with open(fid, "wb") as target:
                target.write(data)
        else:
            fid.write(data)

    return replacing(tofile, original)


# -- lxml ----------------------------------------------------------------------------------
# Given a file name, libxml2 opens and reads (or writes) it in C; given a file object it
# goes through the object's methods. A name (not a URL: libxml2's own network access is
# not recorded) is read through open() and parsed from memory under the same name
# (``base_url``: docinfo.URL, error messages, relative references); a write to a name
# goes to a MemoryFile by its path, then to the file through open().

def _is_url(name) -> bool:
    scheme, separator, _ = os.fsdecode(os.fspath(name)).partition("://")
    return bool(separator) and scheme.replace("+", "").replace("-", "").replace(".", "").isalnum()


def _make_parse(engine, original, name):
    from io import BytesIO

    # A name that cannot be opened: lxml's own error for it, a leaf (replay raises it).
    unreadable = engine.leaf("lxml.etree.parse", original, key=all_args, depth=2)

    def parse(source, parser=None, *, base_url=None):
        if not isinstance(source, _PATHS) or _is_url(source):
            return original(source, parser, base_url=base_url)
        try:
            with open(source, "rb") as file:
                data = file.read()
        except OSError:
            return unreadable(source, parser, base_url=base_url)
        if data[:2] == b"\x1f\x8b":  # libxml2 reads gzip-compressed files by name
            import gzip

            data = gzip.decompress(data)
        url = os.fsdecode(os.fspath(source)) if base_url is None else base_url
        return original(BytesIO(data), parser, base_url=url)

    return replacing(parse, original)


def _make_write(engine, original, name):
    def write(self, file, **options):
        if not isinstance(file, _PATHS) or _is_url(file):
            return original(self, file, **options)
        with MemoryFile() as memory:
            original(self, memory.path, **options)
            data = memory.contents()
        with open(file, "wb") as target:
            target.write(data)

    return replacing(write, original)


# -- ast_serialize --------------------------------------------------------------------------
# mypy's native parser (Rust) reads the file it is given by name itself, unless it is given
# the source. The replacement reads the file through open() and gives the parser its bytes
# (the same trees, hashes and errors); a file that cannot be opened, or is not UTF-8, is
# left to the parser in a leaf, so its own error is recorded and replayed.

def _make_ast_parse(engine, original, name):
    unreadable = engine.leaf("ast_serialize.parse", original, key=all_args, depth=2)

    def parse(fnam, source=None, *args, **kwargs):
        if source is not None or type(fnam) is not str:
            return original(fnam, source, *args, **kwargs)
        try:
            with open(fnam, "rb") as file:
                data = file.read()
        except OSError:
            return unreadable(fnam, source, *args, **kwargs)
        try:
            return original(fnam, data, *args, **kwargs)
        except UnicodeDecodeError:  # (by name: the parser's own ValueError)
            return unreadable(fnam, source, *args, **kwargs)

    return replacing(parse, original)


# -- mmap -----------------------------------------------------------------------------------
# A mapping's reads are memory reads, below any call. So making the mapping of a file is
# the boundary: recording maps the file for real and stores what the mapping holds then;
# replay maps a MemoryFile holding those bytes (writes through it go nowhere). The class
# is a subclass of mmap's, under mmap's own name: its instances are real mappings
# (buffers for C code), ``isinstance`` and ``type(m) is mmap.mmap`` hold. Known limit: a
# file changed by another process while mapped (MAP_SHARED) reads as it was mapped.

def _make_mmap(engine, original, name):
    import mmap as mmap_module

    recording = engine.recording

    def contents(cls, fileno, length, args, kwargs, made):
        mapping = original.__new__(cls, fileno, length, *args, **kwargs)
        made.append(mapping)  # (for __new__ to return: the program gets the real mapping)
        prot = kwargs.get("prot", args[1] if len(args) > 1 else mmap_module.PROT_READ)
        readable = prot & mmap_module.PROT_READ or kwargs.get("access", 0) != 0
        return bytes(mapping) if readable else len(mapping)

    mapped = engine.leaf("mmap.mmap", contents, key=lambda cls, fileno, length, args, kwargs, made: (length, args),
                         depth=2)

    class mmap(original):
        __slots__ = ()

        def __new__(cls, fileno, length, *args, **kwargs):
            if fileno == -1 or state.busy:  # anonymous memory, or retrace's own
                return original.__new__(cls, fileno, length, *args, **kwargs)
            made: list = []
            held = mapped(cls, fileno, length, args, kwargs, made)
            if recording:
                return made[0]
            data = held if type(held) is bytes else bytes(held)
            with MemoryFile(data) as memory:
                kept = dict(kwargs)
                kept.pop("offset", None)
                return original.__new__(cls, memory.fd, len(data), *args[:3], **kept)

    mmap.__module__, mmap.__qualname__, mmap.__doc__ = original.__module__, original.__qualname__, original.__doc__
    mmap.__wrapped__ = original  # (mmap's own class: multiprocessing's arenas, interprocess.py)
    return mmap


FAMILY = Family(
    name="cfiles",
    doc=__doc__,
    patches=(
        Patch("numpy", "fromfile", why="numpy reads a file object's descriptor with C stdio", make=_make_fromfile),
        Patch("numpy", "ndarray.tofile", why="numpy writes a file object's descriptor with C stdio",
              make=_make_tofile),
        Patch("lxml.etree", "parse", why="libxml2 opens and reads a file by name in C", make=_make_parse),
        Patch("lxml.etree", "_ElementTree.write", why="libxml2 writes a file by name in C", make=_make_write),
        Patch("ast_serialize", "parse", why="mypy's Rust parser opens and reads a file by name",
              make=_make_ast_parse),
        Patch("mmap", "mmap", why="a mapped file's reads are memory reads", make=_make_mmap),
    ),
)
