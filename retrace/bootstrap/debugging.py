"""Debugging a replay: the debugger looks at the program but is no part of it.

A debugger runs in the replayed process: its threads, its sockets to the IDE, its
reads of source files, the expressions it evaluates and the waits of a thread
stopped at a breakpoint all make calls that are boundaries. None of them may take
a recorded event. Three things keep it out:

- **Whose call is it.** While debugging, ``ThreadState.busy`` has no fixed
  default: a thread with no explicit flag asks ``in_debugger()``, which walks its
  stack from the call down to where the program's code begins (the replay's
  ``install`` and ``run_main``, a scheduled thread's bootstrap). A debugger frame on the way
  (debugpy and its pydevd, pdb) makes the call the debugger's: it runs for real,
  unrecorded, like retrace's own work. So does code the debugger runs for the user
  (an expression in the debug console): it never takes the program's events.
- **Its imports are its own.** Modules the program imports run code at import
  time (``logging`` reads the clock, ``random`` seeds from the entropy pool) and
  the recording holds those calls where the program imported them. A debugger
  loaded first would import them earlier, without events, and the program's own
  import would find them done. So before the boundaries are installed, the pure
  Python modules the debugger brought in that the recorded process did not have
  at that point are taken out of ``sys.modules`` (the debugger keeps its
  references); the program imports its own copies, as it did when recorded.
  ``threading`` stays shared: the debugger must see the program's threads.
- **No stall timeout.** A thread stopped at a breakpoint holds its turn for as
  long as the user looks; the other threads wait for it without a divergence.
"""

from __future__ import annotations

import os
import sys

from retrace.messages import say
from retrace.engine.state import ThreadState

# Packages whose frames are the debugger's (pydevd is vendored inside debugpy).
DEBUGGER_PACKAGES = ("debugpy",)
# Stdlib debugger modules: their frames are the debugger's too (pdb, and bdb below it).
DEBUGGER_STDLIB = ("pdb", "bdb")
# Shared with the debugger even when the recorded process had not imported it yet
# (warnings: pydevd's catch_warnings() reads sys.modules["warnings"]; from 3.13 a process
# may start without it). Their import makes no boundary call.
SHARED_MODULES = frozenset({"threading", "_threading_local", "_weakrefset", "warnings"})
_STDLIB_DYNLOAD = os.path.join(os.path.dirname(os.__file__), "lib-dynload", "")

_OTHER, _DEBUGGER, _ROOT = 0, 1, 2
_kinds: dict = {}
_debugger_dirs: tuple[str, ...] = ()
_debugger_files: frozenset = frozenset()
_getframe = sys._getframe


def in_debugger() -> bool:
    """Whether the calling thread is running the debugger's code (or code the debugger
    runs for the user) rather than the program's."""
    frame = _getframe(2)
    kinds = _kinds
    while frame is not None:
        code = frame.f_code
        kind = kinds.get(code)
        if kind is None:
            kind = kinds[code] = _kind_of(code.co_filename)
        if kind == _DEBUGGER:
            return True
        if kind == _ROOT:
            return False
        frame = frame.f_back
    return False


def _kind_of(filename: str) -> int:
    if filename in _debugger_files or filename.startswith(_debugger_dirs):
        return _DEBUGGER
    return _OTHER


class _DebuggerAware:
    """``ThreadState.busy``'s default while debugging: a non-data descriptor, so a
    thread's explicit flag (inside a boundary, retrace's own work) still wins."""

    def __get__(self, instance, owner=None) -> bool:
        return in_debugger()


def program_bottom(frame):
    """The program's outermost frame below ``frame`` (under it: retrace's run_main, a
    scheduled thread's bootstrap, and whatever started the replay)."""
    while frame.f_back is not None and _kinds.get(frame.f_back.f_code) != _ROOT:
        frame = frame.f_back
    return frame


def program_roots(*functions) -> None:
    """Where the program's stacks begin: frames below these are not the program's."""
    for function in functions:
        _kinds[function.__code__] = _ROOT


def keep_debugger_out(session) -> None:
    """From now on, calls made by the debugger in this process are not the program's."""
    _kinds.clear()
    from retrace.engine.scheduler import Scheduler

    # The install's own boundary calls (stdin's facts, a reseed) are the program's too:
    # when recording, they were made before the program's first line.
    program_roots(type(session).install, type(session).run_main, Scheduler._bootstrap)
    session.engine.threads.stall_seconds = float("inf")  # a thread may sit at a breakpoint
    _recorded_files_exist(session)
    ThreadState.busy = _DebuggerAware()


def _recorded_files_exist(session) -> None:
    """pydevd refuses a breakpoint in a file that does not exist: the program's files
    exist in run/ whatever became of them since (edited, deleted, another machine)."""
    utils = sys.modules.get("pydevd_file_utils")
    if utils is None or getattr(utils.exists, "_retrace", False):
        return
    from retrace.recording import snapshot_root

    real_exists = utils.exists
    recording, code_root = session.recording, snapshot_root(session.settings)

    def exists(filename):
        if real_exists(filename):
            return True
        return os.path.isabs(filename) and os.path.isfile(recording.run_path_for(filename, code_root))

    exists._retrace = True
    utils.exists = exists
    # An IDE that launched this process set its breakpoints before the replay began:
    # those refused then are taken again (the API keeps them as they were received).
    pydevd = sys.modules.get("pydevd")
    py_db = pydevd.get_global_debugger() if pydevd is not None else None
    if py_db is not None and py_db.api_received_breakpoints:
        from _pydevd_bundle.pydevd_api import PyDevdAPI

        PyDevdAPI().reapply_breakpoints(py_db)


def _locate_debuggers() -> None:
    """Where the debugger's code is: debugpy (with pydevd inside), pdb and bdb."""
    global _debugger_dirs, _debugger_files
    dirs = []
    for name in DEBUGGER_PACKAGES:
        module = sys.modules.get(name)
        path = getattr(module, "__file__", None)
        if path:
            here = os.path.dirname(path)
            dirs += [here + os.sep, os.path.realpath(here) + os.sep]
    _debugger_dirs = tuple(dict.fromkeys(dirs))
    files = set()
    for name in DEBUGGER_STDLIB:
        spec_origin = getattr(sys.modules.get(name), "__file__", None)
        if spec_origin is None:
            from importlib.util import find_spec

            spec = find_spec(name)
            spec_origin = spec.origin if spec is not None else None
        if spec_origin:
            files.update({spec_origin, os.path.realpath(spec_origin)})
    _debugger_files = frozenset(files)


def forget_modules_the_recording_lacked(recorded: list | None, before: set | None = None,
                                        keep=frozenset()) -> list[str]:
    """Take out of ``sys.modules`` the pure Python modules the recorded process did not
    have when its boundaries were installed, but this one imported since: for the
    replay's own start (json, re, enum, runpy...) or a debugger (``before``: what this
    process had before the debugger started, when known, is kept). The program imports
    them again where it did when recorded, so what an import does happens at the
    recorded point: reads of the world at import (logging's clock, random's seeding),
    and the import machinery's own code (a thread switched out in a finder). ``keep``:
    modules the boundary installer has patched (a fresh copy would not be)."""
    if recorded is None:
        return []
    had = set(recorded)
    gone = []
    for name, module in list(sys.modules.items()):
        if name in had or (before is not None and name in before) or _shared(name) or name in keep:
            continue
        path = getattr(module, "__file__", None)
        if (path is None and name in sys.builtin_module_names) or (
                isinstance(path, str) and path.startswith(_STDLIB_DYNLOAD) and path.endswith(".so")):
            pass  # the stdlib's own C modules (_sre, _json): imported again, they are made again
        elif not isinstance(path, str) or not path.endswith(".py") or path.startswith(_debugger_dirs):
            continue  # another C extension, or the debugger's own
        if name.partition(".")[0] in DEBUGGER_PACKAGES + ("retrace", "retrace_launcher"):
            continue
        del sys.modules[name]
        gone.append(name)
    return gone


def _shared(name: str) -> bool:
    return name in SHARED_MODULES or name.startswith("encodings.")


def debugger_running() -> bool:
    """A debugger loaded this process before the replay (an IDE's launch)."""
    return "pydevd" in sys.modules or "debugpy.server" in sys.modules


def prepare(session, listen: str | None = None, wait: bool = False) -> None:
    """Before the boundaries are installed: start debugpy if asked (``listen`` on
    HOST:PORT, ``wait`` for the IDE), then keep the debugger, whichever it is, out of
    the replay."""
    before = None
    if listen:
        before, path = set(sys.modules), list(sys.path)
        _start_debugpy(session, listen, wait)
        # pydevd imports from its own sys.path entries as it goes: the replayed program's
        # sys.path keeps them after its recorded entries (replay.py's run_main).
        session.startup_path += [entry for entry in sys.path if entry not in path]
    _locate_debuggers()
    forget_modules_the_recording_lacked(session.settings.get("modules_at_start"), before)
    keep_debugger_out(session)


def _start_debugpy(session, listen: str, wait: bool) -> None:
    """``debugpy.listen`` on HOST:PORT. Its adapter process must not start as a replay:
    it gets this environment without retrace's start-up settings."""
    import debugpy

    from retrace.launch import helper_env

    host, _, port = listen.rpartition(":")
    # pydevd warns that the stdlib is frozen (breakpoints in it may be missed): noise here.
    os.environ.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")
    env = helper_env()
    debugpy.configure(subProcess=False, pythonEnv=env)
    host, port = debugpy.listen((host or "127.0.0.1", int(port)))
    _recorded_files_exist(session)  # before the IDE sets its breakpoints
    if wait:
        say(f"replay waiting for a debugger to attach at {host}:{port}")
        debugpy.wait_for_client()
    else:
        say(f"debugger listening at {host}:{port}")
