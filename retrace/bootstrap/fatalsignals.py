"""Signals that kill by default end a recording properly (crash safety).

SIGTERM, SIGHUP, SIGALRM, SIGUSR1 and SIGUSR2 terminate a process that does not
handle them: the recording's handler writes what the trace holds and marks its end,
then the process dies of the signal as it would have. Retrace's handlers are no
program's: they are set with ``_signal``'s originals (retrace/originals.py),
captured before the signals family patched it.
"""

from __future__ import annotations

import _signal
import posix

from retrace import originals
from retrace.boundaries import signals as signals_family

FLUSHED_SIGNALS = (_signal.SIGTERM, _signal.SIGHUP, _signal.SIGALRM, _signal.SIGUSR1, _signal.SIGUSR2)
_real_signal = originals.signal
_real_getsignal = originals.getsignal
_real_sigmask = originals.pthread_sigmask


def hold() -> set:
    """Block the flushed signals (a pool terminating a worker that is still setting up its
    recording): they wait until ``release`` with what ``hold`` returned."""
    return _real_sigmask(_signal.SIG_BLOCK, FLUSHED_SIGNALS)


def release(held: set) -> None:
    _real_sigmask(_signal.SIG_SETMASK, held)


def flush_on_fatal_signals(session) -> None:
    """Signals that kill by default: write what we have, then die of the signal as before.

    The handler stands in for SIG_DFL (boundaries/signals.py): the program still
    sees SIG_DFL and may install a handler of its own, which then runs (recorded)
    instead; setting SIG_DFL again puts this one back.
    """

    def flush_and_die(signum, frame):
        if session.closing:  # the trace is being closed (the process is ending): let it finish
            return
        session.engine.end_process("signal", -signum)
        _real_signal(signum, _signal.SIG_DFL)
        posix.kill(posix.getpid(), signum)

    for signum in FLUSHED_SIGNALS:
        if _real_getsignal(signum) == _signal.SIG_DFL:
            if not signals_family.stand_in(signum, flush_and_die):
                _real_signal(signum, flush_and_die)
