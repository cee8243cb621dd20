"""Process endings that skip ``atexit``: the trace must be complete before they happen.

``os._exit`` is recorded as an event, then the trace is closed with its end
marker, then the real ``_exit`` runs (on replay too: ending is not the world).
Normal exits and uncaught exceptions end the trace from the bootstrap's atexit
handler. ``sys.exit`` is watched, not recorded: at atexit the interpreter no
longer tells what the exit code will be, and the recording's index (``inspect``)
wants it.
"""

from __future__ import annotations

from retrace.boundaries.spec import Family, Patch, replacing


def _make_exit(engine, original, name):
    announce = engine.leaf(name, lambda status: None, key=lambda status: status, depth=2)

    def _exit(status):
        announce(status)
        engine.end_process("os._exit", status)
        original(status)

    _exit.__wrapped__ = original
    return _exit


class ExitRequest:
    """The code of the last ``sys.exit`` call (a caught SystemExit is not told apart)."""

    code = None
    requested = False


def exit_status(code) -> int:
    """What the interpreter makes of ``SystemExit(code)``."""
    if code is None:
        return 0
    return code & 0xFF if type(code) is int else 1


def _make_sys_exit(engine, original, name):
    def exit(status=None):
        ExitRequest.code, ExitRequest.requested = status, True
        original(status)

    return replacing(exit, original)


FAMILY = Family(
    name="exits",
    doc=__doc__,
    patches=(
        Patch("os", "_exit", why="ends the process without atexit", make=_make_exit),
        Patch("sys", "exit", why="its code is the process's exit status (watched, not recorded)",
              make=_make_sys_exit),
    ),
)
