"""What processes share: multiprocessing's semaphores and shared memory.

Semaphores.

``_multiprocessing.SemLock`` is under every multiprocessing ``Lock``, ``RLock``,
``Semaphore``, ``Condition``, ``Event``, ``Queue`` and ``Pool``. It becomes a
handle (engine/handles/): creating one (or rebuilding it in a spawned child from
its handle and name) is a leaf, and so is every use -- ``acquire`` (a wait: the
thread hands the baton over while it waits), ``release``, the counters
``Condition`` reads (``_count``, ``_is_mine``, ``_get_value``, ``_is_zero``), the
attributes pickled for a spawned child (``handle``, ``name``).

Replay creates no semaphore: every acquire returns what it returned when recorded,
at once. Each process of the tree replays from its own recording, so a replayed
worker that dies holding a queue's lock (a pool's worker, terminated) cannot block
its parent's replay, and a named semaphore left behind by a killed run cannot make
the next replay choose another name.

A parent's set of children iterates in the order of their hashes: processes hash
by their place in the tree, not by address.

Managers name the objects they share by their address (``id()``): those names are
recorded, since the manager's clients send them back.

Shared memory (``Value``, ``Array``, with their lock). Another process may change
it at any moment, so reading it is a boundary: ``.value``/``.raw`` and indexing are
leaves. Writing is real in both modes, in memory that replay makes anonymous (the
recording's memory-mapped file does not exist then). Known limit: ``RawValue``,
``RawArray``, ``get_obj()`` and ``multiprocessing.shared_memory`` are read
directly, not recorded: written by another process, they replay as this one left
them.
"""

from __future__ import annotations

from time import monotonic as _monotonic

from retrace.boundaries.spec import Family, Leaf, OnImport, Patch, Turn, all_args
from retrace.engine.handles import handles_for


_WAIT_SLICE = 0.05  # seconds of one uninterrupted wait in C


def _waits_in_slices(real_type):
    """The real semaphore type, its blocking waits cut into short ones.

    A signal that arrives just before a thread starts waiting in C is handled only when
    the wait ends; with retrace's extra Python code around each wait that happens often
    enough to matter: a pool's worker, terminated while it heads for its queue's lock,
    would wait there for ever. Between slices, pending signal handlers run."""

    class SemLock(real_type):
        __slots__ = ()

        def acquire(self, block=True, timeout=None):
            if not block or (timeout is not None and timeout <= _WAIT_SLICE):
                return real_type.acquire(self, block, timeout)
            deadline = None if timeout is None else _monotonic() + timeout
            while True:
                left = _WAIT_SLICE if deadline is None else min(_WAIT_SLICE, deadline - _monotonic())
                if real_type.acquire(self, True, max(0.0, left)):
                    return True
                if deadline is not None and _monotonic() >= deadline:
                    return False

        def __enter__(self):
            return self.acquire()

    SemLock.__module__, SemLock.__qualname__ = real_type.__module__, real_type.__qualname__
    return SemLock


def _make_semlock(engine, original, name):
    system = handles_for(engine)
    real_type = _waits_in_slices(original)
    stand_in = system.stand_in(real_type, construct="_multiprocessing.SemLock")
    # A spawned child rebuilds its parent's semaphores from (handle, kind, maxvalue, name).
    stand_in._rebuild = staticmethod(system.function(
        "_multiprocessing.SemLock._rebuild", real_type._rebuild, owner="_multiprocessing", depth=2))
    return stand_in


def _record_shared_reads(engine, sharedctypes):
    """Reading a synchronized Value/Array is a leaf (the lock is taken inside, for real,
    while recording)."""
    classes = (sharedctypes.Synchronized, sharedctypes.SynchronizedString, sharedctypes.SynchronizedArray)
    previous = [(cls, name, cls.__dict__[name]) for cls in classes
                for name in ("value", "raw", "__getitem__") if name in cls.__dict__]
    for cls, name, original in previous:
        boundary = f"multiprocessing.{cls.__name__}.{name}"
        if isinstance(original, property):
            read = engine.leaf(boundary, original.fget)
            setattr(cls, name, property(read, original.fset, original.fdel, original.__doc__))
        else:
            setattr(cls, name, engine.leaf(boundary, original))

    def undo():
        for cls, name, original in previous:
            setattr(cls, name, original)

    return undo


def _anonymous_arenas(engine, heap):
    """The arenas under Value/Array are shared memory, whose reads this family records
    (``_record_shared_reads``): their mapping is no boundary of the files family's
    (cfiles.py records what an ordinary mapping holds). Recording maps the arena's file
    with mmap's own class; replay maps anonymous shared memory (the recorded descriptor
    of their file is no descriptor here)."""
    import mmap as real_mmap
    import types

    mapping_class = getattr(real_mmap.mmap, "__wrapped__", real_mmap.mmap)  # (mmap's, not cfiles')

    def anonymous(fileno, length, *args, **kwargs):
        return mapping_class(-1, length)

    shim = types.ModuleType("mmap")
    shim.__dict__.update(real_mmap.__dict__)
    shim.mmap = mapping_class if engine.recording else anonymous
    previous = heap.mmap
    heap.mmap = shim

    def undo():
        heap.mmap = previous

    return undo


def _processes_hash_by_identity(engine, process):
    """A process's children are a set of Process objects, which hash by address: the
    order ``active_children()`` and every ``Process.start()`` poll them in (a waitpid
    each) would differ between recording and replay. They hash by their place in the
    tree instead (``_identity``: (1,), (2,), (2, 1)...), the same in both."""
    previous = process.BaseProcess.__dict__.get("__hash__")

    def __hash__(self):
        return hash(self._identity)

    process.BaseProcess.__hash__ = __hash__

    def undo():
        if previous is None:
            del process.BaseProcess.__hash__
        else:
            process.BaseProcess.__hash__ = previous

    return undo


def _recorded_object_ids(engine, managers):
    """A manager's server names the objects it shares by ``id()``, a memory address that
    differs from run to run, and its clients send those names back: the names replay."""
    managers.id = engine.leaf("multiprocessing.managers.id", id)

    def undo():
        managers.__dict__.pop("id", None)

    return undo


FAMILY = Family(
    name="interprocess",
    doc=__doc__,
    patches=(
        Patch("_multiprocessing", "SemLock", why="a semaphore shared with other processes", make=_make_semlock),
        Patch("_multiprocessing", "sem_unlink", why="removes a named semaphore of the system", key=all_args),
    ),
    on_import=tuple(
        # billiard (Celery's pool) is a fork of multiprocessing with the same modules.
        action
        for package in ("multiprocessing", "billiard")
        for action in (
            OnImport(f"{package}.sharedctypes", _record_shared_reads,
                     why="another process may have changed shared memory since"),
            OnImport(f"{package}.heap", _anonymous_arenas, why="replay: no file under shared memory"),
            OnImport(f"{package}.process", _processes_hash_by_identity,
                     why="the order a parent polls its children in follows their hash"),
            OnImport(f"{package}.managers", _recorded_object_ids,
                     why="a manager's object names are addresses, sent to other processes"),
        )
    ),
    leaves=(
        Leaf("multiprocessing.managers.id", why="an object's address, its name for other processes",
             turn=Turn.KEEP),  # (answers at once)
        *(Leaf(f"multiprocessing.{cls}.{attr}", why="reads memory another process may have changed")
          for cls in ("Synchronized", "SynchronizedString", "SynchronizedArray")
          for attr in ("value", "raw", "__getitem__")),
        Leaf("_multiprocessing.*", why="a semaphore as a handle: each of its calls (engine/handles/)"),
        # (a handle of a type from elsewhere is named after that type: a semaphore's bound method)
        Leaf("builtins.*", why="a bound method a semaphore handle hands out, itself a handle"),
    ),
)
