"""Handles: external objects whose every use is a boundary.

A leaf whose result stands for something outside the process (a database connection,
a cursor, a driver's session) hands the program a *handle proxy*: an instance of a
class made from the real object's type, the same class in record and replay.
Recording, the proxy's methods and data attributes reach the real object inside
leaves named ``"<module>.<Type>.<method>"`` (``sqlite3.Cursor.execute``), keyed by the
handle's number and the arguments; replaying, it holds nothing and the same leaves
answer from the trace. Which results are handles, special methods, callbacks and
stand-ins, as users see them: docs/declaring-boundaries.md.

Which proxy class to build must be known on replay without the real type (the
library may not even be installed): the first time a type's handle enters the trace,
its description travels with the value (module, qualified name, the names of its
MRO, its methods, data attributes and special methods); later handles of that type
carry only its number. All of it is plain data returned by the leaves' ``store`` and
read back by their ``load``: the trace format does not know about handles. A family
can give a type's proxies behaviour of their own (a *mixin*: a ``HandleProxy``
subclass registered for a type name) or replace a real class by a *stand-in*
(``stand_in``).
"""

from __future__ import annotations

import types
from _weakref import ref as _weakref

from retrace.engine.handles.codec import HandleCodec
from retrace.engine.handles.proxies import (  # (the names families use, from here)
    _UNSET,
    SPECIALS,
    HandleProxy,
    describe,
    key_args,
    key_no_args,
    new_proxy,
    norm,
    proxy_class,
    register_mixin,
    top,
    unwrap,
    unwrap_args,
    unwrap_kwargs,
)
from retrace.engine.handles.standins import stand_in_class

__all__ = ["SPECIALS", "HandleProxy", "Handles", "describe", "handle_class", "handle_function", "handles_for",
           "key_args", "norm", "register_mixin"]


class Handles:
    """The handle machinery of one engine (one per process): proxy classes, proxies, the
    leaves behind them, and the replacements families put in modules."""

    def __init__(self, engine) -> None:
        self.engine = engine
        self.recording = engine.mode == "record"
        self.codec = HandleCodec(self)
        self._classes: dict[tuple, type] = {}     # description -> proxy class
        self.by_type: dict[type, type] = {}       # real type -> proxy class (record)
        self._by_real: dict[int, object] = {}     # id(real) -> weakref to its proxy (record)
        self._shared: dict = {}                   # replacements made once (functions, stand-ins)
        self._at_the_end: dict | None = None      # handle number -> {name: value} (replay)

    # -- proxy classes and proxies --------------------------------------------------------------
    def proxy_class(self, desc: tuple) -> type:
        cls = self._classes.get(desc)
        if cls is None:
            cls = self._classes[desc] = proxy_class(self, desc)
        return cls

    def proxy_for(self, real, cls=None):
        """Recording: the proxy of a real object (the same one while it lives)."""
        by_real = self._by_real
        key = id(real)
        ref = by_real.get(key)
        if ref is not None:
            proxy = ref()
            if proxy is not None and proxy._rt_real is real:
                return proxy
        if cls is None:
            kind = type(real)
            cls = self.by_type.get(kind)
            if cls is None:
                cls = self.by_type[kind] = self.proxy_class(describe(kind))
        proxy = new_proxy(cls, real)

        def forget(dead, key=key, by_real=by_real):
            if by_real.get(key) is dead:
                del by_real[key]

        by_real[key] = _weakref(proxy, forget)
        return proxy


    # -- leaves ------------------------------------------------------------------------------
    def make_leaf(self, cls, name: str, kind: str):
        """The leaf behind ``proxy.name`` (call), its get/set/delete, or a fallback."""
        engine = self.engine
        label = cls._rt_name
        owner = cls._rt_owner
        wrap = self.codec.wrap
        store, load = self.codec.store, self.codec.load
        key = key_no_args
        after_end = None
        if kind == "call":
            boundary = f"{label}.{name}"

            def call(proxy, *args, **kwargs):
                real = proxy._rt_real
                if real is None:
                    return None  # replay, from retrace's own work: no object, no answer
                if args:
                    args = unwrap_args(args)
                if kwargs:
                    kwargs = unwrap_kwargs(kwargs)
                return wrap(getattr(real, name)(*args, **kwargs), owner)
        elif kind == "get" or kind == "getattr":
            boundary = f"{label}.{name}"
            read = cls._rt_read

            def call(proxy, *attr):
                real = proxy._rt_real
                if real is None:
                    return None
                attr = attr[0] if attr else name
                read.add(attr)
                return wrap(getattr(real, attr), owner)

            store, load = self.codec.store_attr(name, kind), self.codec.load_attr(name, kind)
            after_end = self._value_at_the_end(name)
        elif kind == "set" or kind == "setattr":
            boundary = f"{label}.{name}="

            def call(proxy, *args):
                real = proxy._rt_real
                if real is not None:
                    attr, value = args if kind == "setattr" else (name, args[0])
                    type(proxy)._rt_real_set(real, attr, unwrap(value))

            store = load = None
        elif kind == "del" or kind == "delattr":
            boundary = f"{label}.{name}" + (" del" if kind == "del" else "")

            def call(proxy, *attr):
                real = proxy._rt_real
                if real is not None:
                    delattr(real, attr[0] if attr else name)

            store = load = None
        else:
            raise ValueError(f"unknown leaf kind {kind!r}")
        call.__name__ = call.__qualname__ = name
        return engine.leaf(boundary, call, key=key, store=store, load=load, depth=2, after_end=after_end)

    # -- the handles' state at the recording's end ---------------------------------------------
    # A finalizer that runs as the interpreter exits, after the recording's end, may read
    # a handle's attribute (aiopg's Connection.__del__ reads its connection's ``closed``):
    # real and unrecorded then, with nothing to answer it on replay. So the end of the
    # recording keeps, for each live handle, the attributes the program read of it, as
    # they are then; replay answers such reads with them.
    def state_at_the_end(self) -> list:
        """Recording: ``[[handle number, [[name, value], ...]], ...]``, numbers, flags and
        None only, read only where no code of the program's or the library's Python runs
        (an instance attribute, or a C type's member or getset)."""
        kept = []
        for ref in list(self._by_real.values()):
            proxy = ref()
            if proxy is None or proxy._rt_no is None or proxy._rt_real is None:
                continue
            real, values = proxy._rt_real, []
            for name in sorted(type(proxy)._rt_read):
                value = _plainly_read(real, name)
                if value is not _UNSET:
                    values.append([name, value])
            if values:
                kept.append([proxy._rt_no, values])
        return kept

    def _value_at_the_end(self, name: str):
        """Replay: a read of ``name`` after the recording's end, answered as it ended."""
        def answer(proxy, *attr):
            if self._at_the_end is None:
                ending = getattr(getattr(self.engine, "source", None), "ending", None) or {}
                self._at_the_end = {no: dict(values) for no, values in ending.get("handles") or ()}
            return self._at_the_end.get(proxy._rt_no, {}).get(attr[0] if attr else name)

        return answer

    # -- replacements for module attributes --------------------------------------------------
    def function(self, name: str, original, *, owner: str | None = None, key=key_args, depth: int = 1):
        """A module function whose result follows the handle rule (``sqlite3.connect``).

        ``owner``: the package whose objects are always handles (default: ``name``'s).
        """
        cached = self._shared.get(("function", name, id(original)))
        if cached is not None and cached[0] is original:
            return cached[1]
        owner = frozenset({owner or top(name)})
        wrap = self.codec.wrap
        recording = self.recording

        def call(*args, **kwargs):
            if not recording:
                return None  # replay, from retrace's own work: nothing real to call
            if args:
                args = unwrap_args(args)
            if kwargs:
                kwargs = unwrap_kwargs(kwargs)
            return wrap(original(*args, **kwargs), owner)

        call.__name__ = getattr(original, "__name__", name.rpartition(".")[2])
        call.__qualname__ = getattr(original, "__qualname__", call.__name__)
        call.__doc__ = getattr(original, "__doc__", None)
        leaf = self.engine.leaf(name, call, key=key, store=self.codec.store, load=self.codec.load, depth=depth)
        leaf.__wrapped__ = original
        self._shared[("function", name, id(original))] = (original, leaf)
        return leaf

    def stand_in(self, real_type, *, construct: str | None = None, construct_with=None):
        """A class that stands for ``real_type`` in its module.

        ``isinstance(x, StandIn)`` holds for real instances and for proxies of the
        real type (or of subclasses); subclassing works when the real type allows it.
        Calling it: when ``construct`` names a boundary, constructing is a leaf whose
        result follows the handle rule (``construct_with(cls, *args, **kwargs)``, if
        given, does the real construction: sqlite3 builds connections through
        ``connect(..., factory=cls)``); otherwise the real type is called.
        """
        cached = self._shared.get(("stand_in", id(real_type)))
        if cached is not None and cached[0] is real_type:
            return cached[1]
        real_meta = type(real_type)
        make = None
        if construct is not None:
            def build(cls, *args, **kwargs):
                if construct_with is not None:
                    return construct_with(cls, *args, **kwargs)
                return real_meta.__call__(cls, *args, **kwargs)

            make = self.function(construct, build, owner=top(real_type.__module__), depth=2)
        stand_in = stand_in_class(real_type, make)
        self._shared[("stand_in", id(real_type))] = (real_type, stand_in)
        return stand_in


def _plainly_read(real, name: str):
    """``real.name`` if reading it runs no Python code and gives a plain scalar, else _UNSET."""
    try:
        instance = object.__getattribute__(real, "__dict__")
    except (AttributeError, TypeError):
        instance = None
    if type(instance) is dict and name in instance:
        value = instance[name]
    else:
        descriptor = None
        for klass in type(real).__mro__:
            if name in klass.__dict__:
                descriptor = klass.__dict__[name]
                break
        if type(descriptor) not in (types.MemberDescriptorType, types.GetSetDescriptorType):
            return _UNSET
        try:
            value = descriptor.__get__(real, type(real))
        except Exception:
            return _UNSET
    return value if value is None or type(value) in _NUMBERS else _UNSET


_NUMBERS = (bool, int, float)  # (no text: the end of a recording is no event, which secrets are sealed in)


def handles_for(engine) -> Handles:
    """The handle machinery of ``engine`` (made on first use)."""
    system = engine.__dict__.get("_rt_handles")
    if system is None:
        system = engine._rt_handles = Handles(engine)
    return system


def handle_function(owner: str | None = None):
    """A ``Patch.make`` for a module function whose results follow the handle rule (objects
    of ``owner``'s package, by default the function's, are always handles)."""
    def make(engine, original, name):
        return handles_for(engine).function(name, original, owner=owner or top(name))

    return make


def handle_class(engine, original, name):
    """A ``Patch.make`` for a class: a stand-in, constructing it is a boundary returning a
    handle, and ``isinstance`` accepts its handles."""
    return handles_for(engine).stand_in(original, construct=name)
