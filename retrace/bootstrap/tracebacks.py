"""Uncaught tracebacks show the program's frames only, in record and in replay alike.

Boundary wrappers (``<retrace ...>`` frames) and replay's runner are dropped:
``sys.excepthook`` and threading's default ``excepthook`` are wrapped in both modes
so the printed traceback is the same one the program would print without retrace.
Their source lines are read for real, never through the file boundaries (the C
printer reads them through a file descriptor, which no boundary sees); on replay
from the recorded code in ``run/`` (``source_opener``).
"""

from __future__ import annotations

import sys

from retrace.engine.divergence import is_ours
from retrace.engine.state import untraced

# Replay: io.open for the traceback printer, serving program sources from run/ (set by
# bootstrap/replay.py); None when recording.
source_opener = None
# Replay: python is about to print the KeyboardInterrupt its main did not catch (set by
# bootstrap/replay.py on the audit event ``sys.excepthook``).
main_interrupted = False


class reading_sources:
    """``with reading_sources():`` the traceback printer reads source lines for real (and
    on replay from the recorded code)."""

    def __enter__(self):
        self._untraced = untraced().__enter__()
        self._replaced = []
        if source_opener is not None:
            if PRINTER_USES_TOKENIZE:
                import tokenize  # noqa: F401 (the printer imports it itself, a moment later: patched first)

            for module, name in _SOURCE_OPENERS:
                owner = sys.modules.get(module)
                if owner is not None and hasattr(owner, name):
                    original = getattr(owner, name)
                    self._replaced.append((owner, name, original))
                    setattr(owner, name, source_opener(original))
        return self

    def __exit__(self, *exc_info):
        for owner, name, original in reversed(self._replaced):
            setattr(owner, name, original)
        self._untraced.__exit__(*exc_info)
        return False


# What the printers open source files with: the C printer's io.open (CPython 3.11, 3.12);
# from 3.13 the printer is the traceback module, reading through linecache and tokenize's
# own alias of open.
_SOURCE_OPENERS = (("io", "open"), ("tokenize", "_builtin_open"))
# From 3.13 the interpreter's printer is Python's (traceback, linecache, tokenize).
PRINTER_USES_TOKENIZE = sys.version_info >= (3, 13)


def _mark_death_by_sigint() -> None:
    """Python dies of SIGINT after its main let a KeyboardInterrupt through only if no
    text was run by exec since (CPython's run_eval_code_obj clears its mark; importing a
    module that makes a namedtuple, tokenize, runs text). Reading sources for the printer
    can import: the mark is set again as that function sets it, by a KeyboardInterrupt
    leaving text run by exec."""
    try:
        exec("raise KeyboardInterrupt")
    except KeyboardInterrupt:
        pass


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
        with reading_sources():  # reading source lines to show them is no boundary, in either mode
            if main_interrupted and isinstance(value, KeyboardInterrupt):
                _mark_death_by_sigint()
            original(kind, value, tb)

    sys.excepthook = excepthook


def wrap_thread_excepthook(threading):
    """threading's default excepthook (``_thread._excepthook``, in C) the same way; a hook
    the program sets later is the program's own. Returns how to undo it."""
    original = threading.excepthook
    make_args = threading.ExceptHookArgs

    def excepthook(args, /):
        tb = program_frames(args.exc_traceback)
        if args.exc_value is not None:
            args.exc_value.__traceback__ = tb
        with reading_sources():
            original(make_args([args.exc_type, args.exc_value, tb, args.thread]))

    excepthook.__doc__ = original.__doc__
    threading.excepthook = threading.__excepthook__ = excepthook

    def undo():
        if threading.excepthook is excepthook:
            threading.excepthook = original
        threading.__excepthook__ = original

    return undo
