"""Tracing's differences between interpreters, for the replay's watchers (signal
deliveries, boundaries/signals.py; switch-out spots, engine/preempt.py and nextline.py).

CPython 3.12 and 3.13 build ``sys.settrace`` on ``sys.monitoring``: a frame's
``f_trace_opcodes`` set from a trace function (on 3.12.1 from anywhere) may not take
effect until the tracer is set again, which has the interpreter instrument the running
code anew. There retrace's own ``sys.monitoring`` tool (one id, claimed when first
needed) also sees C calls return, which 3.11 does with a profiler.
"""

from __future__ import annotations

import posix
import sys

_INSTRUMENTED = hasattr(sys, "monitoring")
_TOOL_NAME = "retrace"
_TOOL_IDS = (4, 3)  # (0-2 and 5 are named for debuggers, coverage, profilers, optimizers)
_claimed = [None, None]  # [tool id, the process that claimed it]
CO_OPTIMIZED = 0x0001  # (inspect.CO_OPTIMIZED: a function's code, whose locals are fast)
# A C call's return and raise: sys.monitoring turns them on only with CALL.
_C_CALL_EVENTS = (sys.monitoring.events.CALL | sys.monitoring.events.C_RETURN
                  | sys.monitoring.events.C_RAISE) if _INSTRUMENTED else 0


def trace_opcodes(frame, on: bool, again: bool = False) -> None:
    """Opcode events (``sys.settrace``'s "opcode") in ``frame`` from its next instruction.
    ``again``: asked for already, from a "call" event, where 3.12 and 3.13 may not honour
    it: the tracer is set anew even though the flag is on."""
    if frame.f_trace_opcodes == on and not (again and on and _INSTRUMENTED):
        return
    frame.f_trace_opcodes = on
    if _INSTRUMENTED:
        sys.settrace(sys.gettrace())


# A profiler set from a trace function sees the call about to be made on 3.11 only; on
# 3.12 and 3.13 setting one there also loses the frames' opcode events (C calls' returns
# are watched with monitoring_tool's events there: watch_c_returns).
PROFILER_FROM_A_TRACER = not _INSTRUMENTED


def frame_locals(frame):
    """``frame.f_locals``; a module's frame gives its globals, the same dict, without the
    read: on 3.12 a trace function that reads a module frame's ``f_locals`` inside a
    comprehension (inlined, PEP 709) has CPython write the comprehension's hidden variable
    back once it returns, with a RuntimeWarning the program would print."""
    code = frame.f_code
    if not code.co_flags & CO_OPTIMIZED and code.co_name == "<module>":
        return frame.f_globals
    return frame.f_locals


def monitoring_tool() -> int | None:
    """Retrace's ``sys.monitoring`` tool id in this process (3.12+), claimed on first use;
    None without sys.monitoring or with no id free (the program's tools keep theirs). A
    forked child has its parent's: it takes it over, no event on."""
    monitoring = getattr(sys, "monitoring", None)
    if monitoring is None:
        return None
    tool, pid = _claimed
    if tool is not None and pid == posix.getpid():
        return tool
    for tool in _TOOL_IDS:
        owner = monitoring.get_tool(tool)
        if owner == _TOOL_NAME:
            monitoring.set_events(tool, 0)
            break
        if owner is None:
            monitoring.use_tool_id(tool, _TOOL_NAME)
            break
    else:
        return None
    _claimed[:] = [tool, posix.getpid()]
    return tool


def add_local_events(tool: int, code, events: int) -> None:
    """Our tool's ``events`` in ``code`` too (one code can be watched for two reasons)."""
    monitoring = sys.monitoring
    monitoring.set_local_events(tool, code, monitoring.get_local_events(tool, code) | events)


def remove_local_events(tool: int, code, events: int) -> None:
    monitoring = sys.monitoring
    if monitoring is None:  # (the interpreter finalizes)
        return
    monitoring.set_local_events(tool, code, monitoring.get_local_events(tool, code) & ~events)


def watch_c_returns(code, callback) -> bool:
    """3.12+: ``callback(code, offset, callable, arg0)`` as each C call made in ``code``
    returns or raises (no callback for CALL). False where that cannot be had."""
    tool = monitoring_tool()
    if tool is None:
        return False
    monitoring = sys.monitoring
    events = monitoring.events
    monitoring.register_callback(tool, events.C_RETURN, callback)
    monitoring.register_callback(tool, events.C_RAISE, callback)
    add_local_events(tool, code, _C_CALL_EVENTS)
    return True


def unwatch_c_returns(code) -> None:
    remove_local_events(_claimed[0], code, _C_CALL_EVENTS)
