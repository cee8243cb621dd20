"""The functions boundaries patch, as they were before any family installed: one place.

retrace's own machinery (the trace writer's thread, the scheduler's locks, the clock
an ending is stamped with, the recorder's signal handling, the collector it runs)
must never go through a boundary, or it would record itself, wait for a turn, or
replay. Every module that needs such a function takes it from here. This module
imports nothing of retrace's and is imported, through ``retrace.engine.state``,
before the first family is installed; a name is captured once, at that import.

Only functions a family replaces belong here. Types and constants (``_io.FileIO``,
``DEFAULT_BUFFER_SIZE``) are taken where they are used.
"""

from __future__ import annotations

import _io
import _signal
import _thread
import gc
import posix
import sys
import time as _time

# _thread: the threads family (boundaries/threads.py).
allocate_lock = _thread.allocate_lock
RLock = _thread.RLock
start_new_thread = _thread.start_new_thread
get_ident = _thread.get_ident

# time: the clock family (boundaries/clock.py).
time = _time.time
monotonic = _time.monotonic

# _signal: the signals family (boundaries/signals.py).
signal = _signal.signal
getsignal = _signal.getsignal
pthread_sigmask = _signal.pthread_sigmask
default_int_handler = _signal.default_int_handler

# gc: the collector's view (boundaries/collector.py).
gc_collect = gc.collect
gc_enable = gc.enable
gc_disable = gc.disable
gc_isenabled = gc.isenabled
gc_get_threshold = gc.get_threshold
gc_set_threshold = gc.set_threshold
getallocatedblocks = sys.getallocatedblocks

# files and descriptors: the files family (boundaries/files.py, _fileobj.py).
io_open = _io.open
lseek = posix.lseek
isatty = posix.isatty
