"""Clocks: every ``time`` clock, sleeps, calendar conversions, and datetime's "now".

Conversions (``localtime``, ``ctime``, ``strftime``, ``mktime``...) are recorded
even when given an explicit time, because their answer depends on the machine's
time zone and locale, which replay must not read. ``sleep`` is a leaf like any
other: replay does not call it, so replayed sleeps return at once.

``datetime.datetime.now()`` reads the clock in C, so the ``datetime`` and
``date`` classes are replaced by subclasses whose now/today/utcnow come from a
recorded leaf; ``isinstance`` against them still accepts the real classes.
"""

from __future__ import annotations

from retrace.boundaries.spec import Family, OnImport, Patch, all_args


_CLOCKS = (
    "time", "time_ns", "monotonic", "monotonic_ns", "perf_counter", "perf_counter_ns",
    "process_time", "process_time_ns", "thread_time", "thread_time_ns",
)
_WITH_ARGS = ("clock_gettime", "clock_gettime_ns", "localtime", "gmtime", "ctime", "asctime",
              "strftime", "mktime")


class _StandsForReal(type):
    """Metaclass: ``isinstance(x, FakeDatetime)`` is true for real datetimes too."""

    def __instancecheck__(cls, obj):
        return isinstance(obj, cls.__retrace_real__)

    def __subclasscheck__(cls, sub):
        return issubclass(sub, cls.__retrace_real__)


def _fields(moment):
    return (moment.year, moment.month, moment.day, moment.hour, moment.minute,
            moment.second, moment.microsecond, moment.fold)


def _stand_in_repr(self):
    """``datetime.date(2024, 2, 29)`` as python prints it, not ``date(2024, 2, 29)``.

    C's repr names the instance's type by its C-level name, which for our
    stand-in class lacks the module. User subclasses keep their own name.
    """
    text = type(self).__retrace_real__.__repr__(self)
    if "__retrace_real__" in type(self).__dict__ and not text.startswith("datetime."):
        text = "datetime." + text
    return text


def _now_leaves(engine):
    import datetime as real

    real_datetime = real.datetime.__dict__.get("__retrace_real__", real.datetime)
    local_now = engine.leaf("datetime.now", lambda: _fields(real_datetime.now()), depth=2)
    utc_now = engine.leaf("datetime.utcnow", lambda: _fields(real_datetime.now(real.timezone.utc)), depth=2)
    return local_now, utc_now


def _make_date(engine, real_date, name):
    local_now, _ = _now_leaves(engine)

    class date(real_date, metaclass=_StandsForReal):
        __retrace_real__ = real_date
        __slots__ = ()
        __repr__ = _stand_in_repr

        @classmethod
        def today(cls):
            fields = local_now()
            return cls(fields[0], fields[1], fields[2])

    date.__module__, date.__qualname__ = "datetime", "date"  # pickle finds it as datetime.date
    return date


def _make_datetime(engine, real_datetime, name):
    local_now, utc_now = _now_leaves(engine)

    class datetime(real_datetime, metaclass=_StandsForReal):
        __retrace_real__ = real_datetime
        __slots__ = ()
        __repr__ = _stand_in_repr

        @classmethod
        def now(cls, tz=None):
            if tz is None:
                *fields, fold = local_now()
                return cls(*fields, fold=fold)
            *fields, _ = utc_now()
            return tz.fromutc(cls(*fields, tzinfo=tz))

        @classmethod
        def utcnow(cls):
            *fields, _ = utc_now()
            return cls(*fields)

        @classmethod
        def today(cls):
            return cls.now()

    datetime.__module__, datetime.__qualname__ = "datetime", "datetime"
    return datetime


def _pickle_real_instances(engine, module):
    """Real date/datetime objects (``datetime.min``, ones made in C) must still pickle.

    pickle looks their class up as ``datetime.datetime``, finds our stand-in, and
    refuses; reduce them through the stand-in instead (it makes equal objects, and
    a plain interpreter unpickles them as real ones).
    """
    import copyreg

    added = []
    for name in ("date", "datetime"):
        stand_in = getattr(module, name)
        real = stand_in.__dict__.get("__retrace_real__")
        if real is not None and real not in copyreg.dispatch_table:
            copyreg.dispatch_table[real] = lambda obj, stand_in=stand_in: (stand_in, obj.__reduce__()[1])
            added.append(real)

    def undo():
        for real in added:
            copyreg.dispatch_table.pop(real, None)

    return undo


_NO_METACLASS = object()


def _real_bases_for_other_metaclasses(engine, builtins_module):
    """``class X(date, metaclass=M)`` (pydantic.v1's ConstrainedDate) must work as without
    retrace: our stand-in's metaclass would conflict with M. Such a class subclasses the
    real class instead (its instances are still ``datetime.date`` for isinstance; its own
    ``today()`` would read the clock unrecorded). Every class statement passes here: one
    type check per base when none is our stand-in."""
    real_build = builtins_module.__build_class__

    def __build_class__(func, name, /, *bases, **kwargs):  # (a class keyword may be called `name`)
        for base in bases:
            if type(base) is _StandsForReal:
                bases = _bases_for(bases, kwargs.get("metaclass", _NO_METACLASS))
                break
        return real_build(func, name, *bases, **kwargs)

    __build_class__.__doc__ = real_build.__doc__
    builtins_module.__build_class__ = __build_class__

    def undo():
        builtins_module.__build_class__ = real_build

    return undo


def _bases_for(bases: tuple, metaclass) -> tuple:
    """``bases`` with our stand-ins replaced by the real classes when another metaclass is
    involved (explicitly, or through another base) that does not derive from ours."""
    others = [] if metaclass is _NO_METACLASS else [metaclass]
    others += [type(base) for base in bases if isinstance(base, type) and type(base) is not _StandsForReal]
    if all(issubclass(_StandsForReal, other) or issubclass(other, _StandsForReal) for other in others
           if isinstance(other, type)):
        return bases
    return tuple(base.__retrace_real__ if type(base) is _StandsForReal else base for base in bases)


FAMILY = Family(
    name="clock",
    doc=__doc__,
    patches=(
        *(Patch("time", clock, why="reads a clock", quick=True) for clock in _CLOCKS),
        *(Patch("time", fn, why="reads a clock, time zone or locale", key=all_args, quick=True)
          for fn in _WITH_ARGS),
        Patch("time", "sleep", why="waits for the clock (replay does not)", key=all_args),
        Patch("datetime", "date", why="date.today() reads the clock in C", make=_make_date),
        Patch("datetime", "datetime", why="datetime.now/utcnow/today read the clock in C",
              make=_make_datetime),
    ),
    on_import=(
        OnImport("datetime", _pickle_real_instances, why="real datetimes must still pickle"),
        OnImport("builtins", _real_bases_for_other_metaclasses,
                 why="a subclass of date/datetime with a metaclass of its own (pydantic.v1) must still be made"),
    ),
)
