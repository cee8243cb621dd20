"""The boundary registry: every family of nondeterministic calls, in install order.

Each entry is a module of this package exposing ``FAMILY`` (see ``spec.py``).
The installer walks this list; nothing else in retrace names a family.
"""

from __future__ import annotations

import importlib

from retrace.boundaries.spec import Family

FAMILY_MODULES = (
    "clock",       # time.*, datetime now/today
    "randomness",  # random seeding, os.urandom/getrandom, uuid
    "process",     # pid, cwd, cpu count, hostname, uname, users and groups
    "files",       # open(), os file and directory calls, scandir
    "terminal",    # sys.stdin and input()
    "exits",       # os._exit ends the trace before the process goes
)


def families() -> list[Family]:
    return [importlib.import_module(f"{__name__}.{name}").FAMILY for name in FAMILY_MODULES]
