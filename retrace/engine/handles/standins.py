"""Stand-ins: classes put in a module in place of a real type whose objects are handles.

A stand-in subclasses the real type where it can, so the program's ``isinstance`` and
subclasses keep working; ``isinstance`` accepts the type's proxies too (by the names of
their real type's MRO), and calling it can be a boundary that returns a handle.
"""

from __future__ import annotations

from retrace.engine.handles.proxies import HandleProxy
from retrace.engine.state import state
from retrace.trace.values import type_name


def stand_in_class(real_type, make=None) -> type:
    """The stand-in of ``real_type``. ``make(cls, *args, **kwargs)``, if given, is the leaf
    that constructs one when the program calls it (the library's own calls, inside a leaf,
    call the real type); without it, calling it calls the real type."""
    real_meta = type(real_type)
    stand_in = None

    class StandInMeta(real_meta):
        def __instancecheck__(cls, obj):
            if isinstance(obj, HandleProxy):
                return cls.__dict__.get("_rt_stands_for", type_name(cls)) in type(obj)._rt_mro
            return cls.__subclasscheck__(type(obj))

        def __subclasscheck__(cls, sub):
            if isinstance(sub, type) and issubclass(sub, HandleProxy):
                return cls.__dict__.get("_rt_stands_for", type_name(cls)) in sub._rt_mro
            return type.__subclasscheck__(real_type if cls is stand_in else cls, sub)

        def __call__(cls, *args, **kwargs):
            target = real_type if cls is stand_in else cls  # a program's subclass: itself
            if make is None or state.busy:  # (busy: the real library builds it inside a leaf)
                return real_meta.__call__(target, *args, **kwargs)
            return make(target, *args, **kwargs)

    StandInMeta.__name__ = StandInMeta.__qualname__ = "StandIn"
    namespace = {"__module__": real_type.__module__, "__qualname__": real_type.__qualname__,
                 "__doc__": real_type.__doc__, "__retrace_real__": real_type,
                 "_rt_stands_for": type_name(real_type)}
    try:
        stand_in = StandInMeta(real_type.__name__, (real_type,), dict(namespace, __slots__=()))
    except TypeError:  # not an acceptable base type (sqlite3.Blob): a plain class then
        stand_in = StandInMeta(real_type.__name__, (), namespace)
    return stand_in
