"""The replay engine: leaves answer from the trace and check the program's calls.

Every leaf call takes the next recorded event and checks its fingerprint (the
boundary, and a digest of the arguments that matter). The first mismatch stops
the replay with a report; so does running past the end of the recording.
"""

from __future__ import annotations

import sys
from collections import deque

from retrace.engine import Engine, wrappers
from retrace.engine.divergence import DivergenceReport, user_site
from retrace.engine.state import state
from retrace.errors import Diverged, RecordingEnds, TraceCorrupt
from retrace.trace.model import UNKNOWN_SITE, Site
from retrace.trace.values import Raised


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
            except StopIteration:
                self.exhausted = True
                return False
            except TraceCorrupt as exc:
                self._stop(exc)
            events = []
            for item in items:
                if type(item) is list:
                    events.append(item)
                elif "b" in item:
                    bid, name = item["b"]
                    self.names[bid] = name
                elif "s" in item:
                    sid, file, line, function = item["s"]
                    self.sites[sid] = Site(file, line, function)
                elif "end" in item:
                    self.ending = item["end"] or {}
            if events:
                self._events = events
                self._pos = 0
                return True

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
            self._past_end(name, depth + 1)
        if source.names.get(event[0]) != name or (len(event) > 3 and event[3] != digest):
            self._mismatch(event, name, args, kwargs, digest, depth + 1)
        source.recent.append((event, name))
        return event[2]

    # -- when things go wrong -------------------------------------------------
    def _report(self, expected, got_name, args, kwargs, depth) -> DivergenceReport:
        source = self.source
        recent = [
            (source.index - len(source.recent) + i, name, source.site(ev[1]))
            for i, (ev, name) in enumerate(source.recent)
        ]
        return DivergenceReport(
            index=source.index - (0 if expected is None else 1),
            expected_boundary=None if expected is None else source.names.get(expected[0], "?"),
            expected_site=None if expected is None else source.site(expected[1]),
            got_boundary=got_name,
            got_args=(args, kwargs),
            got_site=user_site(sys._getframe(1)),
            recent=recent,
        )

    def _mismatch(self, event, name, args, kwargs, digest, depth):
        report = self._report(event, name, args, kwargs, depth)
        if report.expected_boundary == name:
            report.detail = "same boundary, different arguments"
        self._stop(Diverged(report.render()))

    def _past_end(self, name, depth):
        source = self.source
        report = self._report(None, name, (), {}, depth)
        if source.ending is not None:
            report.detail = "the recorded process had already ended"
            self._stop(Diverged(report.render()))
        tear = self.reader.tear
        where = f" ({tear[1]} at byte {tear[0]})" if tear else ""
        self._stop(RecordingEnds(
            f"recording ends at event {source.index}{where}: the recorded process stopped "
            f"there (killed or crashed); replay stopped at {report.got_site}"
        ))

    def end_process(self, how: str, status: int | None = None) -> None:
        self.finished = True
