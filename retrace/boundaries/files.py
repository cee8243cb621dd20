"""Files: open(), the ``os`` file and directory calls, and ``os.scandir``.

Only the lowest layer is patched: the ``os`` functions that make a system call
on a path or a descriptor, and ``open``/``io.open`` (see ``_fileobj.py``), and
``io.open_code`` where it is not the import system reading a module.
Everything written in Python on top of them -- ``os.path``, ``os.walk``,
``os.makedirs``, ``shutil``, ``tempfile``, ``pathlib``, ``glob`` -- runs for
real in both modes and reaches the world only through these leaves. So a file
read while recording replays its recorded content even after it changed or
vanished, and writes, renames, removals and directory changes happen only
while recording.

Two special cases: ``os.write``/``os.writev`` to descriptors 1 and 2 are
program output, which replay writes for real too (returning the recorded
count); ``os.scandir`` records a directory's entries at once and hands out
entries of our own class, whose ``stat()`` goes through the ``os.stat`` leaf.

Keys and packed stat results are in ``_filekeys.py``, the directory entries in
``_direntries.py``, the file objects in ``_fileobj.py``.

The ``os.supports_*`` sets are kept in step (``shutil`` and ``os.fwalk`` test
membership), and ``tempfile`` defaults that captured an original are rebound.
"""

from __future__ import annotations

import os as _os
import sys
from _functools import partial  # (functools itself costs start-up time)

from retrace import installation
from retrace.boundaries._buffers import gather, scatter
from retrace.boundaries._direntries import ScandirIterator, pack_names, scan, unpack_names
from retrace.boundaries._fileobj import echo, make_open
from retrace.boundaries._filekeys import (
    key_args,
    key_fd_buffers,
    key_fd_data,
    key_ints,
    key_path,
    load_stat,
    norm,
    store_stat,
)
from retrace.boundaries.spec import Family, Leaf, OnImport, Patch, replacing
from retrace.engine.state import state, untraced


def _real_in_installation(leaf, original):
    """``leaf``, except on a path of the interpreter's installation (stdlib, site-packages,
    retrace: retrace/installation.py), where the call is real and unrecorded in both
    modes. The leaf was made with depth=2 (its caller's caller is the program)."""
    holds = installation.holds

    def call(*args, **kwargs):
        if holds(args[0] if args else kwargs.get("path")):
            return original(*args, **kwargs)
        return leaf(*args, **kwargs)

    return replacing(call, original)


def _make_stat(engine, original, name):
    leaf = engine.leaf(name, original, key=key_path, store=store_stat, load=load_stat, depth=2)
    return _real_in_installation(leaf, original)


def _make_fstat(engine, original, name):
    return engine.leaf(name, original, key=key_ints, store=store_stat, load=load_stat)


# -- out-parameter reads ----------------------------------------------------------
def _store_into_buffers(count, args, kwargs):
    return gather(args[1], count)


def _load_into_buffers(data, args, kwargs):
    scatter(data, args[1])
    return len(data)


def _make_readv(engine, original, name):
    return engine.leaf(name, original, key=key_fd_buffers, store=_store_into_buffers,
                       load=_load_into_buffers)


def _ioctl_buffer(args):
    """The buffer fcntl.ioctl fills in place, if this call has one."""
    if len(args) < 3 or (len(args) > 3 and not args[3]):
        return None
    try:
        view = memoryview(args[2])
    except TypeError:
        return None
    return None if view.readonly else view.cast("B")


def _store_ioctl(result, args, kwargs):
    view = _ioctl_buffer(args)
    return result if view is None else (result, view.tobytes())


def _load_ioctl(stored, args, kwargs):
    if type(stored) is not tuple:
        return stored
    result, data = stored
    _ioctl_buffer(args)[:len(data)] = data
    return result


def _make_ioctl(engine, original, name):
    return engine.leaf(name, original, key=key_args, store=_store_ioctl, load=_load_ioctl)


# -- output to the terminal: os.write(1 or 2) is written on replay too -------------
def _make_write(engine, original, name):
    output = engine.output  # (the tree's order: engine/outputorder.py)
    leaf = engine.leaf(name, _to_output(engine, original, lambda data: data), key=key_fd_data, depth=2)
    replaying = not engine.recording

    def write(*args, **kwargs):
        if state.busy:  # retrace's own work, or inside another boundary (no echo)
            return original(*args, **kwargs)
        count = leaf(*args, **kwargs)
        if replaying and type(count) is int and output.target(args[0]) is not None:
            echo(args[0], args[1], count, output.write)
        return count

    return replacing(write, original)


def _make_writev(engine, original, name):
    output = engine.output
    joined = _to_output(engine, original, lambda buffers: b"".join(bytes(b) for b in buffers))
    leaf = engine.leaf(name, joined, key=key_fd_buffers, depth=2)
    replaying = not engine.recording

    def writev(*args, **kwargs):
        if state.busy:  # retrace's own work, or inside another boundary (no echo)
            return original(*args, **kwargs)
        count = leaf(*args, **kwargs)
        if replaying and type(count) is int and output.target(args[0]) is not None:
            echo(args[0], b"".join(bytes(b) for b in args[1]), count, output.write)
        return count

    return replacing(writev, original)


def _make_fd_copy(engine, original, name):
    """dup, dup2, close, closerange, os.open, fcntl.fcntl: the output order learns which
    descriptors write to stdout and stderr (engine/outputorder.py), in both modes from
    the same calls: a copy of 1, ``/dev/stdout`` opened, a file put at 1 (pytest's
    capture), whose writes on replay stay out of sight."""
    output = engine.output
    follow, key = _FOLLOW[name]
    if output is None:
        return engine.leaf(name, original, key=key)
    leaf = engine.leaf(name, original, key=key, depth=2)

    def call(*args, **kwargs):
        result = leaf(*args, **kwargs)
        if not state.busy and args:
            follow(output, result, *args)
        return result

    return replacing(call, original)


def _follow_dup(output, result, fd, *rest):
    output.copied(fd, result)


def _follow_dup2(output, result, fd, new=None, *rest):
    output.copied(fd, new)


def _follow_close(output, result, fd, *rest):
    output.closed(fd)


def _follow_closerange(output, result, low, high=None, *rest):
    output.closed_range(low, high)


def _follow_open(output, result, path, *rest):
    output.opened(result, path)


_DUPLICATES = (0, 1030)  # Linux's F_DUPFD and F_DUPFD_CLOEXEC (fcntl is the program's to import)


def _follow_fcntl(output, result, fd, command=None, *rest):
    if command in _DUPLICATES and type(fd) is int:
        output.copied(fd, result)


# name -> (what the output order learns from the call, the call's key)
_FOLLOW = {"os.dup": (_follow_dup, key_ints), "os.dup2": (_follow_dup2, key_ints),
           "os.close": (_follow_close, key_ints), "os.closerange": (_follow_closerange, key_ints),
           "os.open": (_follow_open, key_path), "fcntl.fcntl": (_follow_fcntl, key_args)}


def _to_output(engine, original, as_bytes):
    """Recording: what ``os.write``/``os.writev`` to stdout or stderr (or a descriptor
    that writes there) does, in the tree's order."""
    output = engine.output
    if not engine.recording or output is None:
        return original
    streams = output.streams

    def call(fd, data, *rest):
        if not rest and streams.get(fd) is not None:
            return output.write(fd, as_bytes(data))
        return original(fd, data, *rest)

    return replacing(call, original)


# -- os.scandir and os.listdir: a directory read at once (_direntries.py) ------------
def _key_scandir(*args, **kwargs):
    if not args and not kwargs:
        return None
    return key_path(*args, **kwargs)


def _make_scandir(engine, original, name):
    leaf = engine.leaf(name, partial(scan, original), key=_key_scandir, depth=2)

    holds = installation.holds

    def scandir(path=None):
        if state.busy or holds(path):  # retrace's own work, inside another boundary, or the installation
            return original(path)
        return ScandirIterator(path, leaf() if path is None else leaf(path))

    return replacing(scandir, original)


# -- os.listdir: names packed like scandir's -------------------------------------------
def _listdir_gives_bytes(args, kwargs) -> bool:
    path = args[0] if args else kwargs.get("path")
    if path is None or type(path) is int:
        return False
    return type(path) is bytes or type(norm(path)) is bytes


def _store_listdir(names, args, kwargs):
    return pack_names(names, _listdir_gives_bytes(args, kwargs))


def _load_listdir(blob, args, kwargs):
    as_bytes = _listdir_gives_bytes(args, kwargs)
    return unpack_names(blob, 1 if blob else 0, as_bytes)


def _make_listdir(engine, original, name):
    leaf = engine.leaf(name, original, key=_key_scandir, store=_store_listdir, load=_load_listdir, depth=2)
    return _real_in_installation(leaf, original)


def _make_path_read(engine, original, name):
    """readlink, access: real in the installation (retrace/installation.py)."""
    return _real_in_installation(engine.leaf(name, original, key=key_path, depth=2), original)


# -- open() / io.open: one replacement per engine for both names -------------------
def _one_per_engine(made: dict, engine, make):
    """What ``make()`` builds, once per engine: a function patched under two names
    (patching one name finds the other) must be one object."""
    built = made.get(id(engine))
    if built is None or built[0] is not engine:
        built = made[id(engine)] = (engine, make())
    return built[1]


_opens: dict[int, tuple] = {}


def _make_open(engine, original, name):
    return _one_per_engine(_opens, engine, lambda: make_open(engine))


# -- importlib's own file access, asked by others: py_compile, compileall, runpy ------
# importlib reads and writes files with ``posix`` and ``_io.open_code`` directly, not
# through the os and open leaves. When the import system does it (a module being
# imported, its bytecode cached), it stays unrecorded: replay imports the recorded code
# from run/ (bootstrap/importer.py). When anything else asks (py_compile and compileall,
# pip compiling what it installed, runpy.run_path, cProfile and trace reading a script),
# it is a file of the world, and goes through the leaves.
_LOADERS = "<frozen importlib._bootstrap_external>"
_IMPORT_SYSTEM = frozenset({"<frozen importlib._bootstrap>", "<frozen zipimport>"})


# A loader doing a loader's work, whoever asked (runpy runs __main__ through get_code).
_LOADING = frozenset({"get_code", "get_source", "exec_module", "load_module", "set_data", "_cache_bytecode"})


def _outside_import(frame) -> bool:
    """Is the first caller above importlib's file helpers someone other than the import
    system, and not through a loader's own work?"""
    while frame is not None and frame.f_code.co_filename == _LOADERS:
        if frame.f_code.co_name in _LOADING:
            return False
        frame = frame.f_back
    return frame is not None and frame.f_code.co_filename not in _IMPORT_SYSTEM


_open_codes: dict[int, tuple] = {}


def _make_open_code(engine, original, name):
    return _one_per_engine(_open_codes, engine, lambda: _open_code_for(engine, original))


def _a_modules_own_source(frame, path) -> bool:
    """Is ``frame`` the ``get_data`` of an imported module's loader, reading that module's
    source? Replay's loaders of recorded modules read it from run/ (bootstrap/importer.py);
    a package's data file (``pkgutil.get_data``) is a file of the world."""
    if frame.f_code.co_filename != _LOADERS or frame.f_code.co_name != "get_data":
        return False
    loader = frame.f_locals.get("self")
    name = getattr(loader, "name", None)
    module = sys.modules.get(name) if type(name) is str else None
    return (module is not None and getattr(getattr(module, "__spec__", None), "loader", None) is loader
            and getattr(loader, "path", None) == path)


def _open_code_for(engine, original):
    """``io.open_code`` (``_io.open_code``) is ``open(path, "rb")`` unless an embedding
    application set a C hook."""
    opened = _make_open(engine, None, "io.open")
    getframe = sys._getframe

    def open_code(path):
        if state.busy or type(path) is not str:
            return original(path)
        frame = getframe(1)
        if not _outside_import(frame) or _a_modules_own_source(frame, path):
            with untraced():  # (the C function opens through io.open, which is ours)
                return original(path)
        return opened(path, "rb")

    return replacing(open_code, original)


def _for_others(original, instead):
    """``original`` when the import system (or retrace) calls, ``instead`` when anyone else does."""
    getframe = sys._getframe

    def call(*args, **kwargs):
        if state.busy or not _outside_import(getframe(1)):
            return original(*args, **kwargs)
        return instead(*args, **kwargs)

    return replacing(call, original)


def _make_path_stats(engine, original, name):
    """``SourceFileLoader.path_stats``: the source's mtime and size, through os.stat."""

    def path_stats(self, path):
        st = _os.stat(path)
        return {"mtime": st.st_mtime, "size": st.st_size}

    return _for_others(original, path_stats)


def _make_calc_mode(engine, original, name):
    """``_calc_mode``: the mode a .pyc gets, from its source's, through os.stat."""

    def calc_mode(path):
        try:
            mode = _os.stat(path).st_mode
        except OSError:
            mode = 0o666
        return mode | 0o200  # (as importlib: the owner can always write it)

    return _for_others(original, calc_mode)


def _make_write_atomic(engine, original, name):
    """``_write_atomic``: a whole file written (a .pyc), one leaf: done when recording,
    not on replay. Not keyed by the data: marshal's output depends on reference counts."""
    leaf = engine.leaf(name, original, key=lambda path, data, mode=0o666: (norm(path), mode), depth=2)
    return _for_others(original, leaf)


# -- install-time fixes --------------------------------------------------------------
_SUPPORTS_SETS = ("supports_fd", "supports_dir_fd", "supports_follow_symlinks", "supports_effective_ids")


def _replacement_in_os(module, function):
    name = getattr(function, "__name__", None)
    new = getattr(module, name, None) if isinstance(name, str) else None
    if new is not None and new is not function and getattr(new, "__wrapped__", None) is function:
        return new
    return None


def _keep_supports_sets(engine, module) -> None:
    """shutil and os.fwalk ask ``os.stat in os.supports_fd``: answer for the leaves too."""
    for set_name in _SUPPORTS_SETS:
        members = getattr(module, set_name, None)
        if not isinstance(members, set):
            continue
        for function in list(members):
            new = _replacement_in_os(module, function)
            if new is not None:
                members.add(new)


def _unlink_for_finalizers(engine):
    """os.unlink for tempfile's closer, which also runs from ``__del__`` at exit.

    A NamedTemporaryFile still open when the interpreter finalizes is removed after
    the recording has ended: recording removes it unrecorded, replay does nothing
    (there is no event left to answer with)."""
    leaf = _os.unlink
    real = getattr(leaf, "__wrapped__", leaf)
    replaying = not engine.recording
    is_finalizing = sys.is_finalizing

    def unlink(path, *, dir_fd=None):
        if is_finalizing():
            return None if replaying else real(path, dir_fd=dir_fd)
        return leaf(path, dir_fd=dir_fd)

    unlink.__wrapped__ = leaf
    return unlink


def _rebind_tempfile_defaults(engine, module) -> None:
    """``_TemporaryFileCloser.close(self, unlink=_os.unlink)`` captured os.unlink at import."""
    closer = getattr(module, "_TemporaryFileCloser", None)
    close = getattr(closer, "close", None)
    defaults = getattr(close, "__defaults__", None)
    if not defaults:
        return
    unlink = _unlink_for_finalizers(engine)
    close.__defaults__ = tuple(
        unlink if callable(value) and getattr(value, "__name__", None) == "unlink" else value
        for value in defaults
    )


# -- the family ----------------------------------------------------------------------
_PATH_READS = ("access", "readlink")  # (stat, lstat, listdir, scandir, open: their own makers)
_PATH_CALLS = (
    "remove", "unlink", "rename", "replace", "mkdir", "rmdir", "symlink", "link", "chmod", "chown",
    "lchown", "lchmod", "chflags", "lchflags",
    "utime", "truncate", "statvfs", "mkfifo", "mknod", "pathconf", "getxattr", "setxattr",
    "listxattr", "removexattr",
)
_FD_CALLS = (
    "read", "pread", "close", "closerange", "lseek", "ftruncate", "fsync", "fdatasync", "fstatvfs",
    "fchmod", "fchown", "fpathconf", "dup", "dup2", "sendfile", "copy_file_range", "splice",
    "posix_fallocate", "posix_fadvise", "lockf", "get_inheritable", "set_inheritable",
    "get_blocking", "set_blocking", "isatty", "ttyname", "device_encoding", "pipe", "pipe2",
    "memfd_create", "sync",
)
_FD_COPIES = ("dup", "dup2", "close", "closerange")
_OPTIONAL = {"lchown", "mkfifo", "mknod", "pathconf", "getxattr", "setxattr", "listxattr",
             "removexattr", "fpathconf", "copy_file_range", "splice", "posix_fallocate",
             "posix_fadvise", "lockf", "pread", "fdatasync", "sendfile", "statvfs", "fstatvfs",
             "get_blocking", "set_blocking", "pwrite", "pwritev", "preadv", "readv", "writev",
             "ttyname", "pipe2", "memfd_create", "lchmod", "chflags", "lchflags", "sync"}

FAMILY = Family(
    name="files",
    doc=__doc__,
    patches=(
        Patch("builtins", "open", why="opens a file: its content, or an error, comes from the world",
              make=_make_open),
        Patch("io", "open", why="the same open() under its io name (pathlib, tempfile, os.fdopen)",
              make=_make_open),
        Patch("io", "open_code", why="reads a source file: runpy.run_path, cProfile, trace, py_compile "
              "(not the import system's reads of modules)", make=_make_open_code),
        Patch("_io", "open_code", why="the same function under the name importlib's loaders call",
              make=_make_open_code),
        Patch("importlib._bootstrap_external", "SourceFileLoader.path_stats",
              why="a source file's metadata asked outside an import (py_compile)", make=_make_path_stats),
        Patch("importlib._bootstrap_external", "_calc_mode",
              why="a source file's mode asked outside an import (py_compile)", make=_make_calc_mode),
        Patch("importlib._bootstrap_external", "_write_atomic",
              why="writes a file outside an import (py_compile's .pyc)", make=_make_write_atomic),
        Patch("os", "stat", why="reads file metadata", make=_make_stat),
        Patch("os", "lstat", why="reads file metadata", make=_make_stat),
        Patch("os", "fstat", why="reads file metadata", make=_make_fstat),
        Patch("os", "scandir", why="reads a directory", make=_make_scandir),
        Patch("os", "listdir", why="reads a directory", make=_make_listdir),
        Patch("os", "write", why="writes to a descriptor (stdout/stderr are written on replay too)",
              make=_make_write),
        Patch("os", "writev", why="writes to a descriptor", make=_make_writev, optional=True),
        Patch("os", "readv", why="reads from a descriptor into buffers", make=_make_readv, optional=True),
        Patch("os", "preadv", why="reads from a descriptor into buffers", make=_make_readv, optional=True),
        Patch("os", "pwrite", why="writes to a descriptor", key=key_fd_data, optional=True),
        Patch("os", "pwritev", why="writes to a descriptor", key=key_fd_buffers, optional=True),
        *(Patch("os", name, why="reads the file system at a path", make=_make_path_read)
          for name in _PATH_READS),
        *(Patch("os", name, why="a file system call on a path", key=key_path,
                optional=name in _OPTIONAL) for name in _PATH_CALLS),
        *(Patch("os", name, why="a call on a file descriptor", key=key_ints,
                optional=name in _OPTIONAL) for name in _FD_CALLS if name not in _FD_COPIES),
        *(Patch("os", name, why="copies or closes a descriptor (which ones are stdout and stderr)",
                make=_make_fd_copy) for name in _FD_COPIES),
        Patch("os", "open", why="opens a descriptor at a path (/dev/stdout is stdout)", make=_make_fd_copy),
        Patch("fcntl", "flock", why="locks a file", key=key_ints),
        Patch("fcntl", "lockf", why="locks a file", key=key_args),
        Patch("fcntl", "fcntl", why="a call on a file descriptor (F_DUPFD copies one)", make=_make_fd_copy),
        Patch("fcntl", "ioctl", why="a device call on a descriptor (may fill a buffer)", make=_make_ioctl),
    ),
    on_import=(
        OnImport("os", _keep_supports_sets, why="os.supports_* must list the replacements"),
        OnImport("tempfile", _rebind_tempfile_defaults, why="its closer captured os.unlink and runs at exit"),
    ),
    leaves=(  # (io.open's leaf is the patch's: the descriptor, whether it seeks, its size)
        *(Leaf(f"io.FileIO.{name}", why="reads, writes or moves in an open file")
          for name in ("readinto", "read", "readall", "write", "seek", "tell", "truncate", "close")),
    ),
)
