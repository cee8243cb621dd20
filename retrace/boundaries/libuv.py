"""uvloop: under retrace its programs run on asyncio's own event loop.

uvloop's loop is libuv, in C: it reads and writes its sockets, pipes and files there,
so the recording would see none of that I/O, and a replay would hand recorded (not
open) descriptors to libuv. asyncio's selector loop does the same work through
``socket``, ``select`` and ``os`` calls, which are boundaries. So ``uvloop.new_event_loop``
(what ``uvloop.run``, ``uvloop.install``'s policy and ``asyncio.Runner(loop_factory=...)``
use) makes asyncio's loop, in both modes, as an instance of ``uvloop.Loop`` (which is
then a subclass of asyncio's ``SelectorEventLoop``): the program's coroutines,
transports and protocols run as they would, recorded. What differs from a plain run:
the loop's speed is asyncio's, and uvloop-only methods are missing.
"""

from __future__ import annotations

from retrace.boundaries.spec import Family, OnImport, Patch, replacing


def _make_loop(engine, original, name):
    import asyncio

    class Loop(asyncio.SelectorEventLoop):
        """uvloop.Loop, as asyncio's selector loop (``isinstance(loop, uvloop.Loop)`` holds)."""

    Loop.__module__, Loop.__qualname__ = original.__module__, original.__qualname__
    return Loop


def _make_new_event_loop(engine, original, name):
    import uvloop  # (being patched: its Loop is ours already)

    loop_class = uvloop.Loop

    def new_event_loop():
        return loop_class()

    return replacing(new_event_loop, original)


def _run_makes_our_loop(engine, uvloop):
    """``uvloop.run(main, loop_factory=new_event_loop)`` took the original as its default."""
    run = getattr(uvloop, "run", None)
    defaults = getattr(run, "__kwdefaults__", None)
    if not defaults or "loop_factory" not in defaults:
        return None
    previous = defaults["loop_factory"]
    defaults["loop_factory"] = uvloop.new_event_loop

    def undo():
        defaults["loop_factory"] = previous

    return undo


FAMILY = Family(
    name="libuv",
    doc=__doc__,
    patches=(
        # (in this order: new_event_loop makes the Loop patched first)
        Patch("uvloop", "Loop", why="libuv does the loop's I/O in C: asyncio's loop does it through boundaries",
              make=_make_loop),
        Patch("uvloop", "new_event_loop", why="makes uvloop's Loop (asyncio's, under retrace)",
              make=_make_new_event_loop),
    ),
    on_import=(OnImport("uvloop", _run_makes_our_loop, why="run() holds new_event_loop as a default"),),
)
