"""Time travel by re-execution: a replay runs the same way every time, so "the third
time line 12 ran" is a place one can go back to.

- ``--list-hits FILE:LINE``: a line tracer counts each run of the line and says,
  on stderr, the hit number, the thread and the last event replayed before it
  (numbered as ``retrace-python events`` numbers them).
- ``--break FILE:LINE[:HIT]``: the replay runs to that hit (the first by default)
  and stops there in pdb, on the terminal; with ``--debug``, debugpy stops there
  instead (a breakpoint with a hit condition; the IDE attaches first).
- ``--post-mortem``: pdb opens on the recorded uncaught exception.

pdb's input is the terminal, never the replayed stdin, and whatever pdb runs (its
commands, the expressions you print) is the debugger's, not the program's
(bootstrap/debugging.py). FILE is the path the program had when recorded, its copy
under ``DIR/run/``, or any trailing part of it (``app.py``, ``pkg/mod.py``).

The tracers use ``sys.settrace``: a replay that is looking for a recorded thread
switch-out or signal spot sets them aside meanwhile, so hits in those stretches
are not seen.
"""

from __future__ import annotations

import os
import posix
import sys
import threading

from retrace.bootstrap import debugging
from retrace.messages import say
from retrace.bootstrap.stopping import stop_replaying
from retrace.engine.state import state, untraced
from retrace.errors import UsageError


class LineSpec:
    """FILE:LINE[:HIT] as the user wrote it."""

    def __init__(self, text: str, *, with_hit: bool) -> None:
        parts = text.rsplit(":", 2 if with_hit else 1)
        if with_hit and len(parts) == 3 and not parts[2].isdigit():
            parts = [f"{parts[0]}:{parts[1]}", parts[2]]  # (a colon in the file name)
        if len(parts) < 2 or not parts[1].isdigit() or not parts[0]:
            form = "FILE:LINE[:HIT]" if with_hit else "FILE:LINE"
            raise UsageError(f"{text!r} is not {form}")
        self.text = text
        self.file = parts[0]
        self.line = int(parts[1])
        self.hit = int(parts[2]) if len(parts) == 3 else 1
        if self.line < 1 or self.hit < 1:
            raise UsageError(f"{text!r}: lines and hits count from 1")

    def resolve(self, recording, code_root: str | None) -> None:
        """A path under run/ stands for the recorded path it keeps."""
        path = os.path.abspath(self.file)
        run_dir = os.path.realpath(recording.run_dir) + os.sep
        real = os.path.realpath(path)
        if real.startswith(run_dir):
            self.file = recording.original_path_for(real, code_root)

    def matches(self, filename: str) -> bool:
        if os.path.isabs(self.file):
            return os.path.normpath(filename) == os.path.normpath(self.file)
        return filename == self.file or filename.endswith(os.sep + self.file)


class LineWatch:
    """Counts the runs of one line in every thread (``sys.settrace``, locally only in
    frames of matching code); ``on_hit(frame, count)`` at each."""

    def __init__(self, spec: LineSpec, on_hit) -> None:
        self.spec = spec
        self.on_hit = on_hit
        self.count = 0
        self.seen_file = False
        self.active = False
        self._codes: dict = {}

    def start(self) -> None:
        self.active = True
        sys.settrace(self._global)
        threading.settrace(self._global)

    def stop(self) -> None:
        self.active = False
        sys.settrace(None)
        threading.settrace(None)

    def _global(self, frame, event, arg):
        if not self.active:
            return None
        code = frame.f_code
        wanted = self._codes.get(code)
        if wanted is None:
            wanted = self._codes[code] = self.spec.matches(code.co_filename)
            self.seen_file = self.seen_file or wanted
        return self._local if wanted else None

    def _local(self, frame, event, arg):
        if event == "line" and frame.f_lineno == self.spec.line:
            self.count += 1
            self.on_hit(frame, self.count)
        # (what a local trace function returns becomes the frame's: pdb's, once it took over)
        return self._local if self.active else frame.f_trace


def list_hits(session, text: str) -> None:
    spec = LineSpec(text, with_hit=False)
    spec.resolve(session.recording, _code_root(session))
    engine = session.engine

    def on_hit(frame, count):
        thread = state.slot.tid if state.slot is not None else 0
        last = engine.source.index - 1
        after = f"after event #{last}" if last >= 0 else "before any event"
        say(f"hit {count} of {spec.text}: thread {thread}, {after}")

    watch = LineWatch(spec, on_hit)
    session.at_end.append(lambda: _summary(watch, spec))
    watch.start()


def _summary(watch: LineWatch, spec: LineSpec) -> None:
    if watch.count:
        say(f"{spec.text} ran {watch.count} time{'s' if watch.count != 1 else ''}")
    elif watch.seen_file:
        say(f"{spec.text} never ran")
    else:
        say(f"{spec.text} never ran: no code from a file {spec.file!r} ran")


def break_at(session, text: str, debugger: bool) -> None:
    spec = LineSpec(text, with_hit=True)
    spec.resolve(session.recording, _code_root(session))
    if debugger:
        _debugpy_breakpoint(spec, session)
        return

    def on_hit(frame, count):
        if count == spec.hit:
            watch.stop()
            say(f"stopped at hit {count} of {spec.file}:{spec.line} (pdb; `c` goes on, `q` ends the replay)")
            debugger = pdb_session()
            debugger.set_trace(frame)  # pdb traces from here on (steps, breakpoints)...
            debugger.botframe = debugging.program_bottom(frame)  # (`where` shows the program's frames)
            debugger.interaction(frame, None)  # ...and stops on this line, before it runs

    def never_came():
        if watch.count < spec.hit:
            times = f"{watch.count} time{'s' if watch.count != 1 else ''}"
            say(f"{spec.file}:{spec.line} ran {times}: hit {spec.hit} never came")

    watch = LineWatch(spec, on_hit)
    session.at_end.append(never_came)
    watch.start()


def _debugpy_breakpoint(spec: LineSpec, session) -> None:
    """A debugpy breakpoint that stops at the hit (pydevd counts the hits), in each
    recorded file that FILE names. An IDE that sets breakpoints in the same file
    replaces it, as it replaces its own."""
    import pydevd
    from _pydevd_bundle.pydevd_api import PyDevdAPI

    py_db = pydevd.get_global_debugger()
    api = PyDevdAPI()
    paths = recorded_files(session, spec)
    if not paths:
        raise UsageError(f"--break {spec.text}: the recording holds no file {spec.file!r}")
    for number, path in enumerate(paths, start=_BREAKPOINT_IDS):
        api.add_breakpoint(py_db, path, "python-line", number, spec.line, None, "None", None, "NONE",
                           f"@HIT@ == {spec.hit}", False)


_BREAKPOINT_IDS = 1_000_000  # (an IDE numbers its own breakpoints from 0)


def recorded_files(session, spec: LineSpec) -> list[str]:
    """The recorded paths of the snapshot's files that ``spec`` names."""
    code_root, found = _code_root(session), []
    for directory, _, names in os.walk(session.recording.run_dir):
        for name in names:
            original = session.recording.original_path_for(os.path.join(directory, name), code_root)
            if spec.matches(original):
                found.append(original)
    return sorted(found)


def post_mortem(exc: BaseException, tb) -> None:
    """pdb on the traceback of the recorded uncaught exception (from the program's
    outermost frame: ``tb`` without retrace's own)."""
    say(f"post-mortem: {type(exc).__name__} (pdb; `q` ends the replay)")
    debugger = pdb_session(quit_status=1)  # (the status of an uncaught exception, as recorded)
    debugger.reset()
    debugger.interaction(None, tb)


def end_replay_now(status: int) -> None:
    stop_replaying()
    posix._exit(status)


def no_post_mortem(session):
    """What --post-mortem says at the end of a run that raised nothing uncaught."""
    def say():
        if session.post_mortem:  # (still set: no uncaught exception took it)
            say("post-mortem: the recorded run ended without an uncaught exception")
    return say


def pdb_session(quit_status: int = 0):
    """A pdb that talks to the terminal (never the replayed stdin) and whose own work is
    the debugger's (its frames are recognised as such: bootstrap/debugging.py); `q`
    ends the process with ``quit_status``."""
    with untraced():
        import pdb

        stdin = open(0, "r", closefd=False)
        stdout = open(1, "w", closefd=False)

    class ReplayPdb(pdb.Pdb):
        def set_quit(self):
            """`q` ends the replay here, whichever thread stopped (pdb alone would stop
            debugging at the next traced line and let the program go on)."""
            super().set_quit()
            end_replay_now(quit_status)

    return ReplayPdb(stdin=stdin, stdout=stdout)


def _code_root(session):
    from retrace.recording import snapshot_root

    return snapshot_root(session.settings)
