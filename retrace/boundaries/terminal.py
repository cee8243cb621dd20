"""Terminal input: ``sys.stdin`` (and ``sys.__stdin__``) reads, and ``input()``.

At install, ``sys.stdin`` and ``sys.__stdin__`` become a ``TextIOWrapper`` with
the interpreter's own encoding, errors, newline, line buffering and buffer size
(recorded facts: replay may run with another locale or stdin), over a
``BufferedReader`` over ``StdinRaw``. The raw object's ``readinto``, ``readall``,
``readline``, ``isatty``, ``fileno``, ``seekable``, ``tell`` and ``seek`` are
leaves: recording calls them on a ``FileIO`` for fd 0 that never closes fd 0;
replay never touches fd 0 and copies the recorded bytes into the caller's buffer.
Buffering, decoding and newline handling run for real above the raw layer in both
modes, so ``input()``, ``sys.stdin.read()``, ``sys.stdin.buffer.read()`` and
``for line in sys.stdin`` all replay, whatever stdin the replay is given.

``input()`` reads a terminal through GNU readline in C, past ``sys.stdin``, where
replay cannot see it; it is replaced by the non-interactive path of CPython's
``input()`` written in Python (prompt to ``sys.stdout``, flush, one line from
``sys.stdin``). Line editing and history in a terminal are lost while recording.

The leaves are instance attributes bound to the real ``FileIO``'s C methods, so a
recorded exception (EOF, EAGAIN, KeyboardInterrupt in a read) shows the same
traceback frames in record and replay; ``input`` is compiled under the pseudo-file
``<retrace input>`` so uncaught tracebacks drop its frame as they drop wrappers'.
"""

from __future__ import annotations

import _io
import sys

from retrace.boundaries.spec import Family, Leaf, OnImport, Patch, all_args
from retrace.engine import templates

_FileIO = _io.FileIO
_BufferedReader = _io.BufferedReader
_TextIOWrapper = _io.TextIOWrapper
_RawIOBase = _io._RawIOBase
_UnsupportedOperation = _io.UnsupportedOperation
_DEFAULT_BUFFER_SIZE = _io.DEFAULT_BUFFER_SIZE

# The interpreter's own stdin objects, kept alive (their FileIO has closefd=False,
# but a std stream's finaliser is still best left for interpreter shutdown).
_originals: list = []


# -- out-parameter helpers --------------------------------------------------------
def _buffer_size(buffer, *args, **kwargs):
    return memoryview(buffer).nbytes


def _keep_bytes(result, args, kwargs):
    if result is None:  # non-blocking fd with nothing to read
        return None
    return bytes(memoryview(args[0]).cast("B")[:result])


def _copy_into(stored, args, kwargs):
    if stored is None:
        return None
    size = len(stored)
    memoryview(args[0]).cast("B")[:size] = stored
    return size


# -- what replay's leaves would call if a boundary were passed through -------------
# (only while retrace's own machinery runs: then stdin looks empty and not a tty).
# Each is named after the FileIO method it stands for: a wrapper takes its frame's
# name from its call, and tracebacks must read the same in record and replay.
def _stand_in(name, result=None, error=False):
    def stand_in(*args):
        if error:
            raise _UnsupportedOperation("stdin is not available during replay")
        return result

    stand_in.__name__ = name
    stand_in.__qualname__ = f"FileIO.{name}"
    return stand_in


class StdinRaw(_RawIOBase):
    """fd 0 as a raw stream whose reads are leaves (the same class in both modes)."""

    name = "<stdin>"
    mode = "rb"
    closefd = False

    def __init__(self, engine, real, blksize: int) -> None:
        super().__init__()
        self._blksize = blksize  # as FileIO has it: what open() sized the buffer by
        self._real = real  # FileIO(0, closefd=False) when recording; None in replay
        recording = real is not None
        leaf = engine.leaf

        def pick(method, result=None, error=False):
            return getattr(real, method) if recording else _stand_in(method, result, error)

        self.readinto = leaf("sys.stdin.readinto", pick("readinto", 0),
                             key=_buffer_size, store=_keep_bytes, load=_copy_into)
        self.readall = leaf("sys.stdin.readall", pick("readall", b""))
        self.readline = leaf("sys.stdin.readline", pick("readline", b""), key=all_args)
        self.isatty = leaf("sys.stdin.isatty", pick("isatty", False))
        self.fileno = leaf("sys.stdin.fileno", pick("fileno", error=True))
        self.seekable = leaf("sys.stdin.seekable", pick("seekable", False))
        self.tell = leaf("sys.stdin.tell", pick("tell", error=True))
        self.seek = leaf("sys.stdin.seek", pick("seek", error=True), key=all_args)

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        # Closing sys.stdin marks it closed; fd 0 itself stays open (closefd=False),
        # and a read on the closed real FileIO raises, recorded like any result.
        if self._real is not None:
            self._real.close()
        super().close()

    def __repr__(self) -> str:
        return "<StdinRaw name='<stdin>' mode='rb' closefd=False>"


def _stdin_facts():
    """How the interpreter set up stdin: None when it has none (fd 0 closed)."""
    stdin = sys.stdin
    if stdin is None:
        return None
    try:
        _FileIO(0, "rb", closefd=False).close()
    except (OSError, ValueError):
        return None
    raw = getattr(getattr(stdin, "buffer", None), "raw", None)
    blksize = getattr(raw, "_blksize", 0)
    return (
        getattr(stdin, "encoding", None) or "utf-8",
        getattr(stdin, "errors", None) or "strict",
        bool(getattr(stdin, "line_buffering", False)),
        bool(getattr(stdin, "write_through", False)),
        blksize if isinstance(blksize, int) and blksize > 1 else _DEFAULT_BUFFER_SIZE,
    )


def _replace_stdin(engine, sys_module) -> None:
    facts = engine.leaf("sys.stdin.setup", _stdin_facts)()
    if facts is None:  # the recorded process had no stdin: neither has its replay
        _originals.append((sys_module.stdin, sys_module.__stdin__))
        sys_module.stdin = sys_module.__stdin__ = None
        return
    encoding, errors, line_buffering, write_through, buffer_size = facts
    real = _FileIO(0, "rb", closefd=False) if engine.recording else None
    raw = StdinRaw(engine, real, buffer_size)
    buffered = _BufferedReader(raw, buffer_size)
    # newline "\n": what CPython gives stdin on POSIX (no translation of "\r").
    text = _TextIOWrapper(buffered, encoding, errors, "\n", line_buffering, write_through)
    text.mode = "r"
    original = sys_module.stdin
    _originals.append((original, sys_module.__stdin__))
    sys_module.stdin = text
    if sys_module.__stdin__ is original:
        sys_module.__stdin__ = text


# -- input() ------------------------------------------------------------------------
def _make_input(engine, original, name):
    scope = {"sys": sys, "audit": sys.audit, "NOT_GIVEN": templates.NOT_GIVEN}
    replacement = templates.instantiate(templates.input, scope, "<retrace input>", "input")
    replacement.__doc__ = original.__doc__
    replacement.__wrapped__ = original
    return replacement


FAMILY = Family(
    name="terminal",
    doc=__doc__,
    patches=(
        Patch("builtins", "input", why="reads the terminal through readline, past sys.stdin",
              make=_make_input),
    ),
    on_import=(
        OnImport("sys", _replace_stdin, why="sys.stdin reads come from outside the program"),
    ),
    leaves=(
        Leaf("sys.stdin.setup", why="what sys.stdin is: its encoding, buffering, whether a terminal"),
        *(Leaf(f"sys.stdin.{name}", why="reads or asks about the process's standard input")
          for name in ("readinto", "readall", "readline", "isatty", "fileno", "seekable", "tell", "seek")),
    ),
)
