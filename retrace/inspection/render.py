"""The model as output: text for people, and JSON in shapes that stay stable.

The JSON shapes carry a ``schema`` name with a version (``retrace.inspect/1``,
``retrace.events/1``); docs/cli.md describes them. Adding keys keeps the version;
removing or changing one needs a new version.
"""

from __future__ import annotations

import datetime
import os
import shlex

from retrace.inspection.model import CUT_SHORT, EventRow, ProcessInfo, RecordingInfo
from retrace.inspection.values import json_safe

INSPECT_SCHEMA = "retrace.inspect/1"
EVENTS_SCHEMA = "retrace.events/1"

ARGV_WIDTH = 40
_STATE_TEXT = {
    "complete": "complete",
    "running": "still being recorded",
    "cut short": "cut short (a process was killed or crashed while recording)",
    "damaged": "damaged",
    "not recorded": "not recorded",
}


# -- small formats ----------------------------------------------------------------


def local_time(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    return datetime.datetime.fromtimestamp(seconds).astimezone().isoformat(sep=" ", timespec="seconds")


def duration_text(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.2f} s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def size_text(size: int | None) -> str:
    if size is None:
        return "?"
    if size < 1024:
        return f"{size} B"
    for unit in ("KiB", "MiB", "GiB"):
        size /= 1024
        if size < 1024 or unit == "GiB":
            return f"{size:.1f} {unit}"
    return "?"  # not reached


def argv_text(argv: list[str], cwd: str | None = None, width: int = ARGV_WIDTH) -> str:
    """The command line, short: the interpreter by base name, paths under the recorded
    working directory relative to it, other long paths by their last two parts, the
    whole cut to ``width``."""
    if not argv:
        return "?"
    words = [os.path.basename(argv[0])]
    for arg in argv[1:]:
        if cwd and arg.startswith(cwd.rstrip(os.sep) + os.sep):
            arg = arg[len(cwd.rstrip(os.sep)) + 1:]
        elif len(arg) > 30 and arg.startswith(os.sep) and arg.count(os.sep) > 2:
            arg = "..." + os.sep + os.path.join(*arg.rsplit(os.sep, 2)[1:])
        words.append(arg)
    text = shlex.join(words)
    return text if len(text) <= width else text[:width - 3] + "..."


# -- inspect ----------------------------------------------------------------------

_COLUMNS = ("process", "pid", "argv", "duration", "status", "events", "size", "cpu", "peak rss")
_RIGHT = {"pid", "duration", "events", "size", "cpu", "peak rss"}


def _row(process: ProcessInfo, cwd: str | None) -> list[str]:
    cpu = "" if process.cpu_seconds is None else f"{process.cpu_seconds:.2f} s"
    rss = "" if process.peak_rss_kib is None else size_text(process.peak_rss_kib * 1024)
    if process.resources == "live" and rss:
        rss += " now"
    return ["  " * process.depth + process.id, "?" if process.pid is None else str(process.pid),
            argv_text(process.argv, cwd), _duration_cell(process), process.status,
            str(process.events), size_text(process.size), cpu, rss]


def _duration_cell(process: ProcessInfo) -> str:
    text = duration_text(process.duration)
    if process.state == CUT_SHORT and process.end_time is None and process.duration is not None:
        return ">=" + text  # up to its trace's last write: it may have lived a little longer
    return text


def inspect_text(info: RecordingInfo) -> str:
    count = len(info.processes)
    total = sum(process.events for process in info.processes)
    lines = [
        f"recording  {info.path}",
        f"python     {info.python or '?'}  (recorded by retrace-python {info.tool or '?'})",
        f"started    {local_time(info.start_time)}" + (f" on {info.hostname}" if info.hostname else ""),
        f"state      {_STATE_TEXT.get(info.state, info.state)}: "
        f"{count} process{'es' if count != 1 else ''}, {total} event{'s' if total != 1 else ''}",
        "",
    ]
    rows = [list(_COLUMNS)] + [_row(process, info.cwd) for process in info.processes]
    widths = [max(len(row[column]) for row in rows) for column in range(len(_COLUMNS))]
    for row in rows:
        cells = [cell.rjust(width) if name in _RIGHT else cell.ljust(width)
                 for name, cell, width in zip(_COLUMNS, row, widths)]
        lines.append("  ".join(cells).rstrip())
    for process in info.processes:
        if process.problem:
            lines.append(f"process {process.id}: {process.problem}")
    return "\n".join(lines) + "\n"


def follow_line(info: RecordingInfo, elapsed: float) -> str:
    """One line of ``inspect --follow``: each process's status and event count."""
    parts = [f"{process.id}: {process.status}, {process.events} event{'s' if process.events != 1 else ''}"
             for process in info.processes]
    return f"[+{elapsed:.1f}s] " + "; ".join(parts)


def _ending_json(process: ProcessInfo) -> dict | None:
    if process.ending is None:
        return None
    how, status, when = process.ending
    return {"how": how, "status": status, "time": when}


def process_json(process: ProcessInfo) -> dict:
    duration = process.duration
    return {
        "id": process.id,
        "parent": process.parent,
        "parent_event": process.parent_event,
        "how": process.how,
        "pid": process.pid,
        "ppid": process.ppid,
        "argv": list(process.argv),
        "start_time": process.start_time,
        "end_time": process.end_time,
        "duration": None if duration is None else round(duration, 6),
        "state": process.state,
        "status": process.status,
        "ending": _ending_json(process),
        "events": process.events,
        "size": process.size,
        "cpu_seconds": process.cpu_seconds,
        "peak_rss_kib": process.peak_rss_kib,
        "resources": process.resources,
        "problem": process.problem,
    }


def inspect_json(info: RecordingInfo) -> dict:
    return {
        "schema": INSPECT_SCHEMA,
        "path": info.path,
        "tool": info.tool,
        "python": info.python,
        "hostname": info.hostname,
        "cwd": info.cwd,
        "code_root": info.code_root,
        "start_time": info.start_time,
        "end_time": info.end_time,
        "state": info.state,
        "processes": [process_json(process) for process in info.processes],
    }


# -- events -----------------------------------------------------------------------


def event_line(row: EventRow) -> str:
    site = f"{row.shown_file}:{row.site.line} in {row.site.function}" if row.site.file else "<unknown>"
    return f"{row.index:>6}  t{row.thread:<3} {row.boundary:<24} {site:<40} {row.summary}".rstrip()


def event_json(row: EventRow) -> dict:
    site = None
    if row.site.file:
        site = {"file": row.site.file, "line": row.site.line, "function": row.site.function}
    shaped = {"index": row.index, "thread": row.thread, "boundary": row.boundary, "site": site,
              "summary": row.summary}
    if json_safe(row.value):
        shaped["value"] = row.value
    return shaped


def events_json(process: str, rows: list[EventRow], problem: str | None) -> dict:
    return {"schema": EVENTS_SCHEMA, "process": process, "events": [event_json(row) for row in rows],
            "problem": problem}


# -- sealed secrets (inspect --secrets) ------------------------------------------------


def secrets_text(info: dict | None, found: list) -> str:
    if info is None:
        return "secrets were not sealed (recorded with RETRACE_SECRETS=off, or by an older retrace)\n"
    if info.get("keyed") and info.get("cipher") == "x25519":
        head = ("sealed secrets: kept encrypted to a public key (replay with RETRACE_KEY_FILE=<its private key "
                "file> is exact)")
    elif info.get("keyed"):
        head = "sealed secrets: kept encrypted (recorded with RETRACE_KEY: replay with the same key is exact)"
    else:
        head = ("sealed secrets: not kept (recorded without RETRACE_SEAL_TO or RETRACE_KEY: replay sees them "
                "as '*'s)")
    lines = [head]
    if not found:
        lines.append("  none found")
    for secret in found:
        if secret.where in ("environment", "command line"):
            lines.append(f"  process {secret.process}  {secret.where}  {secret.name}: {secret.what}, "
                         f"{secret.length} {secret.unit}")
        else:
            lines.append(f"  process {secret.process}  event #{secret.index}  {secret.name} at {secret.site}: "
                         f"{secret.what}, {secret.length} {secret.unit}")
    return "\n".join(lines) + "\n"


def secrets_json(info: dict | None, found: list) -> dict:
    return {
        "schema": "retrace.secrets/1",
        "sealed": info is not None,
        "keyed": bool(info and info.get("keyed")),
        "cipher": (info or {}).get("cipher") or ("passphrase" if info and info.get("keyed") else None),
        "recipient": (info or {}).get("recipient"),
        "secrets": [{"process": s.process, "where": s.where, "name": s.name, "event": s.index,
                     "site": None if s.site is None else str(s.site), "what": s.what, "length": s.length,
                     "unit": s.unit, "kept": s.kept} for s in found],
    }
