"""Is a recorded process still running, and what does it use right now (psutil)?

Kept apart from the model so the model stays a reader of files; this is the one
place that asks the operating system about pids.
"""

from __future__ import annotations

# A pid is reused only by a process created after the recorded one ended, so after
# its start: a process with that pid created more than this long after the recorded
# start_time is someone else. (The root's interpreter starts a little before its
# start_time is taken; a forked child's start_time follows its creation closely.)
PID_REUSE_SLACK = 2.0


def _process(pid: int | None, start_time: float | None):
    """psutil's Process for ``pid`` if it is the recorded process and has not ended."""
    if not isinstance(pid, int) or pid <= 0:
        return None
    import psutil

    try:
        proc = psutil.Process(pid)
        if start_time is not None and proc.create_time() - start_time > PID_REUSE_SLACK:
            return None  # the pid was reused
        if proc.status() == psutil.STATUS_ZOMBIE:
            return None  # ended, not yet waited for
        return proc
    except (psutil.Error, OSError):
        return None


def is_running(pid: int | None, start_time: float | None) -> bool:
    return _process(pid, start_time) is not None


def live_usage(pid: int | None, start_time: float | None) -> tuple[float, int] | None:
    """(CPU seconds so far, current resident memory in KiB) of a running process."""
    proc = _process(pid, start_time)
    if proc is None:
        return None
    import psutil

    try:
        with proc.oneshot():
            times = proc.cpu_times()
            rss = proc.memory_info().rss
    except (psutil.Error, OSError):
        return None
    return round(times.user + times.system, 3), rss // 1024
