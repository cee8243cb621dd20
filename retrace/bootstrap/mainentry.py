"""A replayed script runs as the first frame of its process, as it did when recorded.

``python app.py`` has nothing below the script's module frame. A replay that ran it
from retrace's runner (``exec`` inside a function of ours) had a few frames below,
and a program walking its stack to the end saw them: coverage's console script
compares the outermost frame's file with ``sys.path[0]`` (``inspect.stack()[-1]``),
and a stack walk reading each frame's source stats the files those frames name.

So the launcher starts the replay as ``python TMP/replay_entry.pyc``, a compiled file
that does not exist yet. The start-up hook, once the replay is prepared, writes there
the recorded script's code, compiled as python compiles it (same instructions: the
spots of signal deliveries and thread switch-outs are instruction offsets), under its
recorded file name; ``-c`` text likewise, as ``<string>``. (Marshal, not the
compiler, then makes the code's constants: the sets among them are rewritten so that they
iterate as compiled, and a script where that cannot be made exact is run by retrace's
runner instead, a frame of its own below it: see bootstrap/constsets.py.) The interpreter then does
what it does for any script, and two of its steps let retrace finish the set-up
retrace's runner did, without a frame of its own:

- the audit event ``cpython.run_file``, raised after python put the entry's folder at
  ``sys.path[0]`` and before it opens the file: the recorded ``sys.path``,
  ``sys.argv``, modules and code finder are put in place (``ReplaySession._enter_main``);
- the ``__main__`` loader it makes for a compiled file (``SourcelessFileLoader``, looked
  up by name just before the code runs): retrace's loader of the recorded source
  instead, ``__file__`` made the recorded one (``-c`` has none), and the file, read by
  then, is removed with its folder.

``python -m name`` needs no entry file: the launcher starts the replay as ``python -m
name`` itself, and the audit event ``cpython.run_module``, raised before python hands
``name`` to runpy, is where the set-up happens (``follow_module``); runpy then finds the
recorded module (retrace's code finder serves it from run/) and runs it, its two frames
below the module's, as when recorded.

An uncaught exception is then python's own business, as when recorded (retrace's
``sys.excepthook`` wrapper prints it from run/, bootstrap/tracebacks.py); its audit
event ``sys.excepthook`` tells the replay (a Ctrl-C of the user's, a failure of
retrace's). Audit hooks stay for the process's life: this one answers two events and
returns at once on the others.
"""

from __future__ import annotations

import marshal
import os
import posix
import sys
from importlib._bootstrap_external import MAGIC_NUMBER

from retrace.bootstrap import constsets
from retrace.engine.state import untraced
from retrace.launch import ENTRY_FILE

_pending: list = []  # the entry to be written and run (removed once read, or if the replay ends first)


def claim(path: str) -> bool:
    """Whether the interpreter is about to run a compiled entry at ``path`` (the replay
    writes it, then removes it and its folder, whatever happens)."""
    if os.path.basename(path) != ENTRY_FILE:
        return False
    _pending.append(path)
    return True


def write_entry(path: str, source, filename: str, recorded: list | None = None) -> None:
    """Compile ``source`` as python compiles a script and write it where the interpreter
    is about to read it (untraced: retrace's own work). SyntaxError as compile();
    NotExact when the compiled code would not run as the recording's did (the caller
    then writes retrace's runner instead)."""
    data = MAGIC_NUMBER + bytes(12) + marshal.dumps(constsets.compiled_as_recorded(source, filename, recorded))
    with untraced():
        with open(path, "wb") as out:
            out.write(data)


def remove_pending() -> None:
    """The entry is read (or will never be): the file and its temporary folder go."""
    while _pending:
        path = _pending.pop()
        for remove, what in ((posix.unlink, path), (posix.rmdir, os.path.dirname(path))):
            try:
                remove(what)  # (posix's own: retrace's work, never an event)
            except OSError:
                pass


def follow_module(name: str, set_up, uncaught) -> None:
    """``python -m name``: run ``set_up()`` when the interpreter is about to hand ``name``
    to runpy (the audit event ``cpython.run_module``), which then finds and runs it as when
    recorded, with its two frames below the module's; ``uncaught`` as for ``follow``."""
    state = {"started": False}

    def audit(event, args):
        if event == "cpython.run_module":
            if not state["started"] and args and args[0] == name:
                state["started"] = True
                set_up()
        elif event == "sys.excepthook" and state["started"] and len(args) == 4:
            uncaught(*args)

    sys.addaudithook(audit)


def follow(path: str, set_up, main_loader, uncaught) -> None:
    """Run ``set_up()`` when the interpreter is about to run the entry at ``path``;
    ``main_loader()`` gives ``__main__``'s loader (after it has set ``__file__``);
    ``uncaught(hook, kind, value, tb)`` hears of the exception the program's main did
    not catch, before python's ``hook`` prints it (a RuntimeError it raises skips that)."""
    state = {"started": False}

    def replace_loader():
        external = sys.modules["importlib._bootstrap_external"]
        real = external.SourcelessFileLoader

        def made_for_main(name, filename):
            external.SourcelessFileLoader = real  # (once: any later use is the program's)
            remove_pending()
            if name != "__main__" or filename != path:
                return real(name, filename)
            return main_loader()

        external.SourcelessFileLoader = made_for_main

    def audit(event, args):
        if event == "cpython.run_file":
            if not state["started"] and args and args[0] == path:
                state["started"] = True
                set_up()
                replace_loader()
        elif event == "sys.excepthook" and state["started"] and len(args) == 4:
            uncaught(*args)

    sys.addaudithook(audit)
