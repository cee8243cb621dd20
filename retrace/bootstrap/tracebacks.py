"""Uncaught tracebacks show the program's frames only, in record and in replay alike.

Boundary wrappers (``<retrace ...>`` frames) and replay's runner are dropped:
``sys.excepthook`` is wrapped in both modes so the printed traceback is the same
one the program would print without retrace.
"""

from __future__ import annotations

import sys

from retrace.engine.divergence import is_ours


def program_frames(tb):
    """The traceback from the first frame after retrace's runner, minus wrapper frames."""
    entries = []
    while tb is not None:
        entries.append(tb)
        tb = tb.tb_next
    last_ours = -1
    for index, entry in enumerate(entries):
        if is_ours(entry.tb_frame.f_code.co_filename) and not entry.tb_frame.f_code.co_filename.startswith("<retrace"):
            last_ours = index
    kept = [e for e in entries[last_ours + 1:] if not e.tb_frame.f_code.co_filename.startswith("<retrace")]
    for current, following in zip(kept, kept[1:] + [None]):
        current.tb_next = following
    return kept[0] if kept else None


def install() -> None:
    original = sys.excepthook

    def excepthook(kind, value, tb):
        tb = program_frames(tb)
        if value is not None:
            value.__traceback__ = tb
        original(kind, value, tb)

    sys.excepthook = excepthook
