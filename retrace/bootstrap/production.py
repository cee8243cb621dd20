"""What recording in production adds: a cap on a recording's size, and its upload.

``RETRACE_MAX_SIZE`` stops recording (the program goes on) once the recording would
grow past it (engine/recorder.py's ``limit_size``). ``RETRACE_UPLOAD``: the root
process, ending, starts a detached uploader (retrace/storage.py) that waits for the
rest of the tree and ships the recording.
"""

from __future__ import annotations

import os
import posix
import sys

from retrace.messages import warn
from retrace.engine.state import untraced
from retrace.launch import helper_env
from retrace.layout import UPLOAD_LOG

MAX_SIZE_VAR = "RETRACE_MAX_SIZE"
_SIZE_UNITS = {"": 1, "b": 1, "k": 1 << 10, "kb": 1 << 10, "kib": 1 << 10, "m": 1 << 20, "mb": 1 << 20,
               "mib": 1 << 20, "g": 1 << 30, "gb": 1 << 30, "gib": 1 << 30, "t": 1 << 40, "tb": 1 << 40,
               "tib": 1 << 40}


def max_size(text: str | None) -> int | None:
    """RETRACE_MAX_SIZE ("500MB", "2G", "1048576"; units of 1024) in bytes; None if unset.
    A value that means nothing is warned about and ignored: the program must run."""
    text = (text or "").strip()
    if not text:
        return None
    number = text.rstrip("KMGTBIkmgtbi ")
    unit = text[len(number):].strip().lower()
    try:
        size = int(float(number) * _SIZE_UNITS[unit])
    except (KeyError, ValueError):
        size = 0
    if size <= 0:
        warn(f"{MAX_SIZE_VAR}={text!r} is not a size (such as 500MB or 2G); recording without a cap")
        return None
    return size


def start_uploader(recording_path: str, url: str) -> None:
    """A detached ``python -m retrace.storage upload`` of the recording to ``url``, its
    output in DIR/upload.log."""
    env = helper_env()
    log = os.path.join(recording_path, UPLOAD_LOG)
    try:
        with untraced():
            fd = posix.open(log, posix.O_WRONLY | posix.O_CREAT | posix.O_APPEND | posix.O_CLOEXEC, 0o600)
            try:
                os.posix_spawn(sys.executable, [sys.executable, "-m", "retrace.storage", "upload",
                                                recording_path, url], env,
                               file_actions=[(os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
                                             (os.POSIX_SPAWN_DUP2, fd, 1), (os.POSIX_SPAWN_DUP2, fd, 2)],
                               setsid=True)
            finally:
                posix.close(fd)
    except OSError as exc:
        warn(f"cannot start the upload of {recording_path} ({exc.strerror or exc})")
