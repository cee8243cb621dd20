"""Process endings that skip ``atexit``: the trace must be complete before they happen.

``os._exit`` is recorded as an event, then the trace is closed with its end
marker, then the real ``_exit`` runs (on replay too: ending is not the world).
Normal exits and uncaught exceptions end the trace from the bootstrap's atexit
handler.
"""

from __future__ import annotations

from retrace.boundaries.spec import Family, Patch


def _make_exit(engine, original, name):
    announce = engine.leaf(name, lambda status: None, key=lambda status: status, depth=2)

    def _exit(status):
        announce(status)
        engine.end_process("os._exit", status)
        original(status)

    _exit.__wrapped__ = original
    return _exit


FAMILY = Family(
    name="exits",
    doc=__doc__,
    patches=(Patch("os", "_exit", why="ends the process without atexit", make=_make_exit),),
)
