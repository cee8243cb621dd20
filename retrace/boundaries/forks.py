"""Forks: a forked child records into a recording of its own; replay forks at the same event.

Recording: ``os.fork`` (and ``os.forkpty``, whose value is the pid and the terminal's
descriptor) is a leaf whose value is the child's pid (in the parent) or 0
(in the child). Before forking, the session names the child (``processes/<id>/``,
ids in fork order: ``0.1`` is the root's first child, ``0.1.2`` that child's second);
the child, right after the fork, opens its own trace there and goes on recording, so
its first event is its own ``os.fork`` returning 0.

Replay: at a recorded fork the replaying parent takes its event (the recorded pid),
then forks for real; the child follows its own recording from its first event on.
Waiting for a child (``os.waitpid`` without ``WNOHANG``) waits for the real replayed
child first, so the parent goes on where it did when recorded, after the child's
output (subprocesses.py).

Signals from outside are held while os.fork runs (engine/state.py's hold_signals):
a signal reaching the child before its recording is its own would be lost (CPython's
fork handling clears what arrived) or would end the parent's trace from the child.
A child killed before it recorded anything has no trace; in the whole tree's replay
it dies again at once (bootstrap/replay.py).

Known limits: children forked by C code (a ``preexec_fn`` of subprocess, an
extension) are not recorded; the output of a parent and a child that run at the same
time interleaves as it happens.
"""

from __future__ import annotations

import sys

from retrace.boundaries.spec import Family, Patch, Turn, replacing
from retrace.engine.state import hold_signals, release_signals, state

# From 3.12 os.fork warns, in the parent, when the process has more than one thread: it
# counts the OS's threads, retrace's own among them. The C warning is silenced and the one
# a plain run gives is issued instead, from the program's threads (the scheduler's, the
# same in both runs), at the program's call (_warn_of_threads).
_FORK_WARNS_OF_THREADS = sys.version_info >= (3, 12)


def _outcome(value):
    """The leaf's call: the fork already happened (outside the leaf, so that the child's
    fork hooks, randomness reseeding it, are recorded as the child's first events)."""
    if isinstance(value, BaseException):
        raise value
    return value


def _pid(result) -> int:
    """os.fork's result, or the pid in os.forkpty's (pid, descriptor)."""
    return result[0] if type(result) is tuple else result


def _make_fork(engine, original, name):
    # The baton stays with the forking thread (the only one the child will have): Turn.KEEP.
    leaf = engine.leaf(name, _outcome, depth=2)
    recording = engine.recording

    def fork():
        tree = engine.process_tree
        if state.busy or tree is None:
            return original()
        child = tree.next_child()
        if not recording:
            pid = leaf(None)  # the parent's recorded answer (or the error fork raised)
            if not tree.follows(child):
                _warn_of_threads(engine, name)
                return pid  # --process names a process elsewhere in the tree: this child is not run
        # The child's fork hook opens its trace / switches to its recording (bootstrap/).
        tree.forking = child
        held = hold_signals()  # (until the child records as itself: see hold_signals)
        try:
            real = _quietly(original) if _FORK_WARNS_OF_THREADS else original()
        except OSError as exc:
            return leaf(exc)
        finally:
            tree.forking = None
            release_signals(held)
        if _pid(real) == 0:
            return leaf(real)  # the child: its own first fork event, 0
        if recording:
            pid = leaf(real)
        else:
            if tree.on_the_way:
                tree.hand_over_to(_pid(real))  # --process: on the way to the replayed process
            tree.replayed_children[_pid(pid)] = _pid(real)
        _warn_of_threads(engine, name)
        return pid

    return replacing(fork, original)


def _quietly(original):
    """The real fork without its own warning of threads (the forking thread holds the
    turn: no other thread of the program runs Python meanwhile)."""
    import warnings

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", r"This process \(pid=\d+\) is multi-threaded", DeprecationWarning)
        return original()


def _warn_of_threads(engine, name: str) -> None:
    """The parent's warning of a plain run, if the program has other threads: its pid is
    read through os.getpid (an event after the fork's: the recorded pid on replay)."""
    if not _FORK_WARNS_OF_THREADS or sum(1 for slot in engine.threads.slots if not slot.finished) <= 1:
        return
    import os
    import warnings

    warnings.warn(f"This process (pid={os.getpid()}) is multi-threaded, use of {name.rpartition('.')[2]}() "
                  "may lead to deadlocks in the child.", DeprecationWarning, stacklevel=3)


FAMILY = Family(
    name="forks",
    doc=__doc__,
    patches=(
        Patch("os", "fork", why="a child process: it records into a recording of its own", make=_make_fork,
              turn=Turn.KEEP),
        Patch("os", "forkpty", why="a child process on a new terminal: as os.fork", make=_make_fork,
              optional=True, turn=Turn.KEEP),
    ),
)
