"""A recording as plain data: its processes, how each ended, its events.

The text renderer, the JSON output and ``--follow`` all read the recording through
this module, so the files are parsed in one place. Nothing here prints, and
nothing here installs or imports retrace's boundaries: it reads files, and asks
``liveness`` whether a process that has not ended is still running.
"""

from __future__ import annotations

import fnmatch
import json
import os
import signal
import time
from dataclasses import dataclass, field

from retrace.errors import RecordingError, TraceCorrupt, UsageError
from retrace.inspection import liveness
from retrace.inspection.values import summarize
from retrace.layout import PROCESS_FILE, ROOT_PROCESS, SETTINGS_FILE, TRACE_FILE
from retrace.recording import Recording
from retrace.trace.format import FRAME_HEADER_SIZE
from retrace.trace.cbor import loads
from retrace.trace.framing import FrameCorrupt, split_frames
from retrace.trace.items import UNKNOWN_SITE, ItemDecoder, Site
from retrace.trace.model import Ending, Event, ending_of, iter_events
from retrace.trace.reader import TraceReader

# What became of a process, as far as the recording tells.
COMPLETE = "complete"    # its trace ends with an end item (exit, os._exit, a flushed signal)
RUNNING = "running"      # no end item yet, and the recorded pid is still that process
CUT_SHORT = "cut short"  # no end item and the process is gone (SIGKILL, a crash, a full disk)
DAMAGED = "damaged"      # the trace is damaged in the middle (or unreadable): events stop there
NOT_RECORDED = "not recorded"  # a Python child that never started its recording (killed at once, say)


@dataclass
class ProcessInfo:
    """One recorded process. Times are seconds since the epoch; ``None`` when unknown."""

    id: str
    parent: str | None
    parent_event: int | None
    how: str | None            # None for the root; "fork" (later "spawn", "subprocess", "exec")
    pid: int | None
    ppid: int | None
    argv: list[str]
    start_time: float | None
    end_time: float | None
    state: str                 # COMPLETE, RUNNING, CUT_SHORT or DAMAGED
    ending: Ending | None
    events: int
    size: int
    cpu_seconds: float | None
    peak_rss_kib: int | None   # for a running process: its current resident memory
    resources: str | None      # "recorded" (at its end), "live" (psutil, now) or None
    problem: str | None = None
    last_write: float | None = None  # the trace's modification time

    @property
    def depth(self) -> int:
        return self.id.count(".")

    @property
    def duration(self) -> float | None:
        if self.start_time is None:
            return None
        if self.state == RUNNING:
            return max(0.0, time.time() - self.start_time)
        end = self.end_time
        if end is None and self.state == CUT_SHORT:
            end = self.last_write  # at least this long: it flushed events until then
        if end is None:
            return None
        return max(0.0, end - self.start_time)

    @property
    def status(self) -> str:
        """How it ended, in a few words: "exit 0", "os._exit 3", "killed by SIGTERM"..."""
        if self.state != COMPLETE or self.ending is None:
            return self.state
        how, code = self.ending.how, self.ending.status
        if how == "size cap":  # (RETRACE_MAX_SIZE: the program went on, unrecorded)
            return "recording stopped at its size cap"
        if how == "stopped":  # (retrace's own machinery failed: the program went on, unrecorded)
            return "recording stopped by an internal error"
        if how == "signal" and type(code) is int:
            try:
                name = signal.Signals(-code).name
            except ValueError:
                name = f"signal {-code}"
            return f"killed by {name}"
        return how if code is None else f"{how} {code}"


@dataclass
class RecordingInfo:
    path: str
    tool: str | None
    python: str | None
    hostname: str | None
    cwd: str | None
    code_root: str | None
    start_time: float | None
    end_time: float | None
    processes: list[ProcessInfo] = field(default_factory=list)

    @property
    def root(self) -> ProcessInfo:
        return self.processes[0]

    @property
    def root_ended(self) -> bool:
        """``--follow`` ends here: the root's trace has its end, or the root is gone."""
        return self.root.state != RUNNING

    @property
    def state(self) -> str:
        """RUNNING while any process is; COMPLETE when every one ended properly; else
        DAMAGED if a trace is damaged, CUT_SHORT if one was cut short."""
        states = {process.state for process in self.processes}
        for state in (RUNNING, DAMAGED, CUT_SHORT):
            if state in states:
                return state
        return COMPLETE

    @property
    def damage(self) -> str | None:
        """The first damaged trace's problem: inspecting it shows what precedes it, then fails."""
        for process in self.processes:
            if process.state == DAMAGED:
                return process.problem
        return None

    def process_ids(self) -> list[str]:
        return [process.id for process in self.processes]


# -- traces, counted incrementally ------------------------------------------------


class TraceTally:
    """Event count and ending of one trace.bin, re-read from where the last read stopped.

    The first read goes through ``TraceReader`` (magic, header and format checks);
    later reads decode only the chunks appended since, so ``--follow`` costs what
    the recording grew by. Values are not decoded on later reads: counting needs
    only each item's shape.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self.header: dict | None = None
        self.offset: int | None = None  # where the next unread chunk starts (after the header)
        self.events = 0
        self.ending: Ending | None = None
        self.size = 0
        self.mtime: float | None = None
        self.torn = False               # the last read stopped at an incomplete chunk
        self.damaged = False            # damage in the middle: nothing after it is read
        self.problem: str | None = None
        self._decoder = ItemDecoder(path)  # (values stay as recorded: counting needs none)

    def update(self) -> None:
        try:
            stat = os.stat(self.path)
        except FileNotFoundError:
            self.problem = f"no trace file at {self.path}"
            return
        except OSError as exc:
            self.problem = f"cannot read {self.path}: {exc.strerror}"
            return
        self.size, self.mtime = stat.st_size, stat.st_mtime
        if not self.damaged:
            self.problem = None  # set again below if this read fails too
        if self.damaged or (self.offset is not None and self.size <= self.offset):
            return
        if self.offset is None:
            self._first_read()
        else:
            self._read_more()

    def _first_read(self) -> None:
        try:
            reader = TraceReader(self.path)
        except RecordingError as exc:  # empty, no header yet, not a trace: tried again next time
            self.problem = str(exc)
            return
        self.header, self.problem = reader.header, None
        self.size = len(reader.data)
        try:
            for items in reader.chunks():
                self._tally(items)
        except TraceCorrupt as exc:
            self.damaged, self.problem = True, str(exc)
            return
        self.torn = reader.tear is not None
        self.offset = reader.tear[0] if reader.tear else len(reader.data)

    def _read_more(self) -> None:
        try:
            with open(self.path, "rb") as handle:
                handle.seek(self.offset)
                data = handle.read()
        except OSError as exc:
            self.problem = f"cannot read {self.path}: {exc.strerror}"
            return
        frames = split_frames(data)
        consumed, tear = 0, None
        try:
            while True:
                at, payload = next(frames)
                try:
                    items = loads(payload)
                except Exception as exc:  # CBORDecodeError
                    raise TraceCorrupt(f"{self.path} is corrupt: undecodable chunk at byte "
                                       f"{self.offset + at} ({exc})") from None
                if not isinstance(items, list):
                    raise TraceCorrupt(f"{self.path} is corrupt: malformed chunk at byte {self.offset + at}")
                self._tally(items)
                consumed = at + FRAME_HEADER_SIZE + len(payload)
        except StopIteration as stop:
            tear = stop.value
        except FrameCorrupt as exc:
            self.damaged, self.problem = True, f"{self.path} is corrupt: {exc.reason} at byte {self.offset + exc.offset}"
        except TraceCorrupt as exc:
            self.damaged, self.problem = True, str(exc)
        self.offset += consumed
        self.torn = tear is not None

    def _tally(self, items: list) -> None:
        """Count events and find the end item (through the one decoder, as replay reads them)."""
        self._decoder.decode(items)
        self.events = self._decoder.events
        if self._decoder.ending is not None:
            self.ending = ending_of(self._decoder.ending)


# -- the recording ----------------------------------------------------------------


def _read_json(path: str) -> tuple[dict | None, str | None]:
    try:
        with open(path, "rb") as handle:
            value = json.loads(handle.read())
    except FileNotFoundError:
        return None, f"no {os.path.basename(path)}"
    except (OSError, ValueError, RecursionError) as exc:
        return None, f"cannot read {path}: {exc}"
    if not isinstance(value, dict):
        return None, f"{path} is not a map"
    return value, None


def _typed(mapping: dict | None, key: str, *kinds):
    value = (mapping or {}).get(key)
    return value if type(value) in kinds else None


def _number(mapping: dict | None, key: str) -> float | None:
    return _typed(mapping, key, int, float)


def _strings(value) -> list[str] | None:
    return value if isinstance(value, list) and all(type(item) is str for item in value) else None


class RecordingWatch:
    """A recording read again and again: each ``snapshot`` re-reads the small JSON files
    and only what each trace gained since the last one."""

    def __init__(self, path: str) -> None:
        self.recording = Recording(path)
        self.settings = self.recording.load_settings()  # RecordingError with one clear line
        self.tallies: dict[str, TraceTally] = {}

    @property
    def path(self) -> str:
        return self.recording.path

    def snapshot(self) -> RecordingInfo:
        settings, _ = _read_json(self.recording.settings_path)  # end_time lands at the end
        if settings is None:
            settings = self.settings
        python = settings.get("python") if isinstance(settings.get("python"), dict) else {}
        version = python.get("version_info")
        main = settings.get("main") if isinstance(settings.get("main"), dict) else {}
        info = RecordingInfo(
            path=self.path,
            tool=_typed(settings, "tool", str),
            python=".".join(map(str, version)) if _is_version(version) else None,
            hostname=_typed(settings, "hostname", str),
            cwd=_typed(settings, "cwd", str),
            code_root=_typed(main, "code_root", str),
            start_time=_number(settings, "start_time"),
            end_time=_number(settings, "end_time"),
        )
        argv_of: dict[str, list[str]] = {}
        for process_id in self.recording.process_ids():
            process = self._process(process_id, settings, argv_of)
            argv_of[process_id] = process.argv
            info.processes.append(process)
        return info

    def _process(self, process_id: str, settings: dict, argv_of: dict) -> ProcessInfo:
        directory = self.recording.process_dir(process_id)
        tally = self.tallies.get(process_id)
        if tally is None:
            tally = self.tallies[process_id] = TraceTally(os.path.join(directory, TRACE_FILE))
        tally.update()
        header = tally.header or {}
        problem = None
        if process_id == ROOT_PROCESS:
            facts, parent, parent_event, how = settings, None, None, None
            argv = _strings(settings.get("orig_argv")) or []
        else:
            facts, problem = _read_json(os.path.join(directory, PROCESS_FILE))
            # A child started by exec keeps its own settings (as the root does): how it ended.
            own, _ = _read_json(os.path.join(directory, SETTINGS_FILE))
            if own is not None:
                facts = {**(facts or {}), **{key: own[key] for key in ("end_time", "resources", "ppid") if key in own}}
            parent = _typed(facts, "parent", str) or _typed(header, "parent", str) or process_id.rpartition(".")[0]
            parent_event = _typed(facts, "parent_event", int)
            how = _typed(facts, "how", str)
            # A child started by fork runs its parent's program: it has no argv of its own.
            argv = _strings((facts or {}).get("argv")) or argv_of.get(parent, [])
        pid = _typed(facts, "pid", int) or _typed(header, "pid", int)
        start_time = _number(facts, "start_time") or _number(header, "created")
        end_time = _number(facts, "end_time")
        running = False
        if not tally.damaged and tally.ending is None:
            running = liveness.is_running(pid, start_time)
            if not running:  # it may have ended since the read above: its end item precedes its exit
                tally.update()
        if tally.damaged:
            state = DAMAGED
        elif tally.ending is not None:
            state = COMPLETE
        elif running:
            state = RUNNING
        elif process_id != ROOT_PROCESS and not os.path.exists(tally.path) and facts is not None:
            state = NOT_RECORDED  # its parent linked it; it never wrote a trace
        elif tally.header is None:  # no readable trace, and no process that may still write it
            state = DAMAGED
        else:
            state = CUT_SHORT
        if end_time is None and tally.ending is not None and type(tally.ending.time) in (int, float):
            end_time = tally.ending.time  # killed by a signal: the recorder wrote no end_time
        cpu = rss = source = None
        if state == RUNNING:
            usage = liveness.live_usage(pid, start_time)
            if usage is not None:
                (cpu, rss), source = usage, "live"
        else:  # written when the process ended (not when killed by SIGKILL or a flushed signal)
            resources = facts.get("resources") if isinstance((facts or {}).get("resources"), dict) else None
            if resources is not None:
                user, system = _number(resources, "user_seconds"), _number(resources, "system_seconds")
                cpu = round(user + system, 3) if user is not None and system is not None else None
                rss = _typed(resources, "max_rss_kib", int)
                source = "recorded"
        # A missing or unreadable process.json matters only if the trace is unusable too.
        problem = (tally.problem or problem) if state == DAMAGED else None
        return ProcessInfo(
            id=process_id, parent=parent, parent_event=parent_event, how=how, pid=pid,
            ppid=_typed(facts, "ppid", int), argv=argv, start_time=start_time, end_time=end_time,
            state=state, ending=tally.ending, events=tally.events, size=tally.size,
            cpu_seconds=cpu, peak_rss_kib=rss, resources=source, problem=problem, last_write=tally.mtime,
        )


def _is_version(value) -> bool:
    return isinstance(value, list) and bool(value) and all(type(part) is int for part in value)


def load_recording(path: str) -> RecordingInfo:
    """The recording at ``path`` read once (RecordingError if it is none)."""
    return RecordingWatch(path).snapshot()


# -- events -----------------------------------------------------------------------


@dataclass
class EventRow:
    index: int
    thread: int
    boundary: str
    site: Site
    shown_file: str   # the site's file, relative to the recorded code root or sys.path entry holding it
    summary: str
    value: object


class EventQuery:
    """The events of one process, filtered; iterate for ``EventRow``s.

    A trace damaged in the middle yields the events before the damage, then raises
    TraceCorrupt.
    """

    def __init__(self, path: str, process: str = ROOT_PROCESS, *, boundaries: list[str] | None = None,
                 thread: int | None = None, limit: int | None = None) -> None:
        self.recording = Recording(path)
        settings = self.recording.load_settings()
        main = settings["main"]
        # A call site's file shows relative to the deepest directory holding it among the
        # recorded code root and sys.path: app/views.py, threading.py, requests/api.py.
        roots = [main["code_root"]] if isinstance(main.get("code_root"), str) else []
        roots += main["sys_path"]
        self.roots = sorted({root.rstrip(os.sep) + os.sep for root in roots if os.path.isabs(root) and root != os.sep},
                            key=len, reverse=True)
        self.process = process
        if process != ROOT_PROCESS:
            ids = self.recording.process_ids()
            if process not in ids:
                raise UsageError(f"no process {process} in {self.recording.path} (processes: {', '.join(ids)})")
        self.trace_path = os.path.join(self.recording.process_dir(process), TRACE_FILE)
        self.boundaries = boundaries or []
        self.thread = thread
        self.limit = limit

    def __iter__(self):
        if self.limit is not None and self.limit <= 0:
            return
        shown = 0
        for item in _checked(TraceReader(self.trace_path)):
            if type(item) is Ending or not self._matches(item):
                continue
            yield self._row(item)
            shown += 1
            if self.limit is not None and shown >= self.limit:
                return

    def _matches(self, event: Event) -> bool:
        if self.thread is not None and event.thread != self.thread:
            return False
        if self.boundaries and not any(fnmatch.fnmatchcase(str(event.boundary), p) for p in self.boundaries):
            return False
        return True

    def _row(self, event: Event) -> EventRow:
        site = event.site if isinstance(event.site, Site) and isinstance(event.site.file, str) else UNKNOWN_SITE
        return EventRow(event.index, event.thread, str(event.boundary), site, self.shown_file(site.file),
                        summarize(event.value), event.value)

    def shown_file(self, file: str) -> str:
        for root in self.roots:
            if file.startswith(root):
                return file[len(root):]
        return file


def _checked(reader: TraceReader):
    """``iter_events``, with items of the wrong shape reported as corruption (as replay does)."""
    items = iter_events(reader)
    while True:
        try:
            item = next(items)
        except StopIteration:
            return
        except (IndexError, KeyError, TypeError, ValueError, AttributeError) as exc:
            raise TraceCorrupt(f"{reader.path} is corrupt: a malformed item ({exc})") from None
        yield item


# -- sealed secrets (retrace/sealing.py) -----------------------------------------------


@dataclass
class SealedSecret:
    process: str
    where: str        # "environment", "command line" or "event"
    name: str         # the variable's name, or the event's boundary
    index: int | None  # the event's number
    site: Site | None
    what: str         # "environment variable", "header set-cookie", "url password", "setting password"...
    length: int
    kept: bool        # its encrypted original is in the recording (recorded with RETRACE_KEY)
    unit: str = "characters"  # of ``length``: "characters" (text) or "bytes"


def sealed_secrets(path: str) -> tuple[dict | None, list[SealedSecret]]:
    """What a recording sealed (``inspect --secrets``): its root's sealing settings and
    every sealed environment variable and event value, by process. No secret is shown."""
    recording = Recording(path)
    found: list[SealedSecret] = []
    root_info = None
    for process in recording.process_ids():
        settings, _ = _read_json(recording.facts_path(process))
        if settings is not None:
            if process == ROOT_PROCESS:
                root_info = settings.get("sealing")
            for name, entries in sorted((settings.get("sealed_env") or {}).items()):
                for entry in entries:
                    found.append(SealedSecret(process, "environment", name, None, None, entry[2], entry[1],
                                              len(entry) > 3 and entry[3] is not None))
            for index, entries in sorted((settings.get("sealed_args") or {}).items(), key=lambda kv: int(kv[0])):
                for entry in entries:
                    found.append(SealedSecret(process, "command line", f"argument {int(index) + 1}", None, None,
                                              entry[2], entry[1], len(entry) > 3 and entry[3] is not None))
        found += _sealed_events(process, recording.process_trace_path(process))
    return root_info, found


def _sealed_events(process: str, trace_path: str) -> list[SealedSecret]:
    found: list[SealedSecret] = []
    if not os.path.exists(trace_path):
        return found

    def note(item: list, places: list, number: int) -> list:
        for entry in places:  # ([*path, offset, length, what, token]: path inside the value)
            _, length, what, token = entry[-4:]
            found.append(SealedSecret(process, "event", decoder.names.get(item[0], "?"), number,
                                      decoder.sites.get(item[1], UNKNOWN_SITE), what, length, token is not None,
                                      "bytes" if type(item[2]) is bytes else "characters"))
        return item

    decoder = ItemDecoder(trace_path, note)
    try:
        for _ in decoder.chunks(TraceReader(trace_path)):
            pass
    except TraceCorrupt:
        pass  # (what precedes the damage is listed)
    return found
