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

import sys
from collections import deque

from retrace.engine import Engine, Turn, wrappers
from retrace.engine.divergence import DivergenceReport, user_site
from retrace.engine.scheduler import ReplayScheduler
from retrace.engine.state import state, untraced
from retrace.errors import Diverged, RecordedSignal, RecordingEnds, RecordingError, TraceCorrupt
from retrace.engine.garbage import ReplayedCollections
from retrace.trace.format import GC_ID, IMPORTS_ID, PREEMPT_ID, SIGNAL_EVENT, SIZE_CAP, STOPPED, SWITCH_ID
from retrace.trace.items import UNKNOWN_SITE, ItemDecoder, Site, unsealed
from retrace.sealing import blank_key
from retrace.trace.digest import digest_of, frozen_call_key
from retrace.trace.values import Deferred, Raised, resolve_deferred

# SIGNAL_EVENT (trace/format.py): the event a signal handler's run leaves in the trace.
# It is not a call the program makes: replay runs the handler when the program gets
# there (at its next boundary call, or earlier at the recorded spot, see `ahead`).


class ReplaySource:
    """Hands out recorded events in order, chunk by chunk."""

    def __init__(self, reader, stop) -> None:
        self._reader = reader
        self._chunks = reader.chunks()
        self._events: list = []
        self._pos = 0
        self.index = 0  # number of events consumed
        self._items = ItemDecoder(reader.path, self._unseal)  # (trace/items.py)
        self.names = self._items.names  # (the decoder's own dicts: the hot path reads them)
        self.sites = self._items.sites
        self.exhausted = False
        self.recent: deque = deque(maxlen=6)
        self._stop = stop
        # Signal deliveries (see SIGNAL_EVENT): next_event leaves its fast path at each
        # "watch" position (the event before a delivery, and a chunk's last event) to
        # look at the event after it, and hands a delivery to `ahead`.
        self.ahead = None          # ahead(event): a delivery is next (set by the signals family)
        self.preempt_ahead = None  # preempt_ahead(item): the running thread is switched out next (threads)
        self._watch = 0            # next_event's fast path serves positions below this
        self._watch_points: list = []
        self._deferred_error = None  # a damaged chunk met while looking ahead: reported when reached
        self.unsealer = None         # puts sealed secrets back (retrace/sealing.py), given the key
        self.sealed_settings: list = []  # what the program got as *s (no key): "DB_PASSWORD (environment)"...
        self.sealed_values: list = []    # ... and in the trace, "header cookie (event #12)" (the first few)
        self.sealed_values_count = 0

    def _load_next_chunk(self, looking_ahead: bool = False) -> bool:
        if self._deferred_error is not None:
            self._stop(self._deferred_error)
        while True:
            try:
                with untraced():  # decoding may make objects that read the world (a time zone's file)
                    items = next(self._chunks)
                    events = self._items.decode(items, self.index)
            except StopIteration:
                self.exhausted = True
                return False
            except TraceCorrupt as exc:
                self.exhausted = True
                error = TraceCorrupt(f"{exc}; replay cannot go past event {self.index}")
                if looking_ahead:  # the program has not asked for that event yet
                    self._deferred_error = error
                    return False
                self._stop(error)
                return False
            except RecordingError as exc:  # a sealed value that the key does not open, or damaged
                self.exhausted = True
                self._stop(exc)
                return False
            if events:
                self._events = events
                self._pos = 0
                self._set_watch_points(events)
                return True

    def _set_watch_points(self, events: list) -> None:
        bid = self.signal_bid
        # An event followed by a collection noted as the thread ran (CPython's own, at an
        # allocation) looks past it too: a switch-out may come after (see switch_out_ahead).
        points = [i - 1 for i in range(1, len(events))
                  if events[i][0] == bid or events[i][0] == PREEMPT_ID or events[i][0] == GC_ID]
        points.append(len(events) - 1)
        self._watch_points = points
        self._watch = points[0]

    def _unseal(self, item: list, sealed: list, number: int) -> list:
        """The decoder's ``unseal``: what the program gets, and what a report says it got as *s."""
        if self.unsealer is None or not all(entry[-1] for entry in sealed):
            what = sealed[0][-2] if sealed and type(sealed[0]) is list and len(sealed[0]) >= 4 else "a value"
            self.sealed_values_count += 1
            if len(self.sealed_values) < 8:
                self.sealed_values.append(f"{what} (event #{number})")
        return unsealed(item, sealed, self.unsealer)

    @property
    def ending(self) -> dict | None:
        return self._items.ending

    @property
    def signal_bid(self) -> int | None:
        """The recording's id for SIGNAL_EVENT, once declared."""
        return self._items.signal_bid

    def peek(self, looking_ahead: bool = False):
        """The next event without taking it, or None at the end of the trace."""
        if self._pos >= len(self._events):
            if self.exhausted:
                if self._deferred_error is not None and not looking_ahead:
                    self._stop(self._deferred_error)
                return None
            if not self._load_next_chunk(looking_ahead):
                return None
        return self._events[self._pos]

    def switch_out_ahead(self, looking_ahead: bool = True):
        """The switch-out item next in the trace, past any collections noted before it
        (``{"g": ...}`` items: CPython's own collection ran at an allocation while the
        thread ran, with no boundary call of its own before the spot: replay runs them
        at the spot, see preempt.py's SpotWatcher), or None."""
        k = 0
        while True:
            following = self._peek_at(k, looking_ahead)
            if following is None or following[0] != GC_ID:
                return following if following is not None and following[0] == PREEMPT_ID else None
            k += 1

    def _peek_at(self, k: int, looking_ahead: bool):
        """The ``k``-th item from here (0: ``peek()``), loading chunks as needed."""
        if k == 0:
            return self.peek(looking_ahead)
        while self._pos + k >= len(self._events):
            if self.exhausted:
                return None
            rest = self._events[self._pos:]
            if not self._load_next_chunk(looking_ahead):
                return None
            self._events = rest + self._events  # (the items not yet taken stay in front)
            self._pos = 0
            self._set_watch_points(self._events)
        return self._events[self._pos + k]

    def next_event(self):
        pos = self._pos
        if pos >= self._watch:  # (_watch <= len(_events)): a chunk to load, or a watch point
            return self._next_event_slow()
        event = self._events[pos]
        self._pos = pos + 1
        self.index += 1
        return event

    def _next_event_slow(self):
        if self.peek() is None:
            return None
        pos = self._pos
        event = self._events[pos]
        self._pos = pos + 1
        self.index += 1
        if pos >= self._watch:  # a watch point: a signal delivery may come next
            points = self._watch_points
            while points and points[0] <= pos:
                points.pop(0)
            self._watch = points[0] if points else len(self._events)
            following = self.peek(looking_ahead=True)  # may load the next chunk
            if following is not None:
                if following[0] == self.signal_bid and self.ahead is not None:
                    self.ahead(following)
                elif following[0] == GC_ID and event[0] != SWITCH_ID and event[0] != GC_ID \
                        and self.preempt_ahead is not None:
                    following = self.switch_out_ahead()
                    if following is not None:
                        self.preempt_ahead(following)
                elif following[0] == PREEMPT_ID and event[0] != SWITCH_ID and self.preempt_ahead is not None:
                    self.preempt_ahead(following)  # (after a hand-over, the thread woken looks ahead)
        return event

    def site(self, sid) -> Site:
        return self.sites.get(sid, UNKNOWN_SITE)


def _signal_name(signum: int) -> str:
    try:
        import signal  # (its enum costs start-up time; only reports need names)

        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


def _import_as_recorded(names) -> None:
    """Import what a recorded boundary call imported first, as it did: inside the call,
    its import-time calls real and unrecorded."""
    import importlib

    with untraced():
        for name in names if type(names) is list else ():
            if type(name) is str and name not in sys.modules:
                try:
                    importlib.import_module(name)
                except BaseException:  # (not importable by name here: it was made, not imported)
                    pass


class Replayer(Engine):
    mode = "replay"

    def __init__(self, reader, *, stop) -> None:
        super().__init__()
        self.reader = reader
        self._stop = stop
        self.source = ReplaySource(reader, stop)
        self.finished = False
        self.signals = None  # the signals family's replay side, once installed (attach_signals)
        self.threads = ReplayScheduler(self)
        self.garbage = ReplayedCollections()
        self._keys: dict = {}  # boundary id -> its key function (for calls recorded with secrets)
        self._facts: dict = {}  # boundary id -> the real call, for quick leaves (see _after_the_end)

    # -- the hot path ---------------------------------------------------------
    def leaf(self, name, call, *, key=None, store=None, load=None, depth=1, after_end=None):
        """``after_end``: what answers the call after the recorded end (see _after_the_end)."""
        bid = self.boundary_id(name)
        self._keys[bid] = key
        if self.turns.get(name) == Turn.QUICK:
            self._facts[bid] = call
        if after_end is not None:
            self._facts[bid] = after_end
        namespace = {
            "state": state, "call": call, "key": key, "load": load, "depth": depth,
            "bid": bid, "take": self._take, "Raised": Raised,
        }
        return wrappers.build("replay", name, call, namespace)

    def _take(self, bid, digest, args, kwargs, depth):
        """The recorded value for this call, after checking it is the expected call."""
        source = self.source
        event = source.next_event()
        name = self.names[bid]
        if event is None:
            if self.finished and source.ending is not None:
                return self._after_the_end(bid, args, kwargs)
            self._past_end(name, args, kwargs)
        if source.names.get(event[0]) != name or (len(event) > 3 and event[3] != digest
                                                  and not self._sealed_key_matches(event[3], bid, args, kwargs)):
            if event[0] == source.signal_bid and self.signals is not None:
                return self._signal_then_take(event, bid, digest, args, kwargs, depth)
            if event[0] == SWITCH_ID:  # the recording handed over to another thread here
                source.index -= 1  # (hand-overs are not numbered events)
                self.threads.switch_to(event[2])
                return self._take(bid, digest, args, kwargs, depth)
            if event[0] == IMPORTS_ID:  # modules the recorded call imported first: imported here too
                source.index -= 1
                _import_as_recorded(event[2])
                return self._take(bid, digest, args, kwargs, depth)
            if event[0] == GC_ID:  # a garbage collection ran as this call began: its finalizers' calls follow
                source.index -= 1
                self.garbage.collect_recorded(event[2])
                return self._take(bid, digest, args, kwargs, depth)
            if event[0] == PREEMPT_ID:
                source.index -= 1
                self.threads.missed_switch_out(event, f"{name} at {user_site(sys._getframe(1))}")
            self._mismatch(event, name, args, kwargs)
        source.recent.append((event, name))
        value = event[2]
        if Deferred.pending:
            with untraced():  # our work: a module imported, a time zone's file read, for real
                value = resolve_deferred(value)
        return value

    def _after_the_end(self, bid, args, kwargs):
        """A call during interpreter shutdown, after the recorded end (a finalizer's): the
        recording made it for real, unrecorded. A quick leaf (a clock, the pid) is a fact
        with no effect: asked for real again; a handle's attribute is as the recording ended
        (engine/handles/); anything else touches nothing and gives None."""
        fact = self._facts.get(bid)
        if fact is None:
            return None
        with untraced():
            try:
                return fact(*args, **kwargs)
            except Exception:
                return None

    def _sealed_key_matches(self, recorded, bid, args, kwargs) -> bool:
        """A recorded call whose arguments held secrets (``[digest, places]``, see
        retrace/sealing.py): this call matches if its arguments, blanked at the same
        places, have the same digest. Whether they held the secret itself (a replay
        with the key) or its *s (without) does not matter; everything else does."""
        if type(recorded) is not list or len(recorded) != 2 or type(recorded[1]) is not list:
            return False
        try:
            blanked = blank_key(frozen_call_key(self._keys[bid], args, kwargs), recorded[1])
        except Exception:  # (a malformed recording: no match, reported as a divergence)
            return False
        return blanked is not None and digest_of(blanked) == recorded[0]

    def become_child(self, reader) -> None:
        """In a forked child of the replay: follow the child's own recording from here."""
        self.reader = reader
        unsealer, sealed_settings = self.source.unsealer, self.source.sealed_settings
        self.source = ReplaySource(reader, self._stop)
        self.source.unsealer, self.source.sealed_settings = unsealer, sealed_settings
        self.finished = False
        if self.signals is not None:
            self.source.ahead = self.signals.ahead
        self.threads.reset_for_child()

    # -- signals (boundaries/signals.py) --------------------------------------
    def attach_signals(self, signals) -> None:
        """``signals.deliver(event)`` runs the program's handler for a recorded delivery;
        ``signals.ahead(event)`` hears of a delivery coming next, before the program's
        next boundary call (to run the handler at the recorded spot in between)."""
        self.signals = signals
        self.source.ahead = signals.ahead

    def take_signal(self, event) -> None:
        """Consume ``event``, the next one: a delivery the signals family runs now."""
        taken = self.source.next_event()
        assert taken is event, "take_signal: not the next event"
        self.source.recent.append((event, SIGNAL_EVENT))

    def thread_diverged(self, detail: str, stalled: bool = False) -> None:
        if stalled:
            self._stop(Diverged(detail))
        self._stop(Diverged(f"replay diverged at event {self.source.index}: {detail}"))

    def signal_diverged(self, detail: str) -> None:
        self._stop(Diverged(f"replay diverged at event {self.source.index - 1}: {detail}"))

    def _signal_then_take(self, event, bid, digest, args, kwargs, depth):
        """The recording ran a signal handler before this call's event (the signal came
        while the call was under way, e.g. it interrupted a sleep): run it now, then
        answer the call. A handler that raises made the recorded call raise that
        exception (its event holds it): the call raises it again, the live object."""
        self.source.recent.append((event, SIGNAL_EVENT))
        try:
            self.signals.deliver(event)
        except BaseException as exc:
            following = self.source.peek()
            while following is not None and following[0] == SWITCH_ID:  # others ran meanwhile
                self.source.next_event()
                self.source.index -= 1
                self.threads.switch_to(following[2])
                following = self.source.peek()
            if following is None or self.source.names.get(following[0]) != self.names[bid]:
                raise  # the interrupted call never recorded an event of its own
            value = self._take(bid, digest, args, kwargs, depth)
            if type(value) is not Raised:
                return value  # the call's own code caught it while recording
            # The wrapper raises what rebuild() returns, from the line a recorded
            # exception comes from, so the traceback is the recording's.
            return Raised(_Live.__module__, _Live.__qualname__, ([exc.with_traceback(None)],), {})
        return self._take(bid, digest, args, kwargs, depth)

    # -- when things go wrong -------------------------------------------------
    def _report(self, expected, got_name, args, kwargs) -> DivergenceReport:
        source = self.source
        index = source.index - (0 if expected is None else 1)  # the event that did not match
        first = index - len(source.recent)
        recent = [(first + i, name, source.site(ev[1])) for i, (ev, name) in enumerate(source.recent)]
        report = DivergenceReport(
            index=index,
            expected_boundary=None if expected is None else source.names.get(expected[0], "?"),
            expected_site=None if expected is None else source.site(expected[1]),
            got_boundary=got_name,
            got_args=None if args is None else (args, kwargs),
            got_site=user_site(sys._getframe(1)),
            recent=recent,
        )
        report.sealed = source.sealed_settings + source.sealed_values
        report.sealed_count = len(source.sealed_settings) + source.sealed_values_count
        return report

    def _mismatch(self, event, name, args, kwargs):
        report = self._report(event, name, args, kwargs)
        if report.expected_boundary == name:
            report.detail = "same boundary, different arguments"
        self._stop(Diverged(report.render(), report))

    def _past_end(self, name, args, kwargs):
        """The program wants an event the recording does not have."""
        source = self.source
        report = self._report(None, name, args, kwargs)
        ending = source.ending
        how = None if ending is None else ending.get("how")
        if how == SIZE_CAP or how == STOPPED:
            why = "at its size cap (RETRACE_MAX_SIZE)" if how == SIZE_CAP else f"because of {ending.get('why')}"
            self._stop(RecordingEnds(
                f"recording ends at event {source.index}: it stopped there {why} while the program went on; "
                f"replay stops before {name} at {report.got_site}"))
        if ending is not None:
            self._ended_as_recorded(ending, f"before {name} at {report.got_site}")
            report.detail = f"the recorded process had already ended ({ending.get('how', 'exit')})"
            self._stop(Diverged(report.render(), report))
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
        while event is not None:
            if event[0] == source.signal_bid and self.signals is not None:
                self.take_signal(event)  # a signal handled after the last boundary call
                self.signals.deliver(event)
            elif event[0] == GC_ID:  # (the recording ended inside the call that collected)
                source.next_event()
                source.index -= 1
                self.garbage.collect_recorded(event[2])
            else:
                break
            event = source.peek()
        if event is not None:
            report = self._report(None, "the program's end (no more boundary calls)", None, None)
            report.index = source.index
            report.expected_boundary = source.names.get(event[0], "?")
            report.expected_site = source.site(event[1])
            self._stop(Diverged(report.render(), report))
        if source.ending is None:
            self._stop(self._cut_short("replay went on to the program's end, past what was recorded"))
        self._ended_as_recorded(source.ending, "at the program's end")
        self.garbage.stop()  # (as the recording's end did: what is left is finalized in order)

    def end_process(self, how: str, status: int | None = None, why: str | None = None) -> None:
        self.finished = True
        self.garbage.stop()
        if self.output is not None:
            self.output.end()  # (os._exit: its turns to write are over)
        if self.source.peek() is None and self.source.ending is not None:
            # A signal that came as it called os._exit (a pool's worker on its way out,
            # terminated) ended the recorded process: so it ends the replay.
            self._ended_as_recorded(self.source.ending, "at os._exit")


class _Live(BaseException):
    """``Raised.rebuild`` of an exception that exists already (see _signal_then_take).

    It comes out of its box: the wrapper's frame, in the exception's traceback, holds
    the ``Raised``, which must not hold the exception (a cycle keeps the frames the
    exception passes, and their objects, alive until a collection: ``__del__`` that
    ran as the exception was dropped, a ``Popen``'s last poll, runs later on replay)."""

    def __new__(cls, box):
        return box.pop()
