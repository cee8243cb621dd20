"""Entry point of the start-up hook (site/sitecustomize.py).

Each mode imports its own machinery: recording, run at every start in
production, does not pay for replay's (replay.py, the replayer, the reader, the
run/ importer). What replay loads besides (its own work uses json, re, runpy)
reads nothing of the world when imported, so a program's own later import of one
of them makes the same boundary calls in both modes: none. The modules that do
read the world when imported (logging reads the clock, random the entropy pool)
are loaded by neither before the program (tests/test_bootstrap_modules.py).
"""

from __future__ import annotations

import os

from retrace import jsontext
from retrace.bootstrap import record, tracebacks
from retrace.engine.state import stop_all_boundaries

CONFIG_VAR = "RETRACE_CONFIG"


def start() -> None:
    try:
        config = jsontext.loads_flat(os.environ[CONFIG_VAR])
        mode = config.get("mode")
    except (ValueError, AttributeError):
        record.warn(f"{CONFIG_VAR} is not valid; running unrecorded")
        return
    if mode == "off":  # its root process was sampled out (launch.OFF_CONFIG): so is it
        return
    if mode == "record" and config.get("pid", str(os.getpid())) != str(os.getpid()):
        # A Python program further down inherited a recorded process's environment
        # without being started as its child (through a shell, say): the children that
        # record are named by their parent (bootstrap/children.py). It runs unrecorded,
        # silently: a warning would land in the parent's captured output.
        return
    if mode == "record":
        from retrace.launch import unsupported_interpreter

        problem = unsupported_interpreter()
        if problem:  # (RETRACE=1, a Docker entrypoint: the program runs, as it would without us)
            record.warn(f"cannot record: {problem}; running unrecorded")
            return
        try:
            record.start(config)
        except Exception as exc:  # a bug of ours must not take the program down
            stop_all_boundaries()
            record.warn(f"recording failed to start ({type(exc).__name__}: {exc}); running unrecorded")
            if os.environ.get("RETRACE_DEBUG"):
                raise
            return
    elif mode == "replay":
        from retrace.bootstrap import replay

        replay.prepare(config)
    else:
        record.warn(f"unknown mode {mode!r} in {CONFIG_VAR}; running unrecorded")
        return
    tracebacks.install()
