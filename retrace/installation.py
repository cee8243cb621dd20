"""Where the running interpreter's code lives: the standard library, site-packages, retrace.

Files there are not the outside world of the program: replay imports from this same
installation (only the program's own code is snapshotted into ``run/``). So the code
snapshot skips them, and reading them -- ``inspect`` and ``linecache`` looking at a
module's source, package metadata, a package's data files -- is done for real in both
modes and never recorded (boundaries/files.py). That also keeps a walk over
``sys.modules`` (``inspect.getmodule``) out of the trace: the replay's modules are not
the recorder's (retrace's own machinery differs, and the modules it uses).
"""

from __future__ import annotations

import os
import site  # (already imported at start-up; imported here, not when first needed: that may be at exit)
import sys

from retrace import originals
from retrace.engine.state import untraced

_get_ident = originals.get_ident

_roots: tuple[str, ...] | None = None
_lock = originals.allocate_lock()
_working = None  # the thread working the roots out
_ways_in: frozenset = frozenset()  # the roots without their separator, and the directories above them


def holds(path) -> bool:
    """Whether ``path`` (a str or a path object: other types say no) is in the installation,
    or is one of the directories leading to it (``os.path.realpath`` of a module's file
    looks at each)."""
    if type(path) is not str:
        fspath = getattr(type(path), "__fspath__", None)
        if fspath is None:
            return False
        try:
            path = fspath(path)
        except Exception:
            return False
        if type(path) is not str:
            return False
    return path.startswith(_roots if _roots is not None else roots()) or path in _ways_in


def roots() -> tuple[str, ...]:
    """The installation's directories, each ending in a separator, as written and with
    links resolved. sysconfig's own answer would cost ~1.5 ms: worked out from sys and
    site instead (~0.1 ms, once per process, when first needed, by whichever thread
    needs it first: the others wait). Its own file calls are not recorded, and see no
    installation while it works."""
    global _roots, _ways_in, _working
    if _roots is not None:
        return _roots
    if _working == _get_ident():
        return ()
    with _lock:
        if _roots is None:
            _working = _get_ident()
            try:
                with untraced():
                    found = _find()
                ways_in = set()
                for root in found:
                    if not root.endswith(os.sep):
                        continue  # ("<frozen ": no directories lead there)
                    path = root.rstrip(os.sep)
                    while path and path not in ways_in:
                        ways_in.add(path)
                        path = os.path.dirname(path) if path != os.sep else ""
                _ways_in = frozenset(ways_in)
                _roots = found
            finally:
                _working = None
    return _roots


def forget() -> None:
    """Work the roots out again when next needed (replay: the recorded environment is in
    place now)."""
    global _roots, _ways_in
    with _lock:
        _roots, _ways_in = None, frozenset()


def _after_fork_in_child() -> None:
    """A fork while another thread was working the roots out: that thread is gone in the
    child, with the lock it held; the child works them out again when it needs them."""
    global _roots, _lock, _working
    if _working is not None:
        _roots, _working = None, None
    _lock = originals.allocate_lock()


os.register_at_fork(after_in_child=_after_fork_in_child)


def _find() -> tuple[str, ...]:
    found = set()
    version = f"python{sys.version_info[0]}.{sys.version_info[1]}"
    for prefix in {sys.prefix, sys.exec_prefix, sys.base_prefix, sys.base_exec_prefix}:
        found.add(os.path.join(prefix, sys.platlibdir, version))
    found.update(site.getsitepackages())
    # The user's site-packages as the program works it out from its environment: on replay
    # the recorded one (HOME, PYTHONUSERBASE), not the replaying machine's, which site found
    # at start-up; the directories leading to either would be read unrecorded (a HOME inside
    # the program's tree would hide its reads from the trace). Only where python looks there
    # (not in a virtualenv) and it exists: otherwise no module comes from it, and the
    # directories leading to it (HOME, the project above it) are the program's world.
    user_site = site._get_path(site._getuserbase())
    if site.ENABLE_USER_SITE and os.path.isdir(user_site):  # (untraced: not recorded)
        found.add(user_site)
    found.add(os.path.dirname(os.__file__))
    found.add(os.path.dirname(os.path.abspath(__file__)))  # retrace itself, wherever it is
    found |= {os.path.realpath(path) for path in found}
    # The pseudo-files of frozen modules ("<frozen runpy>"): a stack walk (inspect.stack(),
    # coverage, an HTTP CLI) stats them, and replay's own start has frames of them too.
    return (*sorted(path.rstrip(os.sep) + os.sep for path in found), "<frozen ")
