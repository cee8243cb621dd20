"""Signals: a handler runs at the recorded point on replay; timers and waits are leaves.

Recording wraps the program's handlers (one function of ours, from engine/templates.py's
``signal_handler``; ``getsignal`` reports the program's own) and appends a
``signal.deliver`` event where a signal arrives: inside a boundary call, or between
calls with the code position and a fingerprint of the frame's plain locals. Replay
installs no real handler of the program and runs it when the replay reaches that
point. The scheme, each case and its limits: docs/signals.md.
"""

from __future__ import annotations

import _signal
import sys

from retrace import originals
from retrace.boundaries.spec import Family, Leaf, OnImport, Patch, all_args
from retrace.engine import templates
from retrace.engine.divergence import is_ours
from retrace.engine.state import ThreadState, state
from retrace.engine.tracing import (PROFILER_FROM_A_TRACER, frame_locals, trace_opcodes, unwatch_c_returns,
                                    watch_c_returns)
from retrace.trace.format import SIGNAL_EVENT

SIG_DFL = _signal.SIG_DFL
SIG_IGN = _signal.SIG_IGN
SIGINT = _signal.SIGINT
_real_signal = originals.signal
_real_getsignal = originals.getsignal
_DEFAULT_INT = originals.default_int_handler
_MISSING = object()
_UNTOUCHED = object()

# -- one function for both modes: where the program's handler is called ---------------
def _build(before, after, watch=(None, None)):
    """The handler function (engine/templates.py), under a pseudo-file like the boundary
    wrappers (dropped from uncaught tracebacks)."""
    scope = {"before": before, "after": after, "watch": watch}
    return templates.instantiate(templates.signal_handler, scope, "<retrace signal>", "signal_handler")


def _no_after(todo, raised):
    return None


def _program_frame(frame):
    """The program's frame: the first one outside retrace (boundary wrappers, families)."""
    while frame is not None and is_ours(frame.f_code.co_filename):
        frame = frame.f_back
    return frame


# -- where in the program's code ------------------------------------------------------


def _position(frame) -> tuple[int, bool]:
    """(instruction, runs-after-it) for a frame the interpreter stopped in (engine/bytecode.py)."""
    from retrace.engine.bytecode import stopped_at  # (opcode's tables: not at start-up)

    return stopped_at(frame.f_code, frame.f_lasti)


_PLAIN = frozenset({int, float, str, bytes, bool, type(None)})


def _plain_names(frame) -> list:
    """The frame's local names holding plain values (ints, strs, floats...)."""
    try:
        items = list(frame_locals(frame).items())
    except Exception:
        return []
    return sorted(name for name, value in items
                  if type(value) in _PLAIN and type(name) is str and not name.startswith("__"))


def _fingerprint(frame, names) -> int:
    """A digest of the values of ``names`` in the frame (the same in record and replay:
    the hash seed is the recording's)."""
    try:
        found = frame_locals(frame)
        values = [found.get(name, _MISSING_NAME) for name in names]
        # hash(None) is None's address in 3.11: it differs from one process to the next
        return hash(tuple([_NONE if value is None else value for value in values])) & 0xFFFFFFFFFFFF
    except Exception:
        return -1


_MISSING_NAME = ("<retrace: no such local>",)
_NONE = "<retrace: None>"


def _signame(signum) -> str:
    try:
        import signal

        return signal.Signals(signum).name
    except Exception:
        return f"signal {signum}"


# -- the family's state, one per engine -------------------------------------------------
class _Signals:
    def __init__(self, engine) -> None:
        self.engine = engine
        self.recording = engine.recording
        self.handlers: dict = {}     # what the program installed, by signal number
        self.initial: dict = {}      # dispositions it did not set itself, as first read
        self.stand_ins: dict = {}    # recording: our handler standing for SIG_DFL (record.py)
        self.original_getsignal = _real_getsignal
        self._initial_leaf = engine.leaf("signal.getsignal", self._read_initial, key=all_args, depth=4)
        if self.recording:
            self.handler = _build(self._record_before, self._record_after)
        else:
            self.deliverer = _build(self._deliver_before, _no_after)
            self.watch = [None, None]  # the tracer's gate: [instruction, frame due]
            self.tracer = _build(self._trace_before, _no_after, self.watch)
            # Then, for a call, its c_return (profile event; 3.12+: sys.monitoring's
            # C_RETURN): the handler runs as the call returns, with the frame still at the
            # call (a traceback points at the call).
            self.profiler = _build(self._profile_before, _no_after)
            self.prev_profile = self.profiled_call = _UNTOUCHED
            self.c_returns = _build(self._c_return_before, _no_after)
            self.c_watched: list = []  # the codes whose C calls' returns are watched (3.12+)
            self.target = None       # the delivery the tracer waits for
            self.pending = None      # the frame to deliver in at its next event
            self.touched: list = []  # (frame, its f_trace, its f_trace_opcodes) to restore
            self.prev_trace = None
            engine.attach_signals(self)

    # -- what the program sees ------------------------------------------------------
    def visible(self, signum):
        """The handler ``getsignal`` reports (may read the real one, as a leaf, once)."""
        if isinstance(signum, int):
            handler = self.handlers.get(signum, _MISSING)
            if handler is not _MISSING:
                return handler
            handler = self.initial.get(signum, _MISSING)
            if handler is not _MISSING:
                return handler
        token = self._initial_leaf(signum)  # raises the recorded error for a bad number
        handler = _DEFAULT_INT if token == "int" else (token if token in (SIG_DFL, SIG_IGN) else None)
        self.initial[signum] = handler
        return handler

    def _read_initial(self, signum):
        """Recording: the real disposition, as a token (0, 1, "int", None)."""
        real = self.original_getsignal(signum)
        if real is self.handler:  # only SIGINT's start-up handler is ours without a table entry
            return "int"
        if real in self.stand_ins.values():
            return SIG_DFL
        if real is _DEFAULT_INT:
            return "int"
        if type(real) is int:
            return real
        return None

    def handler_for_delivery(self, signum):
        handler = self.handlers.get(signum, _MISSING)
        if handler is _MISSING:
            handler = _DEFAULT_INT if signum == SIGINT else None  # SIGINT's start-up handler
        return handler

    # -- recording ------------------------------------------------------------------
    def wrap_startup_handlers(self) -> None:
        """SIGINT starts with Python's ``default_int_handler``: record Ctrl-C too."""
        try:
            if _real_getsignal(SIGINT) is _DEFAULT_INT:
                _real_signal(SIGINT, self.handler)
        except (ValueError, OSError):  # not the main thread: nothing to wrap
            pass

    def stand_in(self, signum, handler) -> None:
        """Recording only: ``handler`` stands for SIG_DFL (the recorder's own flush on a
        fatal signal); the program still sees SIG_DFL and may replace it."""
        self.stand_ins[signum] = handler
        if self.handlers.get(signum, SIG_DFL) is SIG_DFL:
            _real_signal(signum, handler)

    def _record_before(self, signum, frame):
        handler = self.handler_for_delivery(signum)
        user = _program_frame(frame)
        if not callable(handler):
            return None
        engine = self.engine
        if ThreadState.busy or engine.ended:  # recording has stopped: run it, unrecorded
            return (handler, signum, user if user is not None else frame, _UNTOUCHED)
        had = state.__dict__.get("busy")
        if had or user is None:
            value = [signum]  # inside a boundary call (or our own machinery)
        else:
            lasti, after = _position(user)
            names = _plain_names(user)
            value = [signum, lasti, _fingerprint(user, names), user.f_code.co_firstlineno, after, names]
        # In a threaded program the main thread may be waiting for its turn, or running a
        # boundary call without the baton: it takes the baton for the handler's run.
        resume = engine.threads.hold_for_signal(state.slot)
        engine.note(SIGNAL_EVENT, value, user)
        state.busy = False  # the handler's own boundary calls are recorded, even inside a leaf
        return (handler, signum, user if user is not None else frame, had, resume)

    def _record_after(self, todo, raised):
        had = todo[3]
        if had is _UNTOUCHED:
            return None
        if had is None:
            state.__dict__.pop("busy", None)
        else:
            state.busy = had
        if todo[4] is not None:
            self.engine.threads.release_after_signal(state.slot, todo[4], raised)
        return None

    # -- replay: the replayer's side (engine.attach_signals) -----------------------------
    def deliver(self, event) -> None:
        """Run the program's handler for ``event`` (already taken) now: the program is at
        a boundary call or at its end."""
        if self.target is event:
            self._disarm()
        signum = event[2][0]
        frame = _program_frame(sys._getframe(1))
        self.deliverer(self._checked_handler(signum), signum, frame, None)  # (4 args: not a trace event)

    def _deliver_before(self, handler, signum, frame, _):
        return (handler, signum, frame, None)

    def _checked_handler(self, signum):
        handler = self.handler_for_delivery(signum)
        if not callable(handler):
            self.engine.signal_diverged(
                f"the recording ran the program's handler for {_signame(signum)} here, but the "
                f"program's handler for it is now {handler!r}")
        return handler

    def ahead(self, event) -> None:
        """A delivery is the next event: if it happened between boundary calls, watch for
        its spot."""
        value = event[2]
        if type(value) is not list or len(value) < 6 or self.target is not None:
            return
        self._arm(event)

    def _arm(self, event) -> None:
        _, lasti, fingerprint, firstlineno, after, names = event[2][:6]
        site = self.engine.source.site(event[1])
        self.target = event
        self.line = site.line  # opcode events are asked for on this line only
        self.code_id = (site.file, site.function, firstlineno)
        self.lasti, self.fingerprint, self.after, self.names = lasti, fingerprint, after, names
        self.watch[0] = lasti
        self.pending = None
        self.prev_trace = sys.gettrace()
        frame = sys._getframe(1)
        while frame is not None:
            if self._is_target(frame.f_code):
                # A frame already at the spot: inside the call there (replay got here
                # through it), or stopped there for the delivery before this one (two
                # signals handled at one point): the handler runs at its next step.
                if (self.pending is None and _position(frame)[0] == lasti
                        and _fingerprint(frame, names) == fingerprint):
                    self.pending = self.watch[1] = frame
                self._touch(frame, frame.f_trace)
                if frame is self.pending:
                    trace_opcodes(frame, True)
            frame = frame.f_back
        sys.settrace(self.tracer)

    def _is_target(self, code) -> bool:
        file, function, firstlineno = self.code_id
        return code.co_firstlineno == firstlineno and code.co_name == function and code.co_filename == file

    def _touch(self, frame, previous) -> None:
        self.touched.append((frame, previous, frame.f_trace_opcodes))
        frame.f_trace = self.tracer
        trace_opcodes(frame, frame.f_lineno == self.line or frame is self.pending)
        code = frame.f_code
        if self.after and not PROFILER_FROM_A_TRACER and code not in self.c_watched:
            # (3.12+: before the call starts; a call under way when watched reports no return)
            if watch_c_returns(code, self.c_returns):
                self.c_watched.append(code)

    def _disarm(self) -> None:
        sys.settrace(self.prev_trace)
        if self.prev_profile is not _UNTOUCHED:
            sys.setprofile(self.prev_profile)
            self.prev_profile = _UNTOUCHED
        for code in self.c_watched:
            unwatch_c_returns(code)
        self.c_watched.clear()
        for frame, previous, opcodes in self.touched:
            frame.f_trace = previous
            trace_opcodes(frame, opcodes)
        self.touched.clear()
        self.target = self.pending = self.prev_trace = None
        self.watch[:] = [None, None]

    def _trace_before(self, frame, event, arg):
        if self.target is None:
            return None
        if event == "call":
            chained = self.prev_trace(frame, event, arg) if self.prev_trace is not None else None
            if not self._is_target(frame.f_code):
                return chained
            self._touch(frame, chained)
            if self.lasti == 0 and _fingerprint(frame, self.names) == self.fingerprint:
                return self._deliver_here(frame)  # it ran as the function started
            return self.tracer
        if frame is self.pending:
            return self._deliver_here(frame)
        if event == "line":
            trace_opcodes(frame, frame.f_lineno == self.line)
            return None
        if (event == "opcode" and frame.f_lasti == self.lasti and self._is_target(frame.f_code)
                and _fingerprint(frame, self.names) == self.fingerprint):
            if self.after:
                # A call: the handler runs once it has returned, at its C return (3.11's
                # profiler, 3.12's monitoring) or else at the frame's next event.
                self.pending = self.watch[1] = frame
                if PROFILER_FROM_A_TRACER:
                    self.prev_profile, self.profiled_call = sys.getprofile(), None
                    sys.setprofile(self.profiler)
                return self.tracer
            return self._deliver_here(frame)
        return None

    def _profile_before(self, frame, event, arg):
        if self.target is None or frame is not self.pending:
            return None
        if event == "c_call" and self.profiled_call is None:
            self.profiled_call = arg
        elif (event == "c_return" or event == "c_exception") and arg is self.profiled_call:
            return self._deliver_here(frame)
        return None

    def _c_return_before(self, code, offset, callable, arg0):
        frame = sys._getframe(2)  # (below this and the handler function: the program's)
        if self.target is None or frame is not self.pending or offset != self.lasti:
            return None
        return self._deliver_here(frame)

    def _deliver_here(self, frame):
        event = self.target
        self._disarm()
        self.engine.take_signal(event)
        signum = event[2][0]
        return (self._checked_handler(signum), signum, frame, None)


def _state(engine) -> _Signals:
    signals = getattr(engine, "_signals_family", None)
    if signals is None:
        signals = engine._signals_family = _Signals(engine)
    global _active
    _active = signals
    return signals


_active: _Signals | None = None


def stand_in(signum, handler) -> bool:
    """For the recorder (bootstrap/fatalsignals.py): install ``handler`` for ``signum`` while
    the program's view of it stays SIG_DFL. False when the family is not installed."""
    if _active is None or not _active.recording:
        return False
    _active.stand_in(signum, handler)
    return True


# -- replacements ---------------------------------------------------------------------------
def _handler_kind(handler) -> str:
    """As ``_signal.signal`` sees it (identity with its SIG_IGN/SIG_DFL ints)."""
    if handler is SIG_IGN:
        return "ign"
    if handler is SIG_DFL:
        return "dfl"
    return "handler" if callable(handler) else "bad"


def _noop(signum, frame) -> None:
    """Replay: a real signal for which the program has a handler does nothing."""


def _make_signal(engine, original, name):
    signals = _state(engine)
    install = engine.leaf("signal.signal", lambda signalnum, kind, real: (original(signalnum, real), None)[1],
                          key=lambda signalnum, kind, real: (signalnum, kind), depth=3)
    recording = engine.recording

    def signal(signalnum, handler, /):
        if state.busy:
            return original(signalnum, handler)
        previous = signals.visible(signalnum)
        kind = _handler_kind(handler)
        real = handler
        if recording:
            if kind == "handler":
                real = signals.handler
            elif kind == "dfl":
                real = signals.stand_ins.get(signalnum, handler)
        install(signalnum, kind, real)  # replay: the recorded outcome (None, or its error)
        if not recording and signalnum != SIGINT:  # (Ctrl-C must still stop a replay)
            try:
                original(signalnum, _noop if kind == "handler" else handler)
            except (ValueError, OSError, TypeError):
                pass
        signals.handlers[signalnum] = handler
        return previous

    signal.__wrapped__ = original
    signal.__name__ = signal.__qualname__ = "signal"
    signal.__doc__ = original.__doc__
    return signal


def _make_getsignal(engine, original, name):
    signals = _state(engine)
    signals.original_getsignal = original

    def getsignal(signalnum, /):
        if state.busy:
            return original(signalnum)
        return signals.visible(signalnum)

    getsignal.__wrapped__ = original
    getsignal.__doc__ = original.__doc__
    return getsignal


def _make_sender(key):
    """``raise_signal``/``pthread_kill``: recording sends for real (the handler runs
    inside the leaf, and is recorded there); replay sends only a signal left at its
    default action, before the leaf, so the replay dies (or stops) as recorded."""

    def make(engine, original, name):
        signals = _state(engine)
        leaf = engine.leaf("signal." + name.partition(".")[2], original, key=key, depth=2)
        replaying = not engine.recording

        def send(*args):
            if state.busy:
                return original(*args)
            signum = args[-1] if args else None
            if signals.visible(signum) is SIG_DFL and replaying:
                original(*args)
            return leaf(*args)

        send.__wrapped__ = original
        send.__name__ = send.__qualname__ = original.__name__
        send.__doc__ = original.__doc__
        return send

    return make


def _install(engine, module) -> None:
    signals = _state(engine)
    if engine.recording:
        signals.wrap_startup_handlers()


def _signum_only(*args):
    return args[-1] if args else None


def _leaf(depth: int):
    """A plain leaf named ``signal.X`` (the name the program knows), not ``_signal.X``."""

    def make(engine, original, name):
        return engine.leaf("signal." + name.partition(".")[2], original, key=all_args, depth=depth)

    return make


# (attribute, why, depth: 2 for those signal.py wraps in a function of its own)
_LEAVES = (
    ("alarm", "arms a real timer, and answers from it", 1),
    ("setitimer", "arms a real timer, and answers from it", 1),
    ("getitimer", "reads a real timer", 1),
    ("pause", "waits for a signal from the world", 1),
    ("sigwaitinfo", "waits for a signal from the world", 1),
    ("sigtimedwait", "waits for a signal from the world", 1),
    ("siginterrupt", "changes how the real signal interrupts calls", 1),
    ("set_wakeup_fd", "makes real signals write to a descriptor", 1),
    ("sigwait", "waits for a signal from the world", 2),
    ("pthread_sigmask", "changes and reads the real signal mask", 2),
    ("sigpending", "reads the signals pending from the world", 2),
)

FAMILY = Family(
    name="signals",
    doc=__doc__,
    patches=(
        Patch("_signal", "signal", why="installs a real handler; its runs are recorded", make=_make_signal),
        Patch("_signal", "getsignal", why="reports the handler the program installed", make=_make_getsignal),
        # _signal's functions: signal.py re-exports them (the installer's alias sweep
        # points signal.alarm... at the leaves) or wraps them in Python (signal.signal).
        *(Patch("_signal", attr, why=why, make=_leaf(depth), optional=True) for attr, why, depth in _LEAVES),
        Patch("_signal", "raise_signal", why="signals this process", key=_signum_only,
              make=_make_sender(_signum_only), optional=True),
        Patch("_signal", "pthread_kill", why="signals a thread of this process (its id is no input)",
              key=_signum_only, make=_make_sender(_signum_only), optional=True),
    ),
    on_import=(OnImport("_signal", _install, why="SIGINT's start-up handler: record Ctrl-C"),),
    leaves=(
        Leaf("signal.signal", why="installs the program's handler as the real one"),
        Leaf("signal.getsignal", why="the disposition a signal had when retrace started"),
        Leaf(SIGNAL_EVENT, why="a signal arrived from the world: the program's handler ran here"),
        *(Leaf(f"signal.{attr}", why=why) for attr, why, depth in _LEAVES),
        Leaf("signal.raise_signal", why="signals this process"),
        Leaf("signal.pthread_kill", why="signals a thread of this process"),
    ),
)
