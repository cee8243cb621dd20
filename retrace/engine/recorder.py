"""The recording engine: run leaves for real and append their results.

The hot path of a leaf is: one thread-local check, the real call, one
``sys._getframe`` for the call site, one ``list.append``. Encoding and I/O happen
in the TraceWriter's flusher thread.
"""

from __future__ import annotations

import sys

from retrace import originals
from retrace.engine import Engine, Turn, wrappers
from retrace.engine.garbage import RecordedCollections, gc_count
from retrace.engine.scheduler import RecordScheduler
from retrace.engine.state import (
    mark_machinery_thread,
    start_machinery_thread,
    state,
    stop_all_boundaries,
    untraced,
)
from retrace.trace.format import IMPORTS_ID, SIZE_CAP, STOPPED
from retrace.trace.values import SCALARS, Raised, raised_to_wire, to_wire
from retrace.trace.writer import TraceWriter

_real_time = originals.time
BACKLOG = 20_000  # pending events (about 2 MB) before the recording thread writes them itself
# A wrapper does its upkeep (backlog, garbage collection) when the count of pending events
# is a multiple of this: an allocation count costs as much as a clock read's whole wrapper.
UPKEEP_EVERY = 4
UPKEEP_EVERY_QUICK = 16


class _NeverReleases:
    """For leaves that keep the turn (``Turn.KEEP``, ``Turn.QUICK``)."""

    idle = True


_NEVER_RELEASES = _NeverReleases()


def _capture(exc: BaseException):
    return raised_to_wire(Raised.capture(exc))


def _described(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


class Recorder(Engine):
    mode = "record"

    def __init__(self, trace_path: str, header: dict, *, warn) -> None:
        super().__init__()
        self._warn = warn
        self.writer = TraceWriter(
            trace_path, header, on_failure=self._writer_failed, thread_setup=mark_machinery_thread,
            start_thread=start_machinery_thread,
        )
        self.writer.names = self.names_by_id = {}
        self.ended = False
        self.threads = RecordScheduler(self.writer.events.append)
        self.garbage = RecordedCollections(self.writer.events.append)

    def start(self) -> None:
        self.writer.start_flusher()

    def boundary_id(self, name: str) -> int:
        bid = super().boundary_id(name)
        self.names_by_id[bid] = name
        return bid

    def limit_size(self, limit: int, described: str) -> None:
        """Stop recording, cleanly, once the trace has ``limit`` bytes (RETRACE_MAX_SIZE)."""
        def reached():
            self._warn(f"recording stopped at its size cap ({described}); the program goes on unrecorded")
            self.end_process(SIZE_CAP, None)

        self.writer.limit = limit
        self.writer.on_limit = reached

    def _writer_failed(self, exc: BaseException) -> None:
        stop_all_boundaries()
        self.threads.stop()
        self.garbage.stop()
        if isinstance(exc, OSError):
            reason = f"cannot write the trace ({exc.strerror or exc})"
        else:
            reason = f"an internal error in the trace writer ({_described(exc)})"
        self._warn(f"recording stopped, the program goes on unrecorded: {reason}")

    def _imported(self, loaded: int) -> None:
        """A boundary call imported modules for the first time (``platform.processor()``
        imports subprocess): their import-time calls ran inside it, unrecorded. Noted before
        its event, so that replay imports them inside the same call (the program later finds
        them imported, as it did). Only with one thread running: another thread's imports,
        made meanwhile, are that thread's own."""
        if not self.threads.idle:
            return
        names = list(sys.modules)[loaded:]
        if names:
            self.writer.events.append((IMPORTS_ID, None, 0, names, None))

    def _bookkeeping_failed(self, exc: BaseException, bid: int) -> None:
        """A boundary wrapper could not note its call (engine/templates.py)."""
        self.stop_recording(f"an internal error recording {self.names_by_id.get(bid, '?')} ({_described(exc)})")

    def stop_recording(self, reason: str) -> None:
        """Retrace cannot go on recording safely: say so once, end the trace where it is
        (a replay stops there and says why), and let the program go on unrecorded."""
        if self.ended:
            return
        with untraced():
            try:
                self._warn(f"recording stopped, the program goes on unrecorded: {reason}")
                self.end_process(STOPPED, None, why=reason)
            except Exception:  # (worse: at least nothing more is recorded)
                self.ended = True
                stop_all_boundaries()
                self.threads.stop()
                self.garbage.stop()

    def leaf(self, name, call, *, key=None, store=None, load=None, depth=1, after_end=None):
        turn = self.turns.get(name, Turn.RELEASE)
        quick = turn == Turn.QUICK
        namespace = {
            "state": state, "call": call, "key": key, "store": store, "depth": depth,
            "sched": self.threads if turn == Turn.RELEASE else _NEVER_RELEASES,
            "bid": self.boundary_id(name), "append": self.writer.events.append,
            "getframe": sys._getframe, "scalars": SCALARS, "encode": to_wire,
            "capture": _capture, "pending": self.writer.events, "upkeep": self._upkeep,
            "every": (UPKEEP_EVERY_QUICK if quick else UPKEEP_EVERY) - 1,
            "broken": self._bookkeeping_failed, "modules": sys.modules, "imported": self._imported,
        }
        if key is None and store is None:
            template = "record_quick" if quick else "record_plain"
        else:
            template = "record_keyed"
        return wrappers.build(template, name, call, namespace)

    def _upkeep(self, _count=gc_count) -> None:
        """Every few events, on a boundary call's way in (engine/templates.py).

        The program records faster than the flusher thread writes (it shares the GIL):
        past ``BACKLOG`` pending events the recording thread writes them itself. That is
        the back-pressure that keeps memory bounded (a slow disk slows the program).
        Then cyclic garbage is collected here if it is due (engine/garbage.py)."""
        try:
            if len(self.writer.events) > BACKLOG:
                with untraced():
                    self.writer.flush()
            garbage = self.garbage
            if garbage.due < _count()[0]:
                garbage.collect_due()
        except Exception as exc:  # (a failure of ours: never the program's)
            self.stop_recording(f"an internal error in its upkeep ({_described(exc)})")

    def note(self, name: str, value, frame) -> None:
        """Append an event that is no call's result (a signal handler's run, from
        boundaries/signals.py), at ``frame``'s line."""
        code, line = (None, 0) if frame is None else (frame.f_code, frame.f_lineno)
        self.writer.events.append((self.boundary_id(name), code, line, to_wire(value), None))

    def end_process(self, how: str, status: int | None = None, why: str | None = None) -> None:
        if self.ended:
            return
        self.ended = True
        end = {"how": how, "status": status, "time": _real_time(), "events": self.writer.events_so_far(locked=False)}
        if why is not None:
            end["why"] = why
        handles = self.__dict__.get("_rt_handles")
        if handles is not None:
            try:
                kept = handles.state_at_the_end()
            except Exception:  # (never into the program: its end is recorded all the same)
                kept = None
            if kept:
                end["handles"] = kept
        self.writer.close(end)
        # Interpreter shutdown (finalizers, module teardown) runs after this point at
        # moments replay cannot reproduce: from here on calls are real and unrecorded.
        stop_all_boundaries()
        self.threads.stop()
        self.garbage.stop()

    def start_child(self, trace_path: str, header: dict) -> None:
        """In a forked child: record on, into the child's own trace."""
        self.threads.reset_for_child()
        self.writer.restart_in_child(trace_path, header)
        self.ended = False

    def after_fork_in_child(self) -> None:
        """A child forked by code other than os.fork (a C extension): it must not write into
        the parent's trace, and has no recording of its own."""
        self.ended = True
        self.writer.abandon_after_fork()
        stop_all_boundaries()
        self.garbage.stop()
        self.threads.after_fork_in_child()
