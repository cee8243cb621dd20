"""Entry point of the start-up hook (site/sitecustomize.py).

Both modes import the machinery of both modes first, so that record and replay
install their boundaries with the same modules already loaded.
"""

from __future__ import annotations

import json
import os

from retrace.bootstrap import record, replay, tracebacks

CONFIG_VAR = "RETRACE_CONFIG"


def start() -> None:
    config = json.loads(os.environ[CONFIG_VAR])
    mode = config.get("mode")
    if mode == "record":
        record.start(config)
    elif mode == "replay":
        replay.prepare(config)
    else:
        record.warn(f"unknown mode {mode!r} in {CONFIG_VAR}; running unrecorded")
        return
    tracebacks.install()
