"""``open()`` while retrace runs: io.open's layers over a raw file of ours.

``open`` builds exactly what ``io.open`` builds (the same argument checks, the
same buffering rules, ``BufferedReader``/``Writer``/``Random`` and
``TextIOWrapper`` from ``_io``), except that the bottom layer is ``FileIO``
below instead of ``_io.FileIO``. Every method of that raw file that meets the
world is a leaf: opening (which records the descriptor, whether it is seekable
or a terminal, its block size, its position and, for text without an explicit
encoding, the locale's encoding), ``readinto`` (the bytes read are stored and
copied into the caller's buffer on replay), ``read``, ``readall``, ``write``
(performed when recording; on replay only the recorded count comes back),
``seek``, ``tell``, ``truncate`` and ``close``. The object is the same class in
both modes: when recording it holds a real ``_io.FileIO``; on replay it holds
nothing, so nothing reaches the file system.

Writes to stdout and stderr by any name (``open(1, "w")``, ``/dev/stdout``, a copy
of 1) are output: written in the tree's order (engine/outputorder.py), and for real
on replay too. A file the program drops unclosed is flushed
and closed by its finalizer, whenever the garbage collector gets to it -- not at
the same moment on replay -- and once the interpreter finalizes, the recording
is over: in both cases the raw file stops using leaves. Recording calls through
unrecorded; replay, which has no file, answers as if the call had succeeded.

While a leaf runs or retrace does its own work (``state.busy``), ``open`` is the
real ``io.open``: nothing of ours is involved.
"""

from __future__ import annotations

import _io
import _locale
import _warnings
import io
import posix
import struct
import sys
from operator import attrgetter as _attrgetter
from operator import index as _index

from retrace import installation, originals
from retrace.descriptors import hold as _hold
from retrace.descriptors import release as _release
from retrace.engine.state import state

_RealFileIO = _io.FileIO
_real_open = originals.io_open
_BufferedReader = _io.BufferedReader
_BufferedWriter = _io.BufferedWriter
_BufferedRandom = _io.BufferedRandom
_TextIOWrapper = _io.TextIOWrapper
_Unsupported = io.UnsupportedOperation
_lseek = originals.lseek
_isatty = originals.isatty

_CLOSED = "I/O operation on closed file"


def echo(fd: int, data, count: int, write=posix.write) -> None:
    """Replay's real output: write the first ``count`` bytes of ``data`` to ``fd`` (with
    ``write``: the tree's output order, for os.write)."""
    try:
        view = memoryview(data).cast("B")[:count]
    except TypeError:
        view = memoryview(bytes(data))[:count]
    while view:
        try:
            view = view[write(fd, view):]
        except InterruptedError:
            continue
        except OSError:
            return


class FileIO(io.RawIOBase):
    """The raw layer of every file ``open()`` returns while retrace runs.

    Same surface as ``_io.FileIO`` (``name``, ``mode``, ``closefd``, ``closed``,
    ``fileno()``, ``isatty()``...). Recording: ``_real`` is the real FileIO.
    Replay: ``_real`` is None and every answer comes from the trace.
    """

    _dying = False  # being garbage collected: see _dealloc_warn
    _output = None  # the engine's output order (set by make_open)

    # The leaves of this process's engine (set by make_open); bound as methods.
    _l_readinto = _l_read = _l_readall = _l_write = _l_seek = _l_tell = _l_truncate = _l_close = None

    def __init__(self, real, name, closefd, fd: int, blksize: int, pos, flags: int, mode: tuple) -> None:
        self._real = real
        self._fd = fd
        self.name = name
        self._closefd = bool(closefd)
        self._closed = False
        self._seekable = bool(flags & _SEEKABLE)
        self._isatty = bool(flags & _ISATTY)
        self._blksize = blksize
        self._pos0 = pos  # the position at open, valid until the first read/write/seek
        self._readable, self._writable, self._mode = mode[4], mode[5], mode[6]
        output = self._output
        if not _is_number(name):  # (opened at a path)
            if output is not None:
                output.opened(fd, name)  # (/dev/stdout writes to stdout)
            if real is None and closefd and (output is None or output.target(fd) is None):
                _hold(fd)  # a real descriptor at the recorded number (retrace/descriptors.py)

    # -- attributes ------------------------------------------------------------
    # C getters (no Python frame): the buffered layers ask ``raw.closed`` on every call.
    mode = property(_attrgetter("_mode"), doc="The raw mode, as _io.FileIO shows it.")
    closefd = property(_attrgetter("_closefd"), doc="Whether close() closes the descriptor.")
    closed = property(_attrgetter("_closed"), doc="True once the file is closed.")

    def __repr__(self) -> str:
        if self._closed:
            return "<_io.FileIO [closed]>"
        return f"<_io.FileIO name={self.name!r} mode={self._mode!r} closefd={self._closefd!r}>"

    def __reduce_ex__(self, protocol):
        raise TypeError("cannot pickle '_io.FileIO' object")

    def fileno(self) -> int:
        if self._closed:
            raise ValueError(_CLOSED)
        return self._fd

    def isatty(self) -> bool:
        if self._closed:
            raise ValueError(_CLOSED)
        return self._isatty

    def readable(self) -> bool:
        if self._closed:
            raise ValueError(_CLOSED)
        return self._readable

    def writable(self) -> bool:
        if self._closed:
            raise ValueError(_CLOSED)
        return self._writable

    def seekable(self) -> bool:
        if self._closed:
            raise ValueError(_CLOSED)
        return self._seekable

    # -- reading -----------------------------------------------------------------
    def readinto(self, buffer):
        if self._closed:
            raise ValueError(_CLOSED)
        if not self._readable:
            raise _Unsupported("File not open for reading")
        self._pos0 = None
        return self._l_readinto(buffer)

    def read(self, size=-1):
        if self._closed:
            raise ValueError(_CLOSED)
        if not self._readable:
            raise _Unsupported("File not open for reading")
        self._pos0 = None
        if size is None or size < 0:
            return self._l_readall()
        return self._l_read(size)

    def readall(self):
        if self._closed:
            raise ValueError(_CLOSED)
        if not self._readable:
            raise _Unsupported("File not open for reading")
        self._pos0 = None
        return self._l_readall()

    # -- writing and moving -------------------------------------------------------
    def write(self, data, _finalizing=sys.is_finalizing):
        if self._closed:
            raise ValueError(_CLOSED)
        if not self._writable:
            raise _Unsupported("File not open for writing")
        self._pos0 = None
        if self._dying or _finalizing():
            return self._unrecorded("write", data)
        count = self._l_write(data)
        if self._real is None and count:
            self._echo(data, count)
        return count

    def _echo(self, data, count) -> None:
        """Replay: a write to stdout or stderr shows (in the tree's order)."""
        output = self._output
        if output is not None and output.target(self._fd) is not None:
            echo(self._fd, data, count, output.write)

    def seek(self, pos, whence=0, _finalizing=sys.is_finalizing):
        if self._closed:
            raise ValueError(_CLOSED)
        if whence == 1 and pos == 0 and type(pos) is int and self._pos0 is not None:
            return self._pos0
        self._pos0 = None
        if self._dying or _finalizing():
            return self._unrecorded("seek", pos, whence)
        return self._l_seek(pos, whence)

    def tell(self, _finalizing=sys.is_finalizing):
        if self._closed:
            raise ValueError(_CLOSED)
        if self._pos0 is not None:
            return self._pos0
        if self._dying or _finalizing():
            return self._unrecorded("tell")
        return self._l_tell()

    def truncate(self, size=None):
        if self._closed:
            raise ValueError(_CLOSED)
        if not self._writable:
            raise _Unsupported("File not open for writing")
        self._pos0 = None
        return self._l_truncate(size)

    # -- closing -------------------------------------------------------------------
    def close(self, _finalizing=sys.is_finalizing):
        if self._closed:
            return
        if self.__dict__.get("_finalizing"):  # set by io's finalizer: never closed by the program
            self._dealloc_warn(self)
        self._closed = True
        if not self._closefd:
            if self._real is not None:
                self._real.close()  # the descriptor stays open: no system call
        elif self._dying or _finalizing():
            self._unrecorded("close")
        else:
            self._l_close()
        if self._closefd:
            if self._output is not None:
                self._output.closed(self._fd)
            if self._real is None:
                _release(self._fd)

    def _dealloc_warn(self, source) -> None:
        # io calls this when a file object is garbage collected unclosed, just before it
        # flushes and closes it. When that happens depends on the garbage collector, which
        # does not run at the same moments on replay: what follows gets no events.
        self._dying = True
        if not self._closed and self._closefd:
            level, frame = 2, sys._getframe(1)
            while frame is not None and frame.f_code.co_filename == __file__:
                level, frame = level + 1, frame.f_back  # blame the program's line, as C does
            try:
                _warnings.warn(f"unclosed file {source!r}", ResourceWarning, level, source)
            except Exception:
                pass

    def _unrecorded(self, what: str, *args):
        """A call that gets no event: the file is being garbage collected, the interpreter
        is finalizing (the recording is over), or retrace's own work touches a file object
        of the program. Recording calls through; replay, which has no file, answers as if
        the call succeeded."""
        real = self._real
        if real is not None:
            return getattr(real, what)(*args)
        if what == "write":
            count = memoryview(args[0]).nbytes
            self._echo(args[0], count)
            return count
        if what == "seek":
            return args[0] if args[1] == 0 else 0
        if what == "read" or what == "readall":
            return b""
        if what == "truncate":
            return args[0] or 0
        return 0 if what in ("readinto", "tell") else None


# -- what each leaf does when recording (on replay only under ``untraced``) ----------
def _real_readinto(raw, buffer):
    real = raw._real
    return raw._unrecorded("readinto", buffer) if real is None else real.readinto(buffer)


def _real_read(raw, size):
    real = raw._real
    return raw._unrecorded("read", size) if real is None else real.read(size)


def _real_readall(raw):
    real = raw._real
    return raw._unrecorded("readall") if real is None else real.readall()


def _real_write(raw, data):
    real = raw._real
    if real is None:
        return raw._unrecorded("write", data)
    output = raw._output
    if output is not None and output.in_tree and output.target(raw._fd) is not None:
        try:
            return output.write(raw._fd, data)  # (stdout by another name: in the tree's order)
        except BlockingIOError:
            return None  # (as _io.FileIO says it)
    return real.write(data)


def _real_seek(raw, pos, whence):
    real = raw._real
    return raw._unrecorded("seek", pos, whence) if real is None else real.seek(pos, whence)


def _real_tell(raw):
    real = raw._real
    return raw._unrecorded("tell") if real is None else real.tell()


def _real_truncate(raw, size):
    real = raw._real
    return raw._unrecorded("truncate", size) if real is None else real.truncate(size)


def _real_close(raw):
    real = raw._real
    return None if real is None else real.close()


def _store_readinto(count, args, kwargs):
    if count is None:
        return None
    return memoryview(args[1]).cast("B")[:count].tobytes()


def _load_readinto(data, args, kwargs):
    if data is None:
        return None
    count = len(data)
    memoryview(args[1]).cast("B")[:count] = data
    return count


def _key_fd(raw, *args):
    return raw._fd


def _key_fd_size(raw, buffer):
    try:
        return (raw._fd, memoryview(buffer).nbytes)
    except TypeError:
        return (raw._fd, type(buffer).__name__)


def _key_fd_args(raw, *args):
    for arg in args:
        if type(arg) is not int and arg is not None:
            return (raw._fd, len(args))
    return (raw._fd, *args)


# -- opening -----------------------------------------------------------------------
# What replay must know of an opened file, packed (a bytes value needs no encoding):
# descriptor, block size, position, flags; then the locale encoding, if asked for.
_INFO = struct.Struct("<qqqB")
_SEEKABLE, _ISATTY, _NO_POSITION = 1, 2, 4


def _locale_encoding() -> str:
    return "utf-8" if sys.flags.utf8_mode else _locale.getencoding()


def _fixed_fd(fd):
    return lambda path, flags: fd


def _real_raw_open(file, rawmode, closefd, fd, want_encoding):
    """Recording only: open the real FileIO and note what replay must know of it."""
    real = _RealFileIO(file, rawmode, closefd, opener=None if fd is None else _fixed_fd(fd))
    try:
        fileno = real.fileno()
        try:
            pos, flags = _lseek(fileno, 0, 1), _SEEKABLE
        except OSError:
            pos, flags = 0, _NO_POSITION
        if _isatty(fileno):
            flags |= _ISATTY
        info = _INFO.pack(fileno, real._blksize, pos, flags)
        if want_encoding:
            info += _locale_encoding().encode()
    except BaseException:
        real.close()
        raise
    return real, info


def _open_key(file, rawmode, closefd, fd, want_encoding):
    return (file, rawmode) if fd is None else (file, rawmode, fd)


def _keep_info(result, args, kwargs):
    return result[1]


def _replayed_info(info, args, kwargs):
    return None, info


def _is_number(value) -> bool:
    kind = type(value)
    return (hasattr(kind, "__index__") or hasattr(kind, "__int__") or hasattr(kind, "__float__")
            or isinstance(value, complex))


def _opener_flags(rawmode: str) -> int:
    """The flags _io.FileIO hands an ``opener`` for this raw mode."""
    readable = "r" in rawmode or "+" in rawmode
    writable = "r" not in rawmode or "+" in rawmode
    flags = posix.O_RDWR if readable and writable else posix.O_RDONLY if readable else posix.O_WRONLY
    if "x" in rawmode:
        flags |= posix.O_EXCL | posix.O_CREAT
    elif "w" in rawmode:
        flags |= posix.O_CREAT | posix.O_TRUNC
    elif "a" in rawmode:
        flags |= posix.O_APPEND | posix.O_CREAT
    return flags | posix.O_CLOEXEC


# mode string -> (rawmode, binary, updating, writer, readable, writable, raw .mode); valid ones only
_MODES: dict[str, tuple] = {}


def _parse_mode(mode) -> tuple:
    """Check ``mode`` as io.open does (same errors); remember the valid ones."""
    if not isinstance(mode, str):
        raise TypeError(f"open() argument 'mode' must be str, not {type(mode).__name__}")
    modes = set(mode)
    if modes - set("xrwa+tb") or len(mode) > len(modes):
        raise ValueError(f"invalid mode: '{mode}'")
    creating, reading, writing = "x" in modes, "r" in modes, "w" in modes
    appending, updating = "a" in modes, "+" in modes
    binary = "b" in modes
    if "t" in modes and binary:
        raise ValueError("can't have text and binary mode at once")
    if creating + reading + writing + appending > 1:
        raise ValueError("must have exactly one of create/read/write/append mode")
    rawmode = "".join(c for c, on in (("x", creating), ("r", reading), ("w", writing),
                                      ("a", appending), ("+", updating)) if on)
    readable, writable = reading or updating, not reading or updating
    kind = "xb" if creating else "ab" if appending else "rb" if readable else "wb"
    parsed = (rawmode, binary, updating, creating or writing or appending, readable, writable,
              kind + "+" if updating else kind)
    if type(mode) is str and rawmode[:1] not in ("", "+") and len(_MODES) < 256:
        _MODES[mode] = parsed
    return parsed


def _only_reads(mode) -> bool:
    """A mode that opens for reading only ("r", "rb", "rt"); an invalid one says no
    (the recorded path then raises io.open's own error)."""
    return type(mode) is str and "r" in mode and "+" not in mode


def _check_text_args(binary, encoding, errors, newline) -> None:
    for value, what in ((encoding, "encoding"), (errors, "errors"), (newline, "newline")):
        if value is not None and not isinstance(value, str):
            raise TypeError(f"open() argument '{what}' must be str or None, not {type(value).__name__}")
    if binary:
        for value, what in ((encoding, "an encoding"), (errors, "an errors"), (newline, "a newline")):
            if value is not None:
                raise ValueError(f"binary mode doesn't take {what} argument")


def make_open(engine):
    """The replacement for builtins.open / io.open (one function per engine)."""
    leaf = engine.leaf
    FileIO._output = engine.output
    FileIO._l_readinto = leaf("io.FileIO.readinto", _real_readinto, key=_key_fd_size,
                              store=_store_readinto, load=_load_readinto, depth=2)
    FileIO._l_read = leaf("io.FileIO.read", _real_read, key=_key_fd_args, depth=2)
    FileIO._l_readall = leaf("io.FileIO.readall", _real_readall, key=_key_fd, depth=2)
    FileIO._l_write = leaf("io.FileIO.write", _real_write, key=_key_fd_size, depth=2)
    FileIO._l_seek = leaf("io.FileIO.seek", _real_seek, key=_key_fd_args, depth=2)
    FileIO._l_tell = leaf("io.FileIO.tell", _real_tell, key=_key_fd, depth=2)
    FileIO._l_truncate = leaf("io.FileIO.truncate", _real_truncate, key=_key_fd_args, depth=2)
    FileIO._l_close = leaf("io.FileIO.close", _real_close, key=_key_fd, depth=2)
    raw_open = leaf("io.open", _real_raw_open, key=_open_key, store=_keep_info,
                    load=_replayed_info, depth=2)
    info_size = _INFO.size
    unpack_info = _INFO.unpack_from
    holds = installation.holds

    def open(file, mode="r", buffering=-1, encoding=None, errors=None, newline=None,
             closefd=True, opener=None):
        if state.busy or (holds(file) and opener is None and _only_reads(mode)):
            # retrace's own work, inside another boundary, or reading the installation
            # (a module's source, package data: retrace/installation.py)
            return _real_open(file, mode, buffering, encoding, errors, newline, closefd, opener)
        if type(file) is str or not _is_number(file):
            path_or_fd = file if type(file) is str else posix.fspath(file)
            if not isinstance(path_or_fd, (str, bytes)):
                raise TypeError(f"invalid file: {file!r}")
        else:
            path_or_fd = file
        parsed = _MODES.get(mode) if type(mode) is str else None
        if parsed is None:
            parsed = _parse_mode(mode)
        rawmode, binary, updating, writer = parsed[0], parsed[1], parsed[2], parsed[3]
        if type(buffering) is not int:
            buffering = _index(buffering)
        if encoding is not None or errors is not None or newline is not None:
            _check_text_args(binary, encoding, errors, newline)
        if binary and buffering == 1:
            _warnings.warn("line buffering (buffering=1) isn't supported in binary mode, "
                           "the default buffer size will be used", RuntimeWarning, 2)
        if rawmode[:1] in ("", "+"):  # io.open leaves this one to FileIO
            raise ValueError("Must have exactly one of create/read/write/append mode and at most one plus")
        fd = None
        if opener is not None and (type(path_or_fd) is str or type(path_or_fd) is bytes):
            if not closefd:
                raise ValueError("Cannot use closefd=False with file name")
            fd = opener(path_or_fd, _opener_flags(rawmode))
            if not isinstance(fd, int):
                raise TypeError("expected integer from opener")
            if fd < 0:
                raise ValueError(f"opener returned {fd}")
        # The locale's encoding is a fact of the machine: recorded, not read again on replay.
        want_encoding = not binary and (encoding is None or encoding == "locale")
        real, info = raw_open(path_or_fd, rawmode, closefd, fd, want_encoding)
        fileno, blksize, pos, flags = unpack_info(info)
        result = raw = FileIO(real, path_or_fd, closefd, fileno, blksize,
                              None if flags & _NO_POSITION else pos, flags, parsed)
        try:
            line_buffering = False
            if buffering == 1 or buffering < 0 and raw.isatty():
                buffering = -1
                line_buffering = True
            if buffering < 0:
                buffering = raw._blksize
            if buffering < 0:
                raise ValueError("invalid buffering size")
            if buffering == 0:
                if binary:
                    return result
                raise ValueError("can't have unbuffered text I/O")
            if updating:
                buffer = _BufferedRandom(raw, buffering)
            elif writer:
                buffer = _BufferedWriter(raw, buffering)
            else:
                buffer = _BufferedReader(raw, buffering)
            result = buffer
            if binary:
                return result
            if want_encoding:
                if encoding is None and sys.flags.warn_default_encoding:
                    _warnings.warn("'encoding' argument not specified", EncodingWarning, 2)
                encoding = info[info_size:].decode()
            result = _TextIOWrapper(buffer, encoding, errors, newline, line_buffering)
            result.mode = mode
            return result
        except BaseException:
            result.close()
            raise

    open.__wrapped__ = _real_open
    open.__doc__ = _real_open.__doc__
    return open
