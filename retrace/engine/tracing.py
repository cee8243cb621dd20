"""Tracing's differences between interpreters, for the replay's watchers (signal
deliveries, boundaries/signals.py; switch-out spots, engine/preempt.py).

CPython 3.12 and 3.13 build ``sys.settrace`` on ``sys.monitoring``: a frame's
``f_trace_opcodes`` set from a trace function (on 3.12.1 from anywhere) may not take
effect until the tracer is set again, which has the interpreter instrument the running
code anew.
"""

from __future__ import annotations

import sys

_INSTRUMENTED = hasattr(sys, "monitoring")


def trace_opcodes(frame, on: bool) -> None:
    """Opcode events (``sys.settrace``'s "opcode") in ``frame`` from its next instruction."""
    if frame.f_trace_opcodes == on:
        return
    frame.f_trace_opcodes = on
    if _INSTRUMENTED:
        sys.settrace(sys.gettrace())


# A profiler set from a trace function sees the call about to be made on 3.11 only; on
# 3.12 and 3.13 setting one there also loses the frames' opcode events.
PROFILER_FROM_A_TRACER = not _INSTRUMENTED
