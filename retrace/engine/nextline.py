"""Making another thread stop at its next line: the one part of switch-outs that differs
by interpreter (engine/preempt.py has the rest).

The preempter's thread asks; the asked thread, at its next line outside a C call, calls
``on_event(frame, is_line)`` itself. Two ways, chosen once, when the first thread starts:

- ``MonitoringEvents`` (CPython 3.12 and later): ``sys.monitoring`` (PEP 669) line
  events, on only while a thread is asked, with a tool id of our own (the program's
  tracers and profilers keep theirs). The supported way, preferred where it exists.
- ``ThreadStateTrace`` (CPython 3.11): a C trace function set on the other thread's
  state with ``_PyEval_SetTrace``, as debuggers attach. The state's layout is not public:
  where its thread id and trace function live is found at start (a probe that sets and
  clears a trace function of our own and looks where it went), never assumed.

Neither costs the program anything until a thread has to be switched out. When neither
works on this interpreter, threads are not switched out by time (one warning line).
"""

from __future__ import annotations

import _thread
import ctypes
import sys

from retrace import originals
from retrace.engine.state import start_machinery_thread
from retrace.engine.tracing import add_local_events, monitoring_tool, remove_local_events

_get_ident = _thread.get_ident
_PYTRACE_LINE = 2
# The part of this thread's state the probe reads: 3.11's thread id and trace function lie
# at 152 and 72, inside a state larger than this (nothing past the state is read).
_PROBE_BYTES = 256


def _probe_trace(frame, event, arg):
    return None


class ThreadStateTrace:
    """CPython 3.11: ``_PyEval_SetTrace`` on the asked thread's state."""

    _TRACEFUNC = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.py_object, ctypes.c_int, ctypes.c_void_p)

    def __init__(self, api, thread_id_at: int, tracefunc_at: int, on_event) -> None:
        self.api = api
        self.thread_id_at = thread_id_at
        self.tracefunc_at = tracefunc_at
        self.on_event = on_event
        self._callback = self._TRACEFUNC(self._event)  # kept alive: C holds its address
        self._address = ctypes.cast(self._callback, ctypes.c_void_p).value

    @classmethod
    def make(cls, on_event):
        """None when this interpreter has no ``_PyEval_SetTrace`` or its thread state is not
        laid out as the probe can tell."""
        try:
            api = ctypes.pythonapi
            set_trace = api._PyEval_SetTrace
        except AttributeError:
            return None
        api.PyInterpreterState_Get.restype = ctypes.c_void_p
        api.PyInterpreterState_ThreadHead.restype = ctypes.c_void_p
        api.PyInterpreterState_ThreadHead.argtypes = [ctypes.c_void_p]
        api.PyThreadState_Next.restype = ctypes.c_void_p
        api.PyThreadState_Next.argtypes = [ctypes.c_void_p]
        api.PyThreadState_Get.restype = ctypes.c_void_p
        set_trace.argtypes = [ctypes.c_void_p, cls._TRACEFUNC, ctypes.c_void_p]
        set_trace.restype = ctypes.c_int
        offsets = _probed(lambda: _thread_state_offsets(api.PyThreadState_Get()))
        return None if offsets is None else cls(api, *offsets, on_event)

    def ask(self, ident: int) -> bool:
        """From the preempter's thread, the thread cannot end meanwhile (the caller holds
        the scheduler's mutex). False: not found, or something traces it already."""
        api = self.api
        tstate = api.PyInterpreterState_ThreadHead(api.PyInterpreterState_Get())
        while tstate:
            if ctypes.c_ulong.from_address(tstate + self.thread_id_at).value == ident:
                tracing = ctypes.c_void_p.from_address(tstate + self.tracefunc_at).value
                if tracing and tracing != self._address:  # (ours: left from a request now void)
                    return False  # a debugger or coverage traces it: leave it alone
                api._PyEval_SetTrace(tstate, self._callback, None)
                return True
            tstate = api.PyThreadState_Next(tstate)
        return False

    def _event(self, obj, frame, what, arg) -> int:
        self.on_event(frame, what == _PYTRACE_LINE)
        return 0

    def stop(self, _settrace=sys.settrace) -> None:
        """In the asked thread: no more events. (As the interpreter finalizes, module
        globals are None: ``_settrace`` is kept here.)"""
        _settrace(None)

    def watch_return(self, frame) -> None:
        """The asked thread is inside a C call of ``frame``: an event at its next instruction."""
        frame.f_trace_opcodes = True

    def unwatch_return(self, frame) -> None:
        frame.f_trace_opcodes = False


def _probed(probe):
    """``probe()`` in a thread nothing traces: this one, or (the program set a tracer here,
    coverage's say) a thread of ours started for it."""
    if sys.gettrace() is None:
        return probe()
    found, done = [None], originals.allocate_lock()
    done.acquire()

    def run() -> None:
        try:
            found[0] = probe()
        finally:
            done.release()

    start_machinery_thread(run)
    return found[0] if done.acquire(True, 5) else None


def _thread_state_offsets(here: int) -> tuple[int, int] | None:
    """(thread id, trace function) offsets in this thread's state, found by looking."""
    def words() -> list[int]:
        return [ctypes.c_size_t.from_address(here + at).value for at in range(0, _PROBE_BYTES, 8)]

    if sys.gettrace() is not None:
        return None  # (something traces this thread: the probe cannot tell its function from ours)
    ident = _get_ident()
    before = words()
    ids = [index for index, word in enumerate(before) if word == ident]
    sys.settrace(_probe_trace)
    try:
        during = words()
    finally:
        sys.settrace(None)
    after = words()
    # The trace function and its object appear and go with the probe; the object is the probe.
    changed = [index for index in range(len(before))
               if before[index] == 0 and during[index] != 0 and after[index] == 0
               and during[index] != id(_probe_trace)]
    if len(ids) != 1 or len(changed) != 1:
        return None
    return ids[0] * 8, changed[0] * 8


class MonitoringEvents:
    """CPython 3.12+: ``sys.monitoring`` line events while a thread is asked."""

    def __init__(self, tool: int, on_event) -> None:
        self.tool = tool
        self.on_event = on_event
        self.asked = None  # the asked thread's ident
        self.watched = None  # the code object of a frame inside a C call, watched for its return
        monitoring = sys.monitoring
        self._events = monitoring.events
        monitoring.register_callback(tool, self._events.LINE, self._line)
        monitoring.register_callback(tool, self._events.INSTRUCTION, self._other)
        monitoring.register_callback(tool, self._events.PY_START, self._other)

    @classmethod
    def make(cls, on_event):
        tool = monitoring_tool()
        return None if tool is None else cls(tool, on_event)

    def ask(self, ident: int) -> bool:
        self.asked = ident
        sys.monitoring.set_events(self.tool, self._events.LINE)
        return True

    def _line(self, code, line):
        if _get_ident() == self.asked:
            if sys.gettrace() is not None:  # a debugger or coverage traces it: leave it alone
                self.stop()
            else:
                self.on_event(sys._getframe(1), True)

    def _other(self, code, offset):
        if _get_ident() == self.asked:
            self.on_event(sys._getframe(1), False)

    def stop(self) -> None:
        self.asked = None
        monitoring = sys.monitoring
        if monitoring is None:  # (the interpreter finalizes)
            return
        monitoring.set_events(self.tool, 0)
        if self.watched is not None:
            remove_local_events(self.tool, self.watched, self._events.INSTRUCTION)
            self.watched = None

    def watch_return(self, frame) -> None:
        events = self._events
        self.watched = frame.f_code
        add_local_events(self.tool, frame.f_code, events.INSTRUCTION)
        sys.monitoring.set_events(self.tool, events.LINE | events.PY_START)  # (a callback's call too)

    def unwatch_return(self, frame) -> None:
        if self.watched is not None:
            remove_local_events(self.tool, self.watched, self._events.INSTRUCTION)
            self.watched = None
        sys.monitoring.set_events(self.tool, self._events.LINE if self.asked is not None else 0)


def line_hook(on_event):
    """The way this interpreter has, or None."""
    return MonitoringEvents.make(on_event) or ThreadStateTrace.make(on_event)
