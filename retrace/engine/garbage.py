"""Cyclic garbage collections at boundary calls: at the same moments in both runs.

CPython collects cyclic garbage once enough container objects were allocated since
the last collection. The recorder and the replayer allocate objects of their own,
each differently, so a collection would come at another moment on replay, and with
it the finalizers it runs (``__del__``, weakref callbacks). A finalizer that makes a
boundary call (redis-py's connection asks ``os.getpid()``) would make it elsewhere in
the trace: a divergence. So CPython's automatic collection is (almost) off in both
runs:

- recording, a boundary call that finds the allocation count past the program's
  threshold collects on its way in, before its own call, and the trace says so
  (``{"g": ...}`` before whatever the collection's finalizers record); the generation
  is chosen as CPython would. Calls look at the count every few events only
  (recorder.py's ``UPKEEP_EVERY``: reading it costs as much as a clock read's whole
  wrapper);
- replay collects where the trace says, at the start of the same boundary call.

The program keeps its own view of the collector (``gc.enable``, ``disable``,
``isenabled``, thresholds: boundaries/collector.py) and that view decides. A program
that allocates a lot between two boundary calls would grow without bound: CPython's
own collection stays on as a safety valve, at ``VALVE`` times the program's threshold.
Such a collection ran at an allocation, not at a boundary call: it is noted when it
starts and replayed at the next boundary call, which is later than it ran (replay's
own valve is set twice as high). What the program sees between those two moments
(a weak reference, a finalizer's effect) may then differ: docs/limitations.md.
"""

from __future__ import annotations

import gc
import sys

from retrace import originals
from retrace.engine.state import state, untraced
from retrace.trace.format import GC_ID

_collect = originals.gc_collect
_enable = originals.gc_enable
_disable = originals.gc_disable
_isenabled = originals.gc_isenabled
_get_threshold = originals.gc_get_threshold
_set_threshold = originals.gc_set_threshold
gc_count = gc.get_count
_allocated_blocks = originals.getallocatedblocks

NEVER = sys.maxsize
VALVE = 100        # CPython's own collection runs only past this many times the threshold
# The ``{"g": value}`` item: the generation, plus these flags.
RAN_INSIDE = 4     # it ran inside retrace (its thread in a boundary or our machinery): replayed untraced
AUTOMATIC = 8      # CPython's own collection (the valve) ran it, not a boundary call


def _collect_up_to(generation: int) -> int:
    """Collect ``generation`` the way that keeps finalizers in the order objects were made:
    each younger generation first (the objects found, all passes). CPython's collection
    of an older generation lists the youngest objects first, and collecting at a boundary
    call (inside a constructor that makes one, ``select.epoll()`` in an event loop's)
    often leaves an object older than the parts it made after that call: a part's
    finalizer (a socket closing itself) would run before its owner's (the loop's, which
    closes that socket too and fails on a closed one), where a plain run, which rarely
    collects between the two, runs the owner's first."""
    found = 0
    for younger in range(generation):
        found += _collect(younger)
    return found + _collect(generation)


class Collections:
    """The program's view of the collector, and the real collector set from it."""

    valve = VALVE

    def __init__(self) -> None:
        self.enabled = _isenabled()
        self.thresholds = _get_threshold()
        self.due = NEVER  # past this allocation count, a boundary call's upkeep collects (recorder.py)
        self.running = False
        self.collecting = False  # a collection of ours or of the program's is under way

    def start(self) -> None:
        self.running = True
        self._apply()

    def stop(self) -> None:
        """Give the program back CPython's own collection, as it had set it: the objects
        left in the younger generations move on to the oldest first, in order, so that the
        interpreter's last collection (one pass over all, at exit) finalizes them as a
        plain run would (see _collect_up_to)."""
        if not self.running:
            return
        self.running = False
        self.due = NEVER
        self.collecting = True
        try:
            _collect_up_to(1)
        finally:
            self.collecting = False
        _set_threshold(*self.thresholds)
        if self.enabled:
            _enable()
        else:
            _disable()

    def _apply(self) -> None:
        if not self.running:
            return
        first = self.thresholds[0]
        if self.enabled and first > 0:
            self.due = first
            _set_threshold(first * self.valve, *self.thresholds[1:])
            _enable()
        else:
            self.due = NEVER
            _disable()

    # -- the program's calls (boundaries/collector.py) --------------------------------------
    def set_enabled(self, enabled: bool) -> None:
        self.enabled = enabled
        self._apply()

    def set_threshold(self, *thresholds) -> None:
        _set_threshold(*thresholds)  # (its own argument checks and errors)
        self.thresholds = _get_threshold()
        if self.running:
            self._apply()

    def collect_now(self, generation: int) -> int:
        """The program's gc.collect(): a real collection, in both runs."""
        if generation not in (0, 1, 2):
            return _collect(generation)  # (its own error)
        self.collecting = True
        try:
            return _collect_up_to(generation)
        finally:
            self.collecting = False


class RecordedCollections(Collections):
    def __init__(self, append) -> None:
        super().__init__()
        self._append = append
        self._blocks_after_full = _allocated_blocks()

    def start(self) -> None:
        if self._noted not in gc.callbacks:
            gc.callbacks.append(self._noted)
        super().start()

    def stop(self) -> None:
        super().stop()
        if self._noted in gc.callbacks:
            gc.callbacks.remove(self._noted)

    def collect_due(self) -> None:
        """A boundary call found the count past the threshold: collect here, and say so."""
        if self.collecting or not self.running:
            return
        count = gc_count()
        _, second, third = self.thresholds
        if count[2] > third and self._worth_a_full_collection():
            generation = 2
        elif count[1] > second:
            generation = 1
        else:
            generation = 0
        self._append((GC_ID, None, 0, generation, None))
        self.collecting = True
        try:
            _collect_up_to(generation)
        finally:
            self.collecting = False
        if generation == 2:
            self._blocks_after_full = _allocated_blocks()

    def _worth_a_full_collection(self) -> bool:
        """CPython collects the oldest generation only once the objects that reached it
        since the last full collection are a quarter of those it held then (collections
        of a big heap would otherwise cost time quadratic in its size). Its counts are not
        visible from Python: the growth of allocated memory blocks stands for them."""
        grown = _allocated_blocks() - self._blocks_after_full
        return grown > self._blocks_after_full // 4

    def _noted(self, phase, info) -> None:
        """A gc callback: CPython's own collection (the valve) starts."""
        if phase != "start" or self.collecting or not self.running:
            return
        value = info.get("generation", 2) | AUTOMATIC
        if state.busy:
            value |= RAN_INSIDE
        self._append((GC_ID, None, 0, value, None))
        if value & 3 == 2:
            self._blocks_after_full = _allocated_blocks()


class ReplayedCollections(Collections):
    valve = 2 * VALVE  # (replay allocates other objects: its valve must not run first)

    def collect_recorded(self, value) -> None:
        """Collect where the recording did (a ``{"g": value}`` item is next)."""
        generation = value & 3 if type(value) is int else 2
        self.collecting = True
        try:
            if type(value) is int and value & AUTOMATIC:  # (CPython's own: one collection)
                if value & RAN_INSIDE:
                    with untraced():
                        _collect(generation)
                else:
                    _collect(generation)
            else:
                _collect_up_to(generation)
        finally:
            self.collecting = False
