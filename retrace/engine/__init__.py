"""The record/replay engine, shared by every boundary family.

A boundary family never decides *how* a call is recorded or replayed; it hands
the engine a *leaf*: a named callable whose result is a fact about the outside
world. ``engine.leaf(name, call, ...)`` returns the function to install:

- recording: run ``call`` for real, append its result (or exception) to the trace;
- replaying: do not run ``call``; return (or raise) what the trace says, after
  checking that the program is making the same call the recording made.

Both engines build the same wrappers over the same leaves, so the program's own
control flow is identical in both modes and only leaf results come from the trace.
"""

from __future__ import annotations

from retrace.engine.state import state, untraced

__all__ = ["Engine", "Turn", "state", "untraced"]


class Turn:
    """What a leaf's call does with the thread's turn while recording (engine/scheduler.py).

    Declared once per boundary name (boundaries/spec.py), read when the wrapper is built.
    Strings, not an enum: this loads at interpreter start-up, where importing enum costs.
    """

    RELEASE = "release"  # may block: once threads exist, it runs without the turn (others run meanwhile)
    KEEP = "keep"        # answers at once, or hands the turn over itself (threading.wait, os.fork)
    # KEEP, and a C function that calls no Python (a clock, the pid): cheaper upkeep, and
    # asked for real again after the recorded end (a fact with no effect).
    QUICK = "quick"


class Engine:
    """What every engine offers to boundary families."""

    mode: str  # "record" or "replay"
    threads = None  # the thread scheduler (engine/scheduler.py)
    process_tree = None  # this process's place in the process tree, its children (bootstrap/processes.py)
    output = None  # how stdout and stderr are written: in the tree's order (engine/outputorder.py)
    turns: dict = {}  # boundary name -> its declared Turn where not RELEASE (set by the installer)

    def __init__(self) -> None:
        self.names: list[str] = []
        self._ids: dict[str, int] = {}

    @property
    def recording(self) -> bool:
        return self.mode == "record"

    def boundary_id(self, name: str) -> int:
        bid = self._ids.get(name)
        if bid is None:
            bid = self._ids[name] = len(self.names)
            self.names.append(name)
        return bid

    def leaf(
        self,
        name: str,
        call,
        *,
        key=None,
        store=None,
        load=None,
        depth: int = 1,
        after_end=None,
    ):
        """Wrap ``call`` as the boundary ``name``.

        key(*args, **kwargs)   -> hashable: the arguments that matter, fingerprinted
                                  into the event and checked on replay.
        store(result, args, kwargs) -> what to keep of a result (default: the result).
        load(stored, args, kwargs)  -> what replay returns (default: the stored value);
                                  out-parameter calls copy into their buffer here.
        depth: how many frames up the user's call site is (1: the wrapper's caller).
        What the call does with the thread's turn is not an argument: it is declared
        with the name (``self.turns``, from the families' declarations; see ``Turn``).
        after_end(*args, **kwargs) -> replay's answer to the call after the recorded end
               (a finalizer's, at interpreter exit: the recording made it unrecorded).
        """
        raise NotImplementedError

    def end_process(self, how: str, status: int | None = None, why: str | None = None) -> None:
        """The process is ending (``how``: exit, os._exit, signal; or retrace stopped
        recording, saying ``why``)."""
