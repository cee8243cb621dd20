"""``inspect --follow``: watch a recording grow until its root process ends.

A watchdog observer on the recording directory wakes the loop when a file
changes (trace.bin grows every flush, a child's directory appears); changes are
debounced, then each trace is read only from where the previous read stopped
(``model.TraceTally``). The loop also wakes every ``POLL`` seconds without any
file event, because a process killed with SIGKILL changes no file: only its
pid going away says it was cut short.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
import time

from watchdog.events import FileSystemEventHandler
from watchdog.observers import Observer

from retrace.errors import TraceCorrupt
from retrace.inspection import render
from retrace.inspection.model import RecordingWatch
from retrace.recording import Recording
from retrace.layout import RUN_DIR

DEBOUNCE = 0.3  # after a file event, wait this long for the rest of the burst
POLL = 1.0      # re-check at least this often (liveness of the processes)


def wait_for_recording(path: str, wait: float) -> RecordingWatch:
    """The recording once its settings.json and trace.bin exist, waiting up to ``wait``
    seconds for them (so a follower may start before the recorded program does).
    Past that, the usual RecordingError says what is missing."""
    recording = Recording(path)
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        if os.path.isfile(recording.settings_path) and os.path.isfile(recording.trace_path):
            break
        time.sleep(0.05)
    return RecordingWatch(path)


class _Nudge(FileSystemEventHandler):
    """Only says "something changed" (outside run/, the code snapshot)."""

    def __init__(self, changed: threading.Event, ignore: str) -> None:
        super().__init__()
        self.changed = changed
        self.ignore = ignore.rstrip(os.sep) + os.sep

    def dispatch(self, event) -> None:
        if event.event_type in ("opened", "closed_no_write"):
            return  # reads (ours included) change nothing
        path = os.fsdecode(event.src_path)
        if not path.startswith(self.ignore):
            self.changed.set()


def follow(path: str, *, wait: float, as_json: bool, out=None) -> int:
    """Print a status line (or a JSON document) whenever the recording changes; return
    when the root process has ended, with the final state. Ctrl-C ends quietly (0).
    A damaged trace raises TraceCorrupt once the final state is printed."""
    out = out or sys.stdout
    try:
        watch = wait_for_recording(path, wait)
        return _follow(watch, as_json, out)
    except KeyboardInterrupt:
        return 0


def _quiet_watchdog() -> None:
    """Keep watchdog's log records off stderr: with no handler configured, logging prints
    errors there, and stopping an observer can log a harmless race ("queue_events()
    called when the thread is inactive"). What we print is the status lines."""
    log = logging.getLogger("watchdog")
    log.addHandler(logging.NullHandler())
    log.propagate = False


def _follow(watch: RecordingWatch, as_json: bool, out) -> int:
    _quiet_watchdog()
    changed = threading.Event()
    observer = Observer()
    observer.schedule(_Nudge(changed, os.path.join(watch.path, RUN_DIR)), watch.path, recursive=True)
    observer.start()
    started = time.monotonic()
    try:
        last = None
        while True:
            info = watch.snapshot()
            seen = [(p.id, p.state, p.events, p.status) for p in info.processes]
            ended = info.root_ended
            if seen != last and not ended:
                last = seen
                if as_json:
                    out.write(json.dumps(render.inspect_json(info)) + "\n")
                else:
                    out.write(render.follow_line(info, time.monotonic() - started) + "\n")
                out.flush()
            if ended:
                break
            if changed.wait(POLL):
                time.sleep(DEBOUNCE)
            changed.clear()
    finally:
        observer.stop()
        observer.join(timeout=2)
    if as_json:
        out.write(json.dumps(render.inspect_json(info)) + "\n")
    else:
        out.write(render.follow_line(info, time.monotonic() - started) + "\n\n")
        out.write(render.inspect_text(info))
    out.flush()
    if info.damage:
        raise TraceCorrupt(info.damage)
    return 0
