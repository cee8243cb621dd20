"""Switch-outs: a thread that keeps the baton for a whole time slice while others wait.

A thread spinning on a flag (``while not done: pass``) or computing without boundary
calls never reaches a hand-over point of its own; the others would starve. So:

Recording (``Preempter``): a thread of ours looks at the scheduler every time slice.
When the same thread has held the baton for a whole slice while another waits, it
asks that thread to stop at its next line (engine/nextline.py: how depends on the
interpreter). The running thread, at the start of its next line outside retrace,
switches the hook off again and hands the baton over there. Nothing is traced before
that moment: programs pay nothing until a thread has to be switched out. The spot goes into the trace: the code (file, function, first line),
the instruction, and a digest of the stack (each frame's code and instruction, the
values of plain locals, the lengths of containers) that tells one pass of a loop from
the next.

Replay (``SpotWatcher``): when the next item of the trace is a switch-out of the
running thread, that thread traces itself (``sys.settrace``, line events only in
frames of the recorded code) until it reaches the instruction with the same stack
digest, and hands over there. If it reaches a boundary call, a lock wait or its end
first, the replay has diverged and says so.

A thread that does not answer within a few slices is not running Python: it waits inside
a C call that is no boundary (a C queue, libzmq, gRPC's core), and the others would wait
for it forever. The preempter then switches it out where it is, from its own thread: the
spot is that call's instruction (marked *inside*), and the thread takes the baton again
at its first Python event after the call (an opcode in its frame, a callback's call).
Replay hands over just before the same call, runs the call without the baton, and
waits for the turn at the first event after it, as the recording did.

Known limit: passes of a loop that leave every plain local and container length
unchanged look alike; the switch-out then happens at the first of them. A thread
that is already traced (a debugger, coverage) is not switched out by time.
"""

from __future__ import annotations

import sys

from retrace import originals
from retrace.engine import nextline
from retrace.engine.bytecode import at_call, call_instruction
from retrace.engine.divergence import is_ours
from retrace.engine.state import mark_machinery_thread, start_machinery_thread, state
from retrace.engine.tracing import CO_OPTIMIZED, frame_locals, trace_opcodes
from retrace.messages import warn
from retrace.trace.format import PREEMPT_ID, SWITCH_ID

_allocate_lock = originals.allocate_lock
_monotonic = originals.monotonic

SLICE_SECONDS = 0.005  # as CPython's own switch interval
# An asked thread that reached no line in this many slices is inside a C call (it does
# not hold the GIL, or the preempter would not be running): switched out where it is.
# Not fewer: a thread that has just returned from a call and waits for the GIL (another
# thread of the process holds it) looks the same for a moment, and its call must not be
# replayed as running without the baton.
STUCK_SLICES = 10

_INSIDE = 1  # a switch-out spot's 9th item: the thread was inside the call at its instruction
_PLAIN = frozenset({int, float, str, bytes, bool})
_NONE = -0x4E4F4E45  # stands for None in digests: hash(None) is its address in 3.11
_SIZED = frozenset({list, dict, set, frozenset, tuple, bytearray})
_RUNPY = "<frozen runpy>"  # (runpy's code is frozen in 3.11)
_UNBOUND = object()  # (not plain: left out of digests, as a variable not in f_locals)


# -- where a thread is: the same in both runs -------------------------------------------------
def _plain_parts(values, parts: list) -> None:
    for value in values:
        kind = type(value)
        if kind in _PLAIN:
            parts.append(value)
        elif value is None:
            parts.append(_NONE)
        elif kind in _SIZED:
            parts.append(len(value))


def _digest(parts: list) -> int:
    try:
        return hash(tuple(parts)) & 0xFFFFFFFFFFFF  # (str hashes: the hash seed is the recording's)
    except TypeError:
        return -1


def frame_digest(frame) -> int:
    """A frame's function and instruction, the plain values (and container lengths) of
    its locals and of the globals its code names (``counter += 1`` on a global)."""
    code = frame.f_code
    found = frame_locals(frame)  # (each read copies the fast locals into a dict: read once)
    in_globals = frame.f_globals
    parts: list = [code.co_name, call_instruction(code, frame.f_lasti)]
    if found is not in_globals:
        _plain_parts(_locals_in_order(code, found), parts)
    _plain_parts([in_globals.get(name) for name in code.co_names], parts)
    return _digest(parts)


def _locals_in_order(code, found: dict):
    """A function's locals in its code's order (a first read's), not the dict's: the
    frame keeps one ``f_locals`` dict, and a variable unbound when it was first read goes
    last once bound; replay reads it from the frame's start, recording only at the spot.
    Other frames' locals (a class body's) are a namespace, in the program's own order."""
    if not code.co_flags & CO_OPTIMIZED:
        return found.values()
    names = dict.fromkeys(code.co_varnames + code.co_cellvars + code.co_freevars)  # (an argument may be a cell)
    return [found.get(name, _UNBOUND) for name in names]


def stack_digests(frame) -> list:
    """``frame_digest`` of each frame from ``frame`` outwards, up to the first of
    retrace's own or runpy's (a thread's start, the runner of the main script or
    module, a boundary that called back into the program): what lies below differs
    between the modes."""
    digests = []
    while frame is not None and not _below_program(frame):
        digests.append(frame_digest(frame))
        frame = frame.f_back
    return digests


def _below_program(frame) -> bool:
    """Whether the program's frames end at ``frame``: retrace's own, or runpy's with
    nothing else below them, which start ``python -m name`` (under a debugger, the
    replay runs the module from retrace's ``run_main`` instead)."""
    filename = frame.f_code.co_filename
    if is_ours(filename):
        return True
    while filename == _RUNPY:
        frame = frame.f_back
        if frame is None:
            return True
        filename = frame.f_code.co_filename
    return False


def matches(frame, digests: list) -> bool:
    """``stack_digests(frame) == digests``, frame by frame from the inside: the first
    frames usually tell one pass of a loop from another, so most checks stop there."""
    i = 0
    while frame is not None and not _below_program(frame):
        if i >= len(digests) or frame_digest(frame) != digests[i]:
            return False
        i += 1
        frame = frame.f_back
    return i == len(digests)


def spot_of(frame, held: float, threads: int) -> list:
    """[file, function, first line, line, instruction, the frames' digests (innermost
    first), seconds the thread had run in its turn, threads started so far, 1 if it was
    inside a call, the innermost frame's key (``frame_key``)].

    The thread count tells apart the passes of a loop that starts threads (``for t in
    threads: t.start()``), whose plain values may all look alike."""
    code = frame.f_code
    return [code.co_filename, code.co_name, code.co_firstlineno, frame.f_lineno, frame.f_lasti,
            stack_digests(frame), round(held, 4), threads, 0, frame_key(frame)]


# -- a frame's key: what replay checks at each pass, before any digest -------------------------
# Replay traces the running thread through every pass of the spot's line until one has
# the recorded digests; computing those at each pass was most of a CPU-bound thread's
# replay time. The key is a few values of the innermost frame, each checked alone (the
# one that told the last pass apart first), with nothing that could run the program's
# code: exact built-in types only, then their hash or length.
_KEYED = (int, float, str, bytes, bool)  # (an entry's type code is the index)
_KEY_SIZED = 5  # type code of a container's length
_KEY_GLOBAL = 1  # an entry's flag: the name is a global of the frame
_KEY_ENTRIES = 16  # at most: a filter, the digests decide
_KEY_HASH_BITS = 0xFFFFFFFFFFFF  # (48 bits of a value's hash)


def frame_key(frame) -> list:
    """[[name, type code, hash or length, flags], ...] of the frame's plain locals (and
    the plain globals its code names), in code order."""
    code = frame.f_code
    found = frame_locals(frame)
    in_globals = frame.f_globals
    entries: list = []
    if found is not in_globals:
        for name in dict.fromkeys(code.co_varnames + code.co_cellvars + code.co_freevars):
            _key_entry(entries, name, found.get(name, _UNBOUND), 0)
    for name in code.co_names:
        if name in in_globals:
            _key_entry(entries, name, in_globals[name], _KEY_GLOBAL)
    return entries[:_KEY_ENTRIES]


def _key_entry(entries: list, name: str, value, flags: int) -> None:
    kind = type(value)
    if kind in _SIZED:
        entries.append([name, _KEY_SIZED, len(value), flags])
    elif kind in _KEYED and value == value:  # (a NaN's hash is its address)
        entries.append([name, _KEYED.index(kind), hash(value) & _KEY_HASH_BITS, flags])


class KeyCheck:
    """Replay: whether a frame has the recorded key. Each entry is read alone; ``probe``,
    the one that differed last time, first (the tracer reads it inline), so a loop's
    passes cost one lookup each."""

    def __init__(self, entries) -> None:
        self.entries = [(name, _KEYED[code] if code < len(_KEYED) else None, code == _KEY_SIZED, wanted,
                         bool(flags & _KEY_GLOBAL))
                        for name, code, wanted, flags in entries]
        self.probe = self.entries[0] if self.entries else None

    def rest(self, frame) -> bool:
        """Whether every entry holds; if not, the one that does not is the next probe."""
        found = frame_locals(frame)
        for entry in self.entries:
            if not entry_holds(entry, found, frame.f_globals):
                self.probe = entry
                return False
        return True


def entry_holds(entry, found, in_globals) -> bool:
    name, kind, sized, wanted, is_global = entry
    value = (in_globals if is_global else found).get(name, _UNBOUND)
    if sized:
        return type(value) in _SIZED and len(value) == wanted
    return type(value) is kind and hash(value) & _KEY_HASH_BITS == wanted


def _finding_a_module(frame) -> bool:
    """Whether ``frame`` runs inside importlib's search for a module (``_find_spec``: the
    finders, the path hooks such as zipimport's, the FileFinders). Replay searches its own
    way (bootstrap/importer.py: the recorded code from run/, through a finder of ours
    in the path finder's place), so the frames and the path hooks' calls there differ:
    a switch-out spot inside it is not found again."""
    while frame is not None:
        code = frame.f_code
        if code.co_name == "_find_spec" and code.co_filename == "<frozen importlib._bootstrap>":
            return True
        frame = frame.f_back
    return False


def _inside_call(frame) -> bool:
    """Whether a thread whose innermost Python frame is ``frame`` is inside a call to C
    made by the program (not by retrace, not by importlib, which may hold the import lock,
    nor while it searches for a module)."""
    code = frame.f_code
    filename = code.co_filename
    if is_ours(filename) or filename.startswith("<frozen importlib") or _finding_a_module(frame):
        return False
    return at_call(code, frame.f_lasti)


def _describe(spot) -> str:
    return f"{spot[0]}:{spot[3]} in {spot[1]}"


# -- recording ------------------------------------------------------------------------------
class Preempter:
    """Recording: switches out a thread that held the baton for a whole slice."""

    def __init__(self, scheduler) -> None:
        self.scheduler = scheduler
        self.hook = None  # how the asked thread is made to stop (engine/nextline.py)
        self._asked = None   # (slot, turns) of the pending request
        self._sleep = _allocate_lock()
        self._sleep.acquire()

    @classmethod
    def start(cls, scheduler):
        preempter = cls(scheduler)
        try:
            preempter.hook = nextline.line_hook(preempter._event)
        except Exception as exc:  # (an interpreter we do not know: no switch-outs, no crash)
            preempter.hook, reason = None, f"{type(exc).__name__}: {exc}"
        else:
            reason = "no way to stop another thread at its next line"
        if preempter.hook is None:
            warn(f"threads are not switched out by time on this interpreter ({reason}): a thread that "
                  "computes without boundary calls keeps the others waiting")
            return False  # (not None: the scheduler does not ask again)
        start_machinery_thread(preempter._watch)
        return preempter

    def _watch(self) -> None:
        mark_machinery_thread()
        scheduler = self.scheduler
        seen = None
        unanswered = 0  # slices the pending request has gone unanswered
        while not scheduler.off:
            self._sleep.acquire(True, SLICE_SECONDS)
            holder, turns = scheduler.holder, scheduler.turns
            if holder is not None and scheduler.runnable and (holder, turns) == seen:
                # A request left from a turn that is over counts as none: an asked thread
                # takes the request before it hands over, and may be asked again just then
                # (for the turn it is ending), or it ended its turn another way (a lock
                # wait, a boundary call); no answer for this turn would ever come.
                if self._asked != (holder, turns):
                    self._ask(holder, turns)
                    unanswered = 0
                else:
                    unanswered += 1
                    if unanswered >= STUCK_SLICES:
                        self._switch_out_in_c(holder)
                        unanswered = 0
            seen = (holder, turns)

    def _switch_out_in_c(self, slot) -> None:
        """The asked thread is blocked in a C call that is no boundary: switch it out there."""
        frame = sys._current_frames().get(slot.ident)
        if frame is None or not _inside_call(frame):
            return  # (in retrace, in importlib, or not at a call: it answers at its next line)
        scheduler = self.scheduler

        def spot(frame):
            found = spot_of(frame, _monotonic() - scheduler.turn_began, len(scheduler.slots))
            found[4] = call_instruction(frame.f_code, frame.f_lasti)  # (where replay stops: the CALL)
            found[8] = _INSIDE
            return found

        self.hook.watch_return(frame)  # its first instruction after the call is an event
        if scheduler.preempt_in_c(slot, frame, spot):
            self._asked = None
        else:
            self.hook.unwatch_return(frame)

    def _ask(self, slot, turns) -> None:
        """Ask ``slot``'s thread to stop at its next line (unless something traces it)."""
        with self.scheduler.mutex:  # the thread cannot end (and free its state) meanwhile
            if slot.finished or self.scheduler.holder is not slot:
                return
            self._asked = (slot, turns)
            if not self.hook.ask(slot.ident):
                self._asked = None

    def _event(self, frame, is_line: bool) -> None:
        """In the asked thread, on every event of the hook until it is switched out."""
        hook = self.hook
        try:
            if state.slot is not None and state.slot.in_c is not None:
                self._back_from_c(state.slot)  # (any event: an instruction, a callback's call)
                return
            if not is_line or state.busy:
                return
            filename = frame.f_code.co_filename
            if is_ours(filename) or filename.startswith("<frozen importlib") or _finding_a_module(frame):
                return  # (importlib may hold the import lock here; replay finds modules its own way)
            slot = state.slot
            if slot is not None and slot.starting:
                return  # inside Thread.start, which is no hand-over (its waits are real): later
            hook.stop()
            asked, self._asked = self._asked, None
            scheduler = self.scheduler
            if asked is not None and asked[1] == scheduler.turns and asked[0] is state.slot:
                scheduler.preempt(asked[0], spot_of(frame, _monotonic() - scheduler.turn_began,
                                                    len(scheduler.slots)))
            if slot is not None and slot.in_c is not None:  # switched out meanwhile, from the preempter
                self._back_from_c(slot)
        except BaseException:  # never into the program; at worst this switch-out is lost
            hook.stop()
            self._asked = None

    def _back_from_c(self, slot) -> None:
        self.hook.unwatch_return(slot.in_c)
        self.hook.stop()
        self.scheduler.return_from_c(slot)



# -- replay ------------------------------------------------------------------------------------
class SpotWatcher:
    """Replay: the running thread traces itself to the spot where it was switched out."""

    def __init__(self, scheduler) -> None:
        self.scheduler = scheduler
        self.engine = scheduler.engine

    def arm(self, slot, item) -> None:
        if slot is None or slot.preempt is not None:
            return
        spot = item[2]
        if type(spot) is not list or len(spot) < 7:
            self.engine.thread_diverged(f"damaged switch-out item {spot!r}")
        file, function, firstlineno, line, lasti, digests = spot[:6]
        threads = spot[7] if len(spot) > 7 else None  # (recordings made before it was kept)
        # Inside a call: the recording switched the thread out while it was in C, at that
        # call's instruction; replay stops there just before the call (an opcode event).
        inside = len(spot) > 8 and spot[8] == _INSIDE
        wanted = "opcode" if inside else "line"
        key = KeyCheck(spot[9] if len(spot) > 9 and type(spot[9]) is list else ())
        slots = self.scheduler.slots
        previous = sys.gettrace()
        touched: list = []
        pending = slot.preempt = (item, spot, previous, touched)
        switch_out_here = self._switch_out_here

        def is_spot_code(code) -> bool:
            return code.co_firstlineno == firstlineno and code.co_name == function and code.co_filename == file

        # Line (or opcode) events only in frames of the spot's code; the cheap digests first.
        # Opcode events are asked for on the spot's line only: at a call (a generator resumed
        # on that line gets no line event first) and again at the line's line events
        # (asked for at a call, 3.12 and 3.13 may never send them: engine/tracing.py).
        def local(frame, event, arg, _unbound=_UNBOUND, _sized=_SIZED, _mask=_KEY_HASH_BITS):
            if frame.f_lasti != lasti or event != wanted:
                if inside and event == "line":
                    trace_opcodes(frame, frame.f_lineno == line, again=True)
                return local
            probe = key.probe  # (inline: this runs at every pass of the spot's line)
            if probe is not None:
                name, kind, sized, wanted_value, is_global = probe
                value = (frame.f_globals if is_global else frame_locals(frame)).get(name, _unbound)
                if sized:
                    if type(value) not in _sized or len(value) != wanted_value:
                        return local
                elif type(value) is not kind or hash(value) & _mask != wanted_value:
                    return local
                if not key.rest(frame):
                    return local
            if not matches(frame, digests):
                return local
            if threads is not None and len(slots) != threads:
                return local
            return switch_out_here(slot, pending, frame)

        def on_call(frame, event, arg):
            chained = previous(frame, event, arg) if previous is not None else None
            if event == "call" and is_spot_code(frame.f_code):
                if inside:
                    trace_opcodes(frame, frame.f_lineno == line)
                return local
            return chained

        frame = sys._getframe(1)
        while frame is not None:
            if is_spot_code(frame.f_code):
                touched.append((frame, frame.f_trace, frame.f_trace_opcodes))
                frame.f_trace = local
                if inside:
                    trace_opcodes(frame, frame.f_lineno == line)
            frame = frame.f_back
        sys.settrace(on_call)

    def _disarm(self, slot) -> None:
        item, spot, previous, touched = slot.preempt
        slot.preempt = None
        sys.settrace(previous)
        for frame, trace, opcodes in touched:
            frame.f_trace = trace
            trace_opcodes(frame, opcodes)
        # A frame that got ``local`` on its call keeps it (and so ``pending``) as long as it
        # lives: the frames listed here must not live that long with it (their locals would).
        touched.clear()

    def _switch_out_here(self, slot, pending, frame):
        """Hand over at the spot; the tracer ``frame`` keeps (None: as it was)."""
        # Collections the recording noted on the way here (CPython's own, at an allocation:
        # no boundary call came between) run first, later than they ran, as at a boundary
        # call. Still armed meanwhile: taking them must not arm the watcher again.
        # (Inside this trace function, their finalizers are not traced.)
        self.scheduler.collect_noted()
        self._disarm(slot)
        source = self.engine.source
        taken = source.next_event()
        if taken is not pending[0]:
            self.engine.thread_diverged("the switch-out is not the next item of the recording")
        source.index -= 1
        self.scheduler.collect_noted()  # (one that began as the hand-over was recorded)
        following = source.next_event()
        if following is None or following[0] != SWITCH_ID:
            self.engine.thread_diverged("a switch-out in the recording is not followed by a hand-over")
        source.index -= 1
        spot = pending[1]
        if not (len(spot) > 8 and spot[8] == _INSIDE):
            self.scheduler.switch_to(following[2])
            _refresh_locals(frame)
            return None
        # Switched out inside a C call: the call runs now, without the baton, as it did when
        # recorded; the thread waits for its turn at its first Python event after it.
        self.scheduler.switch_to(following[2], park=False)
        _refresh_locals(frame)
        return self._wait_after_the_call(slot, frame)

    def _wait_after_the_call(self, slot, frame):
        previous = sys.gettrace()
        had = (frame.f_trace, frame.f_trace_opcodes)
        scheduler = self.scheduler

        def back(event_frame, event, arg):
            sys.settrace(previous)
            frame.f_trace = had[0]
            trace_opcodes(frame, had[1])
            slot.doing = "waiting for its turn"
            scheduler._park(slot)
            slot.doing = "running"
            _refresh_locals(event_frame)
            return None

        sys.settrace(back)  # (a call the C code makes back into Python is an event too)
        trace_opcodes(frame, True)
        return back

    def missed(self, slot, what: str) -> None:
        """``slot`` reached ``what`` while its switch-out spot was still ahead."""
        if slot is None or slot.preempt is None:
            return
        spot = slot.preempt[1]
        self._disarm(slot)
        self.engine.thread_diverged(
            f"{slot.name()} was switched out at {_describe(spot)} in the recording, but the replay "
            f"reached {what} without passing there")


def _refresh_locals(frame) -> None:
    """For a tracer that let other threads run: CPython 3.11 copies the traced frame's
    locals into its ``f_locals`` dict before a Python trace function and back after it,
    cells included, so a shared cell (``nonlocal total``) that another thread set
    meanwhile would get its old value back. Reading ``f_locals`` copies them in anew."""
    frame_locals(frame)


def missed_item(engine, item, what: str) -> None:
    """A switch-out item met by a boundary call (the watcher was not armed)."""
    spot = item[2] if type(item[2]) is list and len(item[2]) >= 7 else None
    where = _describe(spot) if spot else "an unknown spot"
    engine.thread_diverged(f"the running thread was switched out at {where} in the recording, but the "
                           f"replay reached {what} without passing there")


__all__ = ["Preempter", "SpotWatcher", "PREEMPT_ID", "spot_of", "frame_digest", "stack_digests", "matches"]
