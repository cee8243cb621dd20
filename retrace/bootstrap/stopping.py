"""Ending a replay, from wherever it must end: replay.py's failures, timetravel's
debugger sessions, the program's end.

Below both bootstrap/replay.py and bootstrap/timetravel.py, which import it (not each
other). ``session`` is this process's replay session, set by replay.py's ``prepare``.
"""

from __future__ import annotations

import posix
import sys

from retrace.bootstrap import mainentry
from retrace.engine.state import stop_all_boundaries

session = None  # the ReplaySession of this process (bootstrap/replay.py), once prepared


def stop_replaying() -> None:
    """From here on nothing is replayed; what the program printed so far is out (in its
    turn, in the replay of a tree: then its turns left are handed on)."""
    stop_all_boundaries()
    mainentry.remove_pending()  # (a replay that ends before its program's first line)
    flush_std_streams()
    if session is not None:
        session.engine.output.end()
        if session._turn_counter is not None and posix.getpid() == session._pid:
            session._turn_counter.remove()


def flush_std_streams() -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            pass
