"""Stand-in engines for tests that install families without recording anything.

A real engine records or replays; these only call through, so that a test can build
a family's replacements (and check the installer's sweep) without a trace. Scripts
that run in a fresh interpreter import them too (``PYTHONPATH`` = this folder).
"""

from __future__ import annotations

from retrace.engine import Engine


class CallThrough:
    """Leaves that are the calls themselves: enough to build a family's functions."""

    recording = True
    output = None  # (no output order: writes to stdout go as they come)

    def leaf(self, name, call, **options):
        return call


class LoggingEngine(Engine):
    """A recording engine whose leaves call through and log the boundary names."""

    mode = "record"

    def __init__(self):
        super().__init__()
        self.log = []

    def leaf(self, name, call, **options):
        def wrapper(*args, **kwargs):
            self.log.append(name)
            return call(*args, **kwargs)

        wrapper.__wrapped__ = call
        return wrapper


def script_env() -> dict:
    """The environment of a ``python -c`` script that imports this module."""
    import os

    return {**os.environ, "PYTHONPATH": os.path.dirname(os.path.abspath(__file__))}
