"""Per-thread "inside retrace" flag: the one check every boundary makes first.

``ThreadState.busy`` is True while a thread runs a boundary (so nested boundary
calls inside it pass straight through: the outer call is the recorded one) or
runs retrace's own machinery (our writer thread, bootstrap, snapshotting), so the
recorder never records itself. Boundaries set the flag on entry and *delete* it
on exit; a deleted flag falls back to the class attribute, which is therefore a
process-wide switch: ``ThreadState.busy = True`` turns every boundary into a
plain pass-through (used when recording has to stop, e.g. on a full disk).
"""

from __future__ import annotations

import _signal
import _thread

from retrace import originals

_start_new_thread = originals.start_new_thread
_sigmask = originals.pthread_sigmask


class ThreadState(_thread._local):
    busy = False
    slot = None  # this thread's place in the thread scheduler (engine/scheduler.py), if recorded


state = ThreadState()


class untraced:
    """``with untraced():`` — boundary calls inside run for real and are not recorded.

    Use it around retrace's own work on user threads. It nests, and restores
    whatever the thread had before.
    """

    __slots__ = ("_had",)
    # Held by the class: finalizers (a socket's __del__) use it during interpreter
    # shutdown, after this module's globals may have been cleared.
    _state = state

    def __enter__(self):
        self._had = self._state.__dict__.get("busy")
        self._state.busy = True
        return self

    def __exit__(self, *exc_info):
        if self._had is None:
            del self._state.busy
        else:
            self._state.busy = self._had
        return False


def mark_machinery_thread() -> None:
    """Call first thing in a thread of our own: nothing it does is ever recorded."""
    state.busy = True


def start_machinery_thread(function, args=()) -> int:
    """Start a thread of our own that takes no signals (it inherits a mask blocking them
    all): a signal sent to the process must reach a thread of the program, as without
    retrace; a main thread blocked in C (a semaphore wait) wakes only for one it gets."""
    blocked = _sigmask(_signal.SIG_BLOCK, _signal.valid_signals())
    try:
        return _start_new_thread(function, args)
    finally:
        _sigmask(_signal.SIG_SETMASK, blocked)


# Signals that say something went wrong in the thread itself: never blocked (a fault
# while blocked kills the process before faulthandler or the program could see it).
_SYNCHRONOUS = {_signal.SIGSEGV, _signal.SIGBUS, _signal.SIGFPE, _signal.SIGILL, _signal.SIGTRAP,
                _signal.SIGSYS, _signal.SIGABRT}
_FROM_OUTSIDE = _signal.valid_signals() - _SYNCHRONOUS


def hold_signals() -> set:
    """Block the signals sent from outside in this thread; returns the mask to give back
    (``release_signals``). Around a fork: CPython forgets a signal that reaches the
    child before its fork handling resets the signal state, and a child that takes one
    before its recording is its own would write its end into its parent's files."""
    return _sigmask(_signal.SIG_BLOCK, _FROM_OUTSIDE)


def release_signals(mask: set) -> None:
    """The mask ``hold_signals`` took: a signal held meanwhile is delivered now."""
    _sigmask(_signal.SIG_SETMASK, mask)


def stop_all_boundaries() -> None:
    """Every boundary in every thread becomes a pass-through from now on."""
    ThreadState.busy = True
