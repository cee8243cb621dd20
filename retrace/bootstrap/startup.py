"""Entry point of the start-up hook (site/sitecustomize.py).

Both modes import the machinery of both modes first, so that record and replay
install their boundaries with the same modules already loaded.
"""

from __future__ import annotations

import os

from retrace import jsontext
from retrace.bootstrap import record, replay, tracebacks
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
        try:
            record.start(config)
        except Exception as exc:  # a bug of ours must not take the program down
            stop_all_boundaries()
            record.warn(f"recording failed to start ({type(exc).__name__}: {exc}); running unrecorded")
            if os.environ.get("RETRACE_DEBUG"):
                raise
            return
    elif mode == "replay":
        replay.prepare(config)
    else:
        record.warn(f"unknown mode {mode!r} in {CONFIG_VAR}; running unrecorded")
        return
    tracebacks.install()
