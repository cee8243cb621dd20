"""The cyclic garbage collector, as the program sees it.

Retrace decides when cyclic garbage is collected, so that finalizers run at the same
moments in both runs (engine/garbage.py): CPython's automatic collection is off, or
nearly. The program's own calls keep meaning what they mean: ``gc.disable()`` stops
collections, ``gc.isenabled()`` and ``gc.get_threshold()`` answer what the program set
(not what retrace set underneath), ``gc.set_threshold()`` moves the point at which
boundary calls collect. ``gc.collect()`` collects for real in both runs (its finalizers'
calls are replayed), and the number of objects it found is a fact of the recorded run
(retrace's own objects are among them): a leaf, as are the collector's statistics.
"""

from __future__ import annotations

from retrace.boundaries.spec import Family, OnImport, Patch, Turn, replacing


def _answered_by(act):
    """A replacement that asks the engine's view of the collector (engine/garbage.py):
    ``act(collections, *args)``."""
    def make(engine, original, name):
        def function(*args):
            return act(engine.garbage, *args)
        return replacing(function, original)
    return make


def _found(count):
    return count


def _make_collect(engine, original, name):
    found = engine.leaf(name, _found, depth=2)  # replay: the recorded count
    collect_now = engine.garbage.collect_now

    def collect(generation=2):
        return found(collect_now(generation))
    return replacing(collect, original)


def _collector_follows_boundaries(engine, gc):
    engine.garbage.start()
    return engine.garbage.stop


FAMILY = Family(
    name="collector",
    doc=__doc__,
    patches=(
        Patch("gc", "enable", why="the program's switch: retrace keeps automatic collection off",
              make=_answered_by(lambda collections: collections.set_enabled(True))),
        Patch("gc", "disable", why="the program's switch",
              make=_answered_by(lambda collections: collections.set_enabled(False))),
        Patch("gc", "isenabled", why="the program's switch, as it set it",
              make=_answered_by(lambda collections: collections.enabled)),
        Patch("gc", "get_threshold", why="the thresholds the program set",
              make=_answered_by(lambda collections: collections.thresholds)),
        Patch("gc", "set_threshold", why="the program's threshold decides when boundary calls collect",
              make=_answered_by(lambda collections, *thresholds: collections.set_threshold(*thresholds))),
        Patch("gc", "collect", why="a real collection in both runs; the count it finds is the recording's",
              make=_make_collect, turn=Turn.QUICK),
        Patch("gc", "get_count", why="allocations counted include retrace's own", turn=Turn.QUICK),
        Patch("gc", "get_stats", why="collections counted include retrace's own", turn=Turn.QUICK),
        Patch("gc", "get_freeze_count", why="objects counted include retrace's own", turn=Turn.QUICK, optional=True),
    ),
    on_import=(
        OnImport("gc", _collector_follows_boundaries,
                 why="cyclic garbage is collected at boundary calls, at the same ones in both runs"),
    ),
)
