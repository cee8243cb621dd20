"""The replay engine: leaves answer from the trace and check the program's calls.

Every leaf call takes the next recorded event and checks its fingerprint (the
boundary, and a digest of the arguments that matter). The first mismatch stops
the replay with a report; so does running past the end of the recording, and
so does the program ending while the recording still has events (``check_end``).

Event numbers in messages count from 0, like ``Event.index`` in trace/model.py:
"diverged at event N" is the N-th recorded event (0-based) and "recording ends
at event N" means events 0..N-1 exist and the program asked for event N.
"""

from __future__ import annotations

import signal
import sys
from collections import deque

from retrace.engine import Engine, wrappers
from retrace.engine.divergence import DivergenceReport, user_site
from retrace.engine.state import state
from retrace.errors import Diverged, RecordedSignal, RecordingEnds, TraceCorrupt
from retrace.trace.model import UNKNOWN_SITE, Site
from retrace.trace.values import Deferred, Raised, resolve_deferred


class ReplaySource:
    """Hands out recorded events in order, chunk by chunk."""

    def __init__(self, reader, stop) -> None:
        self._reader = reader
        self._chunks = reader.chunks()
        self._events: list = []
        self._pos = 0
        self.index = 0  # number of events consumed
        self.names: dict[int, str] = {}
        self.sites: dict[int, Site] = {}
        self.ending: dict | None = None
        self.exhausted = False
        self.recent: deque = deque(maxlen=6)
        self._stop = stop

    def _load_next_chunk(self) -> bool:
        while True:
            try:
                items = next(self._chunks)
                events = self._read_items(items)
            except StopIteration:
                self.exhausted = True
                return False
            except TraceCorrupt as exc:
                self.exhausted = True
                self._stop(TraceCorrupt(f"{exc}; replay cannot go past event {self.index}"))
                return False
            if events:
                self._events = events
                self._pos = 0
                return True

    def _read_items(self, items: list) -> list:
        events = []
        try:
            for item in items:
                if type(item) is list:
                    if len(item) < 3 or type(item[0]) is not int:
                        raise ValueError("malformed event")
                    events.append(item)
                elif type(item) is not dict:
                    raise ValueError("malformed item")
                elif "b" in item:
                    bid, name = item["b"]
                    self.names[bid] = name
                elif "s" in item:
                    sid, file, line, function = item["s"]
                    self.sites[sid] = Site(file, line, function)
                elif "end" in item:
                    self.ending = item["end"] if isinstance(item["end"], dict) else {}
        except (ValueError, TypeError) as exc:
            raise TraceCorrupt(f"{self._reader.path} is corrupt: {exc} after event {self.index + len(events)}") from None
        return events

    def peek(self):
        """The next event without taking it, or None at the end of the trace."""
        if self._pos >= len(self._events):
            if self.exhausted or not self._load_next_chunk():
                return None
        return self._events[self._pos]

    def next_event(self):
        if self._pos >= len(self._events):
            if self.exhausted or not self._load_next_chunk():
                return None
        event = self._events[self._pos]
        self._pos += 1
        self.index += 1
        return event

    def site(self, sid) -> Site:
        return self.sites.get(sid, UNKNOWN_SITE)


def _signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


class Replayer(Engine):
    mode = "replay"

    def __init__(self, reader, *, stop) -> None:
        super().__init__()
        self.reader = reader
        self._stop = stop
        self.source = ReplaySource(reader, stop)
        self.finished = False

    # -- the hot path ---------------------------------------------------------
    def leaf(self, name, call, *, key=None, store=None, load=None, depth=1):
        namespace = {
            "state": state, "call": call, "key": key, "load": load, "depth": depth,
            "bid": self.boundary_id(name), "take": self._take, "Raised": Raised,
        }
        return wrappers.build("replay", name, call, namespace)

    def _take(self, bid, digest, args, kwargs, depth):
        """The recorded value for this call, after checking it is the expected call."""
        source = self.source
        event = source.next_event()
        name = self.names[bid]
        if event is None:
            if self.finished and source.ending is not None:
                return None  # interpreter shutdown after the recorded end: unrecorded, touch nothing
            self._past_end(name, args, kwargs)
        if source.names.get(event[0]) != name or (len(event) > 3 and event[3] != digest):
            self._mismatch(event, name, args, kwargs)
        source.recent.append((event, name))
        value = event[2]
        if Deferred.pending:
            value = resolve_deferred(value)
        return value

    # -- when things go wrong -------------------------------------------------
    def _report(self, expected, got_name, args, kwargs) -> DivergenceReport:
        source = self.source
        index = source.index - (0 if expected is None else 1)  # the event that did not match
        first = index - len(source.recent)
        recent = [(first + i, name, source.site(ev[1])) for i, (ev, name) in enumerate(source.recent)]
        return DivergenceReport(
            index=index,
            expected_boundary=None if expected is None else source.names.get(expected[0], "?"),
            expected_site=None if expected is None else source.site(expected[1]),
            got_boundary=got_name,
            got_args=None if args is None else (args, kwargs),
            got_site=user_site(sys._getframe(1)),
            recent=recent,
        )

    def _mismatch(self, event, name, args, kwargs):
        report = self._report(event, name, args, kwargs)
        if report.expected_boundary == name:
            report.detail = "same boundary, different arguments"
        self._stop(Diverged(report.render()))

    def _past_end(self, name, args, kwargs):
        """The program wants an event the recording does not have."""
        source = self.source
        report = self._report(None, name, args, kwargs)
        ending = source.ending
        if ending is not None:
            self._ended_as_recorded(ending, f"before {name} at {report.got_site}")
            report.detail = f"the recorded process had already ended ({ending.get('how', 'exit')})"
            self._stop(Diverged(report.render()))
        self._stop(self._cut_short(f"replay stopped before {name} at {report.got_site}"))

    def _cut_short(self, what_replay_did: str) -> RecordingEnds:
        tear = self.reader.tear
        where = f" ({tear[1]} at byte {tear[0]})" if tear else ""
        return RecordingEnds(
            f"recording ends at event {self.source.index}{where}: the recorded process stopped "
            f"recording there (killed, crashed, or its disk was full); {what_replay_did}"
        )

    def _ended_as_recorded(self, ending: dict, where: str) -> None:
        """A recorded process killed by a signal: replay ends the same way, here."""
        status = ending.get("status")
        if ending.get("how") == "signal" and type(status) is int and status < 0:
            self._stop(RecordedSignal(
                f"replay reached the end of the recording at event {self.source.index}: the recorded "
                f"process was killed by {_signal_name(-status)} after it; replay ends the same way ({where})",
                -status,
            ))

    def check_end(self) -> None:
        """The program is ending normally: the recording must end here too."""
        if self.finished:
            return
        self.finished = True
        source = self.source
        event = source.peek()
        if event is not None:
            report = self._report(None, "the program's end (no more boundary calls)", None, None)
            report.index = source.index
            report.expected_boundary = source.names.get(event[0], "?")
            report.expected_site = source.site(event[1])
            self._stop(Diverged(report.render()))
        if source.ending is None:
            self._stop(self._cut_short("replay went on to the program's end, past what was recorded"))
        self._ended_as_recorded(source.ending, "at the program's end")

    def end_process(self, how: str, status: int | None = None) -> None:
        self.finished = True
