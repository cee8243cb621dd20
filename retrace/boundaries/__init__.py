"""The boundary registry: every family of nondeterministic calls, in install order.

Each entry is a module of this package exposing ``FAMILY`` (see ``spec.py``), or,
for the one family made from the user's declarations (``declared``), ``family()``.
The installer walks the list ``families()`` returns; nothing else in retrace names
a family.
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
    "output",      # sys.stdout and sys.stderr built as recorded; the tree's writes in its order
    "exits",       # os._exit ends the trace before the process goes
    "net",         # sockets, name resolution, TLS
    "readiness",   # select.select/poll/epoll (selectors and event loops on top)
    "subprocesses",  # fork_exec/posix_spawn, wait*, kill, os.system: commands not run on replay
    "sqlite",      # sqlite3 connections, cursors, blobs as handles; sqlite3.Row of ours
    "postgres",    # psycopg2 connections and cursors as handles (libpq does its I/O in C)
    "cfiles",      # files numpy, lxml, ast_serialize read and write in C: the bytes go through open()
    "cryptokeys",  # keys, nonces and paddings OpenSSL draws at random in C for cryptography
    "zeromq",      # pyzmq contexts, sockets and pollers as handles (libzmq does its I/O in C)
    "libuv",       # uvloop: asyncio's own loop instead (libuv does its I/O in C)
    "grpc_client", # gRPC channels and their calls as handles (the core does its I/O in C)
    "pyopenssl",   # pyOpenSSL contexts and connections as handles (OpenSSL does the socket's I/O in C)
    "declared",    # boundaries the user declares in configuration (RETRACE_BOUNDARIES, pyproject.toml)
    "signals",     # handlers run at the recorded point; alarm/setitimer/pause... are leaves
    "interprocess",  # multiprocessing's semaphores (handles) and shared-memory reads
    "threads",     # threads take turns (engine/scheduler.py); lock waits are boundaries
    "forks",       # os.fork: the child records into processes/<id>/; replay forks there too
    "collector",   # cyclic garbage is collected at boundary calls (engine/garbage.py); gc as the program set it
    "frames",      # not a boundary: retrace's frames stay out of traceback.walk_stack
    "orderings",   # not a boundary: sets libraries iterate by address (Django, Celery) follow insertion order
)


def families(declarations=()) -> tuple[Family, ...]:
    """Every family, in install order, the ``declared`` one made from ``declarations``
    (retrace/declarations.py: the user's, or the recording's copy on replay). Families
    are frozen: nothing changes them once made."""
    found = []
    for name in FAMILY_MODULES:
        module = importlib.import_module(f"{__name__}.{name}")
        found.append(module.FAMILY if hasattr(module, "FAMILY") else module.family(declarations))
    return tuple(found)
