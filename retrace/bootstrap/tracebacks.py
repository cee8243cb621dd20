"""Uncaught tracebacks show the program's frames only, in record and in replay alike.

Boundary wrappers (``<retrace ...>`` frames) and replay's runner are dropped:
``sys.excepthook`` is wrapped in both modes so the printed traceback is the same
one the program would print without retrace.
"""

from __future__ import annotations

import sys

from retrace.engine.divergence import is_ours
from retrace.engine.state import untraced


def program_frames(tb):
    """The traceback without retrace's frames: replay's runner, boundary wrappers, and
    replacements written in Python (open() of the files family) that sit between the
    program's frame and a wrapper, where a C function would show no frame at all."""
    entries = []
    while tb is not None:
        entries.append(tb)
        tb = tb.tb_next
    kept = [e for e in entries if not is_ours(e.tb_frame.f_code.co_filename)]
    for current, following in zip(kept, kept[1:] + [None]):
        current.tb_next = following
    return kept[0] if kept else None


def install() -> None:
    original = sys.excepthook

    def excepthook(kind, value, tb):
        tb = program_frames(tb)
        if value is not None:
            value.__traceback__ = tb
        with untraced():  # reading source lines to show them is no boundary, in either mode
            original(kind, value, tb)

    sys.excepthook = excepthook
