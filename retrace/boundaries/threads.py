"""Threads: started threads take turns (engine/scheduler.py); locks wait through the scheduler.

- ``_thread.start_new_thread`` (under ``threading.Thread.start``, ``Timer``, thread
  pools, asyncio's executors): the new thread gets the next logical id and runs only
  when it holds the baton.
- ``_thread.allocate_lock`` (``threading.Lock``) makes a ``Lock`` of ours around a real
  lock. Taking a free lock is the real non-blocking acquire, under the baton, so its
  answer is the same in both runs. Waiting for a taken lock is a boundary,
  ``threading.wait``: recording parks the thread until another releases the lock (or
  the timeout passes), handing the baton on; replay answers from the trace, after
  the same hand-overs. Every primitive of ``threading`` and ``queue`` is built on these
  locks once ``threading`` uses the Python ``RLock`` and ``queue`` its Python
  ``SimpleQueue``: so Condition, Event, Semaphore, Barrier, Queue and join wait here.
- ``_thread._set_sentinel`` (threading's "this thread is over" lock, released by the
  interpreter *after* the thread's last line, at a moment of its own): the thread's end
  is the scheduler's ``thread_ends`` instead, so ``join`` and ``is_alive`` answer
  the same in both runs. Python 3.13 has thread handles instead
  (``_thread.start_joinable_thread``, ``_ThreadHandle``; ``_thread._shutdown`` joins
  the non-daemon threads at exit, in C): our ``ThreadHandle`` is the same "over" lock
  behind the handle's ``join`` and ``is_done``. Each interpreter has one of the two
  sets: the patches of the other are absent (``optional``).

Threads started from C by extension modules are not scheduled: their boundary calls
are recorded in whatever order they come (docs/limitations.md).
"""

from __future__ import annotations

import os
import sys
import weakref
from types import MethodType

from retrace import originals
from retrace.boundaries.spec import Family, Leaf, OnImport, Patch, Turn
from retrace.engine.scheduler import Slot
from retrace.engine.state import ThreadState, state

_real_allocate_lock = originals.allocate_lock
_monotonic = originals.monotonic  # (the scheduler's clock)
_scheduler = None  # the engine's scheduler, once the family is installed
_wait_leaf = None  # the threading.wait boundary


class Lock:
    """``threading.Lock`` while recording or replaying: a real lock whose blocking waits
    go through the scheduler."""

    __slots__ = ("_real", "_waiters", "__weakref__")

    def __init__(self) -> None:
        self._real = _real_allocate_lock()
        self._waiters = None  # recording: the scheduled threads waiting for a release

    def acquire(self, blocking=True, timeout=-1):
        if self._real.acquire(False):
            return True
        if not blocking:
            if timeout != -1:
                raise ValueError("can't specify a timeout for a non-blocking call")
            return False
        if timeout < 0 and timeout != -1:
            raise ValueError("timeout value must be a non-negative number")
        scheduler = _scheduler
        if scheduler is None or ThreadState.busy or not scheduler.waits_in_turns():
            return self._real.acquire(True, timeout)
        return _wait_turns(self, timeout)

    def _try(self) -> bool:
        return self._real.acquire(False)

    def release(self) -> None:
        self._real.release()
        if self._waiters:
            _scheduler.notify(self)

    def locked(self) -> bool:
        return self._real.locked()

    __enter__ = acquire  # (one Python call per `with`, not two: locks are hot)

    def __exit__(self, *exc_info) -> None:
        self._real.release()
        if self._waiters:
            _scheduler.notify(self)

    acquire_lock = acquire  # _thread's old names
    release_lock = release
    locked_lock = locked

    def _at_fork_reinit(self) -> None:
        self._real._at_fork_reinit()
        self._waiters = None

    def __repr__(self) -> str:
        state = "locked" if self._real.locked() else "unlocked"
        return f"<{state} {type(self).__module__}.{type(self).__qualname__} object at {id(self):#x}>"


class Sentinel(Lock):
    """threading's per-thread "over" lock: the interpreter releases the real one after the
    thread's last line, so the thread counts as over when the scheduler says it ended."""

    __slots__ = ("_slot",)

    def __init__(self, real, slot) -> None:
        self._real = real
        self._waiters = None
        self._slot = slot

    def acquire(self, blocking=True, timeout=-1):
        if self._slot.finished:
            return self._real.acquire(True, -1)  # released for real a moment after the end, if not yet
        if self._real.acquire(False):
            return True  # the main thread's (threading._shutdown releases it by hand)
        if not blocking:
            return False
        if ThreadState.busy or not _scheduler.waits_in_turns():
            return self._real.acquire(True, timeout)
        return _wait_turns(self, timeout)

    def _try(self) -> bool:
        return self._slot.finished and self._real.acquire(True, -1)

    __enter__ = acquire


class _Joining:
    """A real thread handle (Python 3.13) seen as the lock ``Sentinel`` waits for: taken
    once the thread is over."""

    __slots__ = ("handle",)

    def __init__(self, handle) -> None:
        self.handle = handle

    def acquire(self, blocking=True, timeout=-1):
        if not blocking:
            timeout = 0
        self.handle.join(None if timeout < 0 else timeout)
        return self.handle.is_done()

    def release(self) -> None:
        pass

    def locked(self) -> bool:
        return not self.handle.is_done()

    def _at_fork_reinit(self) -> None:
        pass


_RealThreadHandle = None  # _thread._ThreadHandle, once patched (Python 3.13)
_non_daemon = weakref.WeakSet()  # handles of the scheduled non-daemon threads: joined at exit


class ThreadHandle(Sentinel):
    """Python 3.13's ``_thread._ThreadHandle`` (what ``Thread.join`` and ``is_alive`` ask):
    a thread started scheduled is over when the scheduler says it ended, and joining
    it waits through the scheduler; any other is the real handle's business."""

    __slots__ = ("_handle",)

    def __init__(self, handle=None) -> None:
        self._handle = handle if handle is not None else _RealThreadHandle()
        Sentinel.__init__(self, _Joining(self._handle), None)

    @property
    def ident(self):
        return self._handle.ident

    def is_done(self) -> bool:
        slot = self._slot
        return slot.finished if slot is not None else self._handle.is_done()

    def join(self, timeout=None) -> None:
        if self._slot is None or _scheduler is None:
            return self._handle.join(timeout)
        self.acquire(True, -1 if timeout is None else max(float(timeout), 0.0))

    def _set_done(self) -> None:
        self._handle._set_done()

    def __repr__(self) -> str:
        return f"<{type(self).__module__}.{type(self).__qualname__} of {self._handle!r}>"


class RegistryLock(Lock):
    """threading's ``_active_limbo_lock``: a new thread releases it right after
    registering itself, just before ``run()``; that is where its first turn comes."""

    __slots__ = ()

    def release(self) -> None:
        Lock.release(self)
        if _scheduler is not None:
            _scheduler.registered()

    def __exit__(self, *exc_info) -> None:
        self.release()


def _wait_turns(lock: Lock, timeout) -> bool:
    """Wait for ``lock`` through the scheduler: each wake-up is one ``threading.wait`` event
    (True: the lock was released, False: the timeout passed), then the lock is tried again."""
    remaining = -1 if timeout == -1 else float(timeout)
    end = None
    while True:
        if remaining >= 0 and end is None:
            end = _monotonic() + remaining
        if not _wait_leaf(lock, remaining):
            return lock._try()
        if lock._try():
            return True
        if end is not None:
            remaining = max(0.0, end - _monotonic())


def _make_wait(engine):
    scheduler = engine.threads

    def wait(lock, timeout):
        return scheduler.wait_for_release(lock, timeout)

    # The call hands the baton over itself (declared Turn.KEEP); no digest: the remaining
    # time is a fact of the recording's clock.
    return engine.leaf("threading.wait", wait, depth=3)


def _use_scheduler(engine, module):
    global _scheduler, _wait_leaf
    _scheduler = engine.threads
    _wait_leaf = _make_wait(engine)

    def undo():
        global _scheduler, _wait_leaf
        _scheduler = _wait_leaf = None

    return undo


def _make_start_new_thread(engine, original, name):
    scheduler = engine.threads

    def start_new_thread(function, args, kwargs=None, /):
        if kwargs is None:
            kwargs = {}
        return scheduler.start_new_thread(original, function, args, kwargs)

    start_new_thread.__wrapped__ = original
    start_new_thread.__doc__ = original.__doc__
    return start_new_thread


def _make_start_joinable_thread(engine, original, name):
    scheduler = engine.threads

    def start_joinable_thread(function, handle=None, daemon=True):
        if handle is None:
            handle = ThreadHandle()
        ours = handle if isinstance(handle, ThreadHandle) else None  # (else a real one: not ours to schedule)
        real = ours._handle if ours is not None else handle

        def real_start(bootstrap, args):
            if ours is not None and type(args[0]) is Slot:  # (a scheduled thread: its end is the slot's)
                ours._slot = args[0]
                args[0].sentinel = ours
            owner = getattr(bootstrap, "__self__", None)  # (the thread, for a debugger's hook: scheduler.py)
            entry = (lambda: bootstrap(*args)) if owner is None else MethodType(lambda owner: bootstrap(*args), owner)
            return original(entry, handle=real, daemon=daemon)

        scheduler.start_new_thread(real_start, function, (), {})
        if ours is None:
            return real
        if not daemon:
            _non_daemon.add(ours)
        return ours

    start_joinable_thread.__wrapped__ = original
    start_joinable_thread.__doc__ = original.__doc__
    return start_joinable_thread


def _make_thread_handle_class(engine, original, name):
    global _RealThreadHandle
    _RealThreadHandle = original
    return ThreadHandle


def _make_shutdown(engine, original, name):
    def _shutdown():
        """At exit (threading._shutdown): the non-daemon threads joined through the
        scheduler, as the recording joined them, before the interpreter's own join."""
        for handle in list(_non_daemon):
            handle.join()
        original()

    _shutdown.__wrapped__ = original
    return _shutdown


def _make_allocate_lock(engine, original, name):
    return Lock


def _make_set_sentinel(engine, original, name):
    def _set_sentinel():
        real = original()
        slot = state.slot
        if slot is None or state.busy:
            return real
        sentinel = slot.sentinel = Sentinel(real, slot)
        return sentinel

    _set_sentinel.__wrapped__ = original
    return _set_sentinel


_THREADING_ALIASES = (("_start_new_thread", "start_new_thread"), ("_allocate_lock", "allocate_lock"),
                      ("Lock", "allocate_lock"), ("_set_sentinel", "_set_sentinel"),
                      # Python 3.13's (each interpreter has its own of these: the others are absent)
                      ("_start_joinable_thread", "start_joinable_thread"), ("_ThreadHandle", "_ThreadHandle"),
                      ("_thread_shutdown", "_shutdown"))


def _prepare_threading(engine, threading):
    """threading's RLock in Python, built on our Lock (its C one would wait for real); its
    default excepthook prints the program's frames and reads no source through the file
    boundaries (bootstrap/tracebacks.py)."""
    from retrace.bootstrap import tracebacks

    # threading keeps aliases of _thread's functions, bound when it is imported: after
    # our patches as a rule, before them when a debugger imported it first (bootstrap/
    # debugging.py). (threading is left out of the alias sweep.)
    thread_module = sys.modules["_thread"]
    earlier = {}
    for alias, name in _THREADING_ALIASES:
        current = getattr(thread_module, name, None)
        if current is not None and getattr(threading, alias, current) is not current:
            earlier[alias] = getattr(threading, alias)
            setattr(threading, alias, current)
    previous = threading._CRLock, threading._active_limbo_lock, threading.Thread.start
    threading._CRLock = None
    threading._active_limbo_lock = RegistryLock()
    original_start = threading.Thread.start

    def start(self):
        """Thread start-up is no hand-over: the starter keeps its turn while it waits for
        the new thread's own start-up, which needs none (engine/scheduler.py)."""
        slot = _scheduler.current() if _scheduler is not None else None
        if slot is None:
            return original_start(self)
        slot.starting += 1
        slots = _scheduler.slots
        known = len(slots)
        try:
            original_start(self)
            if len(slots) > known:
                _scheduler.wait_registered(slots[known])
        finally:
            slot.starting -= 1

    start.__doc__ = original_start.__doc__
    threading.Thread.start = start
    undo_hook = tracebacks.wrap_thread_excepthook(threading)
    installed = [True]

    def registry_lock_again():
        """threading makes a new registry lock in a forked child (after this hook was
        registered, its own runs first): the child's threads need ours too."""
        if installed[0]:
            threading._active_limbo_lock = RegistryLock()

    os.register_at_fork(after_in_child=registry_lock_again)

    def undo():
        installed[0] = False
        threading._CRLock, threading._active_limbo_lock, threading.Thread.start = previous
        for alias, value in earlier.items():
            setattr(threading, alias, value)
        undo_hook()

    return undo


def _python_simple_queue(engine, queue):
    """queue's SimpleQueue in Python, built on threading (the C one waits for real)."""
    previous = queue.SimpleQueue
    queue.SimpleQueue = queue._PySimpleQueue

    def undo():
        queue.SimpleQueue = previous

    return undo


FAMILY = Family(
    name="threads",
    doc=__doc__,
    patches=(
        Patch("_thread", "start_new_thread", why="a new thread: it takes turns with the others",
              make=_make_start_new_thread),
        Patch("_thread", "start_new", why="(old name of start_new_thread)", make=_make_start_new_thread,
              optional=True),
        Patch("_thread", "allocate_lock", why="waiting for a lock hands the baton over", make=_make_allocate_lock),
        Patch("_thread", "allocate", why="(old name of allocate_lock)", make=_make_allocate_lock, optional=True),
        Patch("_thread", "LockType", why="isinstance of our locks", make=_make_allocate_lock),
        Patch("_thread", "_set_sentinel", why="a thread is over when its last line has run, not later",
              make=_make_set_sentinel, optional=True),
        Patch("_thread", "start_joinable_thread", why="(Python 3.13) a new thread: it takes turns with the others",
              make=_make_start_joinable_thread, optional=True),
        Patch("_thread", "_ThreadHandle", why="(Python 3.13) a thread is over when its last line has run",
              make=_make_thread_handle_class, optional=True),
        Patch("_thread", "_shutdown", why="(Python 3.13) the exit's join of threads waits through the scheduler",
              make=_make_shutdown, optional=True),
    ),
    on_import=(
        OnImport("_thread", _use_scheduler, why="locks wait through the engine's scheduler"),
        OnImport("threading", _prepare_threading, why="RLock waits through our Lock; tracebacks of threads"),
        OnImport("queue", _python_simple_queue, why="SimpleQueue waits through our Lock"),
    ),
    leaves=(
        Leaf("threading.wait", why="a lock or condition waited for: another thread may release it",
             turn=Turn.KEEP),  # (the wait hands the turn over itself)
    ),
)
