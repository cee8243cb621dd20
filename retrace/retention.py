"""``retrace-python prune DIR --older-than AGE [--keep-failed] [--dry-run]``: retention.

DIR holds recordings (``RETRACE_RECORDINGS_DIR``, ``./retrace-recordings``). A
recording older than AGE (by its start, else its trace's last write) is removed,
unless it is still being written, or ``--keep-failed`` and it did not end with a
clean exit 0: a non-zero exit, a signal, a crash that cut its trace short, a
damaged trace, or a size cap (its status is unknown) all count as failed.

``prune`` returns what it did as data (``Pruned``); the launcher renders it
(launcher/cli.py). It reads recordings through inspection's model.
"""

from __future__ import annotations

import os
import re
import shutil
import time
from dataclasses import dataclass, field

from retrace.errors import UsageError
from retrace.inspection.model import COMPLETE, RUNNING, load_recording
from retrace.layout import is_recording
from retrace.recording import Recording

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_age(text: str) -> float:
    """"7d", "12h", "30m", "90s", "2w" -> seconds."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*", text)
    if not match:
        raise UsageError(f"--older-than needs an age such as 7d, 12h, 30m (not {text!r})")
    return float(match.group(1)) * _UNITS[match.group(2)]


def failed(info) -> str | None:
    """Why a recording counts as failed (None: its root ended with a clean exit 0)."""
    root = info.root
    if root.state != COMPLETE:
        return root.state
    if root.status in ("exit 0", "os._exit 0", "exit"):
        return None
    return root.status


def _size(path: str) -> int:
    total = 0
    for directory, _, names in os.walk(path):
        for name in names:
            try:
                total += os.lstat(os.path.join(directory, name)).st_size
            except OSError:
                pass
    return total


class Candidate:
    def __init__(self, path: str, started: float | None, why_failed: str | None, running: bool) -> None:
        self.path = path
        self.started = started
        self.failed = why_failed
        self.running = running
        self.size = _size(path)


def survey(directory: str) -> list[Candidate]:
    if not os.path.isdir(directory):
        raise UsageError(f"{directory} is not a directory")
    if is_recording(directory):
        raise UsageError(f"{directory} is a recording; prune takes the directory that holds recordings")
    found = []
    for name in sorted(os.listdir(directory)):
        path = os.path.join(directory, name)
        if not os.path.isdir(path) or os.path.islink(path) or not is_recording(path):
            continue
        try:
            info = load_recording(path)
            started = info.start_time
            why, running = failed(info), info.state == RUNNING
        except Exception:  # unreadable: judged by age alone, as a failed one
            started, why, running = None, "unreadable", False
        if started is None:
            try:
                started = os.stat(Recording(path).trace_path).st_mtime
            except OSError:
                started = os.stat(path).st_mtime
        found.append(Candidate(path, started, why, running))
    return found


def choose(candidates: list[Candidate], older_than: float, keep_failed: bool, now: float | None = None):
    """(to remove, kept because failed)"""
    now = time.time() if now is None else now
    remove, kept = [], []
    for candidate in candidates:
        if candidate.running or candidate.started is None or now - candidate.started < older_than:
            continue
        if keep_failed and candidate.failed:
            kept.append(candidate)
        else:
            remove.append(candidate)
    return remove, kept


def remove(candidate: Candidate) -> None:
    shutil.rmtree(candidate.path)


@dataclass
class Pruned:
    """What ``prune`` did (or, with ``dry_run``, would do)."""

    directory: str
    older_than: str       # the age as given ("7d")
    dry_run: bool
    keep_failed: bool
    considered: int       # recordings found in the directory
    removed: list[Candidate] = field(default_factory=list)
    kept: list[Candidate] = field(default_factory=list)  # old enough, but kept because failed

    @property
    def freed(self) -> int:
        return sum(candidate.size for candidate in self.removed)


def prune(directory: str, older_than: str, *, keep_failed: bool = False, dry_run: bool = False,
          now: float | None = None) -> Pruned:
    """Remove the recordings in ``directory`` started longer ago than ``older_than``."""
    age = parse_age(older_than)
    candidates = survey(directory)
    chosen, kept = choose(candidates, age, keep_failed, now)
    for candidate in chosen:
        if not dry_run:
            remove(candidate)
    return Pruned(directory, older_than, dry_run, keep_failed, len(candidates), chosen, kept)
