"""Clocks: every ``time`` clock, sleeps, calendar conversions, and datetime's "now".

Conversions (``localtime``, ``ctime``, ``strftime``, ``mktime``...) are recorded
even when given an explicit time, because their answer depends on the machine's
time zone and locale, which replay must not read. ``sleep`` is a leaf like any
other: replay does not call it, so replayed sleeps return at once.

``datetime.datetime.now()`` reads the clock in C, so ``now``, ``utcnow`` and
``today`` are replaced *in the classes themselves* by class methods built from a
recorded leaf. The classes stay the stdlib's own: ``type(x) is datetime.datetime``
holds, C code (pandas' Timestamp and NaT, numpy, orjson, pydantic-core) subclasses
and recognises them as without retrace, and subclasses inherit the recorded clock.
(A stand-in subclass swapped into the module broke all of those: a segfault in
pandas' NaT, metaclass conflicts, serialisers refusing our datetimes.)
"""

from __future__ import annotations

import sys

from retrace.boundaries.spec import Family, Leaf, Patch, Turn, all_args, replacing


_CLOCKS = (
    "time", "time_ns", "monotonic", "monotonic_ns", "perf_counter", "perf_counter_ns",
    "process_time", "process_time_ns", "thread_time", "thread_time_ns",
)
_WITH_ARGS = ("clock_gettime", "clock_gettime_ns", "localtime", "gmtime", "ctime", "asctime",
              "strftime", "mktime")


def _fields(moment):
    return (moment.year, moment.month, moment.day, moment.hour, moment.minute,
            moment.second, moment.microsecond, moment.fold)


def _now_reads(engine):
    """The two recorded leaves every "now" is made from: the local and the UTC wall-clock
    fields, read by C's own ``datetime.now`` (reached through our replacement's
    ``__wrapped__`` once that is installed)."""
    from datetime import datetime, timezone

    c_now = getattr(datetime.now, "__wrapped__", datetime.now)
    local_now = engine.leaf("datetime.now", lambda: _fields(c_now()), depth=2)
    utc_now = engine.leaf("datetime.utcnow", lambda: _fields(c_now(timezone.utc)), depth=2)
    return local_now, utc_now


def _make_now(engine, original, name):
    local_now, utc_now = _now_reads(engine)

    def now(cls, tz=None):
        if tz is None:
            *fields, fold = local_now()
            return cls(*fields, fold=fold)
        *fields, _ = utc_now()
        moment = cls(*fields, tzinfo=tz)  # (first: C's TypeError for a tz that is no tzinfo)
        return tz.fromutc(moment)

    return classmethod(replacing(now, original))


_UTCNOW_DEPRECATED = sys.version_info >= (3, 12)  # (C's utcnow warns from 3.12 on: ours must too)


def _make_utcnow(engine, original, name):
    _, utc_now = _now_reads(engine)

    def utcnow(cls):
        if _UTCNOW_DEPRECATED:
            import warnings

            warnings.warn("datetime.datetime.utcnow() is deprecated and scheduled for removal in a future "
                          "version. Use timezone-aware objects to represent datetimes in UTC: "
                          "datetime.datetime.now(datetime.UTC).", DeprecationWarning, stacklevel=2)
        *fields, _ = utc_now()
        return cls(*fields)

    return classmethod(replacing(utcnow, original))


def _make_today(engine, original, name):
    """``date.today``, which ``datetime`` inherits: C makes it from ``time.time()`` and the
    machine's time zone; ours from the recorded local fields, for either class."""
    from datetime import datetime

    local_now, _ = _now_reads(engine)

    def today(cls):
        *fields, fold = local_now()
        if issubclass(cls, datetime):
            return cls(*fields, fold=fold)
        return cls(fields[0], fields[1], fields[2])

    return classmethod(replacing(today, original))


FAMILY = Family(
    name="clock",
    doc=__doc__,
    patches=(
        *(Patch("time", clock, why="reads a clock", turn=Turn.QUICK) for clock in _CLOCKS),
        *(Patch("time", fn, why="reads a clock, time zone or locale", key=all_args, turn=Turn.QUICK)
          for fn in _WITH_ARGS),
        Patch("time", "sleep", why="waits for the clock (replay does not)", key=all_args),
        Patch("datetime", "datetime.now", why="reads the clock in C", make=_make_now),
        Patch("datetime", "datetime.utcnow", why="reads the clock in C", make=_make_utcnow),
        Patch("datetime", "date.today", why="reads the clock and the time zone in C (datetime inherits it)",
              make=_make_today),
    ),
    leaves=(
        Leaf("datetime.now", why="the local time, read in C (datetime.now and date.today)"),
        Leaf("datetime.utcnow", why="the time in UTC, read in C"),
    ),
)
