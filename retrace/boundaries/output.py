"""Output: ``sys.stdout`` and ``sys.stderr``, built as when recorded, written in the tree's order.

At install both streams (and ``sys.__stdout__``/``sys.__stderr__``) are rebuilt as the
interpreter built them when recording -- encoding, errors, line buffering,
write-through, buffer size, unbuffered under ``-u``: one recorded fact per stream --
over ``StreamRaw``, a raw stream whose ``isatty()`` answers as recorded. A replay
into a pipe then buffers and flushes where a recording on a terminal did, and a
program that colours its output for a terminal does so on replay too.

Writes go to descriptor 1 or 2 for real in both modes (output is what replay shows).
``StreamRaw.write`` is the engine's output order (engine/outputorder.py): for a
process alone, ``posix.write`` itself (no Python frame, nothing added); for a
process of a tree, a write in the tree's recorded order. ``os.write``/``os.writev``
to 1 or 2 (files.py) go the same way.
"""

from __future__ import annotations

import _io
import posix
import sys
from functools import partial

from retrace.boundaries.spec import Family, Leaf, OnImport

_RawIOBase = _io._RawIOBase
_BufferedWriter = _io.BufferedWriter
_TextIOWrapper = _io.TextIOWrapper
_DEFAULT_BUFFER_SIZE = _io.DEFAULT_BUFFER_SIZE
_CLOSED = "I/O operation on closed file"

# The interpreter's own stream objects, kept alive (retrace's own messages may still
# use them; their FileIO never closes the descriptor anyway).
_originals: list = []
_NAMES = {1: "stdout", 2: "stderr"}


class StreamRaw(_RawIOBase):
    """Descriptor 1 or 2 as the raw layer of sys.stdout or sys.stderr. ``write`` is an
    instance attribute the output order points where it must (a C function when it can)."""

    def __init__(self, fd: int, isatty: bool, write) -> None:
        super().__init__()
        self._fd = fd
        self._isatty = isatty
        self.name = f"<{_NAMES[fd]}>"
        self.write = write

    mode = "wb"
    closefd = False

    def writable(self) -> bool:
        return True

    def fileno(self) -> int:
        if self.closed:
            raise ValueError(_CLOSED)
        return self._fd

    def isatty(self) -> bool:
        if self.closed:
            raise ValueError(_CLOSED)
        return self._isatty

    def __repr__(self) -> str:
        return f"<_io.FileIO name={self.name!r} mode='wb' closefd=False>"


# As the interpreter's raw stdout shows itself (``type(sys.stdout.buffer.raw).__name__``).
StreamRaw.__name__ = StreamRaw.__qualname__ = "FileIO"
StreamRaw.__module__ = "_io"


def _stream_facts():
    """How the interpreter set up stdout and stderr: per stream, None when it has none."""
    facts = []
    for fd, stream in ((1, sys.stdout), (2, sys.stderr)):
        raw = getattr(getattr(stream, "buffer", None), "raw", getattr(stream, "buffer", None))
        if stream is None or type(raw) is not _io.FileIO or raw.closed or raw.fileno() != fd:
            facts.append(None)  # (none, or one the program's start-up replaced: left alone)
            continue
        buffered = type(stream.buffer) is _BufferedWriter
        blksize = getattr(raw, "_blksize", 0)
        try:
            isatty = raw.isatty()
        except (OSError, ValueError):
            isatty = False
        facts.append((stream.encoding, stream.errors, bool(stream.line_buffering), bool(stream.write_through),
                      buffered, blksize if isinstance(blksize, int) and blksize > 1 else _DEFAULT_BUFFER_SIZE,
                      bool(isatty)))
    return facts


def _replace_streams(engine, sys_module) -> None:
    facts = engine.leaf("sys.stdout.setup", _stream_facts)()
    order = engine.output
    for fd, fact in zip((1, 2), facts):
        name = _NAMES[fd]
        original = getattr(sys_module, name)
        if fact is None or original is None:
            continue
        encoding, errors, line_buffering, write_through, buffered, buffer_size, isatty = fact
        try:
            original.flush()
        except Exception:
            pass
        raw = StreamRaw(fd, isatty, partial(posix.write, fd))
        order.serve(raw)
        layer = _BufferedWriter(raw, buffer_size) if buffered else raw
        text = _TextIOWrapper(layer, encoding, errors, "\n", line_buffering, write_through)
        text.mode = "w"
        _originals.append((original, getattr(sys_module, f"__{name}__")))
        setattr(sys_module, name, text)
        if getattr(sys_module, f"__{name}__") is original:
            setattr(sys_module, f"__{name}__", text)


FAMILY = Family(
    name="output",
    doc=__doc__,
    on_import=(
        OnImport("sys", _replace_streams, why="stdout and stderr are built as recorded and written in the tree's order"),
    ),
    leaves=(
        Leaf("sys.stdout.setup", why="what stdout and stderr are: encodings, buffering, terminals"),
    ),
)
