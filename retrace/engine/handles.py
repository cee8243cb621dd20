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

from retrace.engine.state import state
from retrace.trace.values import SCALARS, Raised, find_class, to_wire

_UNSET = object()  # "not set through the proxy": see ConnectionProxy in boundaries/sqlite.py

# Special methods a proxy class defines when (and only when) the real type does.
SPECIALS = frozenset({
    "__iter__", "__next__", "__reversed__", "__enter__", "__exit__", "__len__", "__length_hint__",
    "__getitem__", "__setitem__", "__delitem__", "__contains__", "__call__", "__bool__",
    "__str__", "__repr__", "__bytes__", "__fspath__", "__int__", "__float__", "__index__",
    "__eq__", "__ne__", "__hash__", "__lt__", "__le__", "__gt__", "__ge__",
})
# Modules whose objects are plain values however they are built.
_VALUE_MODULES = frozenset({"datetime", "decimal", "fractions", "uuid", "ipaddress", "pathlib"})
_METHOD_TYPES = (types.FunctionType, types.BuiltinFunctionType, types.MethodDescriptorType,
                 types.WrapperDescriptorType, types.ClassMethodDescriptorType, classmethod,
                 staticmethod)
_NAMED_TYPES = (type, types.FunctionType, types.BuiltinFunctionType)

# Encodings of a result (what ``store`` keeps; ``load`` reads it back). A scalar is
# kept as itself; everything else is a tuple whose first item says what it is.
_VALUE, _NEW, _SAME, _NAMED, _LIST, _TUPLE, _DICT = range(7)
_SET_VALUE = 8  # an attribute read that returns the very object the program set


def _name_of(kind) -> str:
    return f"{getattr(kind, '__module__', '?')}.{getattr(kind, '__qualname__', '?')}"


def _top(module) -> str:
    return module.partition(".")[0] if type(module) is str else ""


# -- describing a real type ------------------------------------------------------------
def describe(kind) -> tuple:
    """What replay needs to build the proxy class of ``kind``, as plain data."""
    methods, attrs, specials = [], [], []
    seen = set()
    for klass in kind.__mro__:
        if klass is object:
            continue
        for name, member in list(vars(klass).items()):
            if name in seen:
                continue
            seen.add(name)
            if name.startswith("_"):
                if name in SPECIALS and member is not None:
                    specials.append(name)
                continue
            if isinstance(member, type):
                attrs.append(name)  # a nested class: read like any other attribute
            elif isinstance(member, _METHOD_TYPES) or (callable(member) and not hasattr(type(member), "__get__")):
                methods.append(name)
            else:
                attrs.append(name)  # properties, C getsets and members, constants
    return (kind.__module__, kind.__qualname__, tuple(_name_of(k) for k in kind.__mro__),
            tuple(sorted(methods)), tuple(sorted(attrs)), tuple(sorted(specials)))


# -- the proxy base class ----------------------------------------------------------------
class HandleProxy:
    """Base of every proxy class. ``_rt_real`` is the real object (None on replay)."""

    __slots__ = ("_rt_real", "_rt_no", "_rt_set", "__weakref__")

    # Set on each generated class:
    _rt_system = None       # the Handles of this process's engine
    _rt_desc = ()           # describe() of the real type
    _rt_name = "?"          # "module.Qualname" of the real type
    _rt_mro = frozenset()   # names of the real type's MRO
    _rt_owner = frozenset()  # top-level packages of the real type's MRO (builtins aside)
    _rt_leaves: dict = {}
    _rt_read: set = set()   # names of data attributes the program read (recording)

    def _rt_init(self) -> None:
        """Called on every new proxy, in both modes (mixins set their fields here)."""

    @classmethod
    def _rt_leaf(cls, name: str, kind: str = "call"):
        """The leaf behind a method call (or an attribute's get/set/del) of this class."""
        leaves = cls._rt_leaves
        slot = name if kind == "call" else f"{kind} {name}"
        leaf = leaves.get(slot)
        if leaf is None:
            leaf = leaves[slot] = cls._rt_system.make_leaf(cls, name, kind)
        return leaf

    @classmethod
    def _rt_real_set(cls, real, name, value) -> None:
        """Recording: what setting ``name`` does to the real object (mixins may change it)."""
        setattr(real, name, value)

    def _rt_remember(self, name, value) -> None:
        values = self._rt_set
        if values is None:
            values = self._rt_set = {}
        values[name] = value

    def _rt_forget(self, name) -> None:
        if self._rt_set:
            self._rt_set.pop(name, None)

    def __getattr__(self, name):
        # Only reached for names the type does not declare: an instance attribute of a
        # pure-Python object, or a name it does not have (the leaf raises AttributeError).
        if name.startswith("_rt_") or (name[:2] == "__" and name[-2:] == "__"):
            raise AttributeError(f"'{type(self)._rt_name}' object has no attribute '{name}'")
        return type(self)._rt_leaf("__getattr__", "getattr")(self, name)

    def __setattr__(self, name, value):
        if name.startswith("_rt_"):
            object.__setattr__(self, name, value)
            return
        descriptor = getattr(type(self), name, None)
        if hasattr(type(descriptor), "__set__"):
            descriptor.__set__(self, value)
            return
        type(self)._rt_leaf("__setattr__", "setattr")(self, name, value)
        self._rt_remember(name, value)

    def __delattr__(self, name):
        if name.startswith("_rt_"):
            object.__delattr__(self, name)
            return
        descriptor = getattr(type(self), name, None)
        if hasattr(type(descriptor), "__delete__"):
            descriptor.__delete__(self)
            return
        type(self)._rt_leaf("__delattr__", "delattr")(self, name)
        self._rt_forget(name)

    def __repr__(self) -> str:
        return f"<{type(self)._rt_name} object at {id(self):#x}>"

    def __reduce_ex__(self, protocol):
        raise TypeError(f"cannot pickle '{type(self)._rt_name}' object")


def _method(name: str):
    def method(self, *args, **kwargs):
        leaf = self._rt_leaves.get(name)
        if leaf is None:
            leaf = type(self)._rt_leaf(name)
        return leaf(self, *args, **kwargs)

    method.__name__ = method.__qualname__ = name
    return method


def _attribute(name: str):
    def fget(self):
        return type(self)._rt_leaf(name, "get")(self)

    def fset(self, value):
        type(self)._rt_leaf(name, "set")(self, value)
        self._rt_remember(name, value)

    def fdel(self):
        type(self)._rt_leaf(name, "del")(self)
        self._rt_forget(name)

    return property(fget, fset, fdel, f"{name} of the real object, through a boundary")


# -- mixins and the arguments that matter -------------------------------------------------
_MIXINS: dict[str, type] = {}


def register_mixin(type_name: str, mixin: type) -> None:
    """Proxies of ``type_name`` (or a subclass of it) derive from ``mixin``."""
    if not (isinstance(mixin, type) and issubclass(mixin, HandleProxy)):
        raise TypeError("a mixin must subclass HandleProxy")
    _MIXINS[type_name] = mixin


def _defined_below(base) -> set:
    names = set()
    for klass in base.__mro__:
        if klass is HandleProxy:
            break
        names.update(vars(klass))
    return names


_KEY_PLAIN = frozenset({str, int, bytes, bool, float, type(None)})


def norm(value):
    """A value as it matters for a call's key: proxies by number, never consumed, hashable."""
    kind = type(value)
    if kind in _KEY_PLAIN:
        return value
    if kind is tuple or kind is list:
        return tuple([norm(item) for item in value])
    if kind is dict:
        return ("<dict>", tuple([(norm(k), norm(v)) for k, v in value.items()]))
    if isinstance(value, HandleProxy):
        return ("<handle>", value._rt_no)
    if kind is slice:
        return ("<slice>", norm(value.start), norm(value.stop), norm(value.step))
    if kind is bytearray or kind is memoryview:
        try:
            return bytes(value)
        except Exception:
            return kind.__name__
    return value  # trace/digest.py's canonical() hashes the rest by value or by type name


def key_args(*args, **kwargs):
    """Every argument matters (handles by number)."""
    if kwargs:
        return norm(args), norm(kwargs)
    return norm(args)


def _unwrap(value):
    return value._rt_real if isinstance(value, HandleProxy) else value


def _unwrap_args(args):
    for item in args:
        if isinstance(item, HandleProxy):
            return tuple([_unwrap(a) for a in args])
    return args


def _unwrap_kwargs(kwargs):
    for item in kwargs.values():
        if isinstance(item, HandleProxy):
            return {k: _unwrap(v) for k, v in kwargs.items()}
    return kwargs


def _is_named(value) -> bool:
    """A class or function the replay can find again by name."""
    if value is NotImplemented or value is Ellipsis:
        return True
    if not isinstance(value, _NAMED_TYPES):
        return False
    try:
        return find_class(value.__module__, value.__qualname__, may_import=False) is value
    except Exception:
        return False


def _named_parts(value):
    if value is NotImplemented:
        return "builtins", "NotImplemented"
    if value is Ellipsis:
        return "builtins", "Ellipsis"
    return value.__module__, value.__qualname__


def _faithful(tree) -> bool:
    """True when a to_wire tree has no Opaque in it."""
    from retrace.trace import format as fmt
    from retrace.trace.cbor import CBORTag

    stack = [tree]
    while stack:
        item = stack.pop()
        kind = type(item)
        if kind is CBORTag:
            if item.tag == fmt.TAG_OPAQUE:
                return False
            stack.append(item.value)
        elif kind is list or kind is tuple:
            stack.extend(item)
        elif kind is dict:
            stack.extend(item.values())
    return True


class Handles:
    """The handle machinery of one engine (one per process)."""

    def __init__(self, engine) -> None:
        self.engine = engine
        self.recording = engine.mode == "record"
        self._classes: dict[tuple, type] = {}     # description -> proxy class
        self._by_type: dict[type, type] = {}      # real type -> proxy class (record)
        self._by_real: dict[int, object] = {}     # id(real) -> weakref to its proxy (record)
        self._by_no: dict[int, object] = {}       # handle number -> weakref to proxy (replay)
        self._type_nos: dict[type, int] = {}      # proxy class -> number, once in the trace
        self._types: dict[int, type] = {}         # number -> proxy class (replay)
        self._next_no = 0
        self._shared: dict = {}                   # replacements made once (functions, stand-ins)
        self._at_the_end: dict | None = None      # handle number -> {name: value} (replay)

    # -- proxy classes ----------------------------------------------------------------------
    def proxy_class(self, desc: tuple) -> type:
        cls = self._classes.get(desc)
        if cls is not None:
            return cls
        module, qualname, mro, methods, attrs, specials = desc
        base = HandleProxy
        for name in mro:
            if name in _MIXINS:
                base = _MIXINS[name]
                break
        defined = _defined_below(base)
        namespace = {
            "__slots__": (), "__module__": module, "__qualname__": qualname, "__doc__": None,
            "_rt_system": self, "_rt_desc": desc, "_rt_name": f"{module}.{qualname}",
            "_rt_mro": frozenset(mro), "_rt_leaves": {}, "_rt_read": set(),
            "_rt_owner": frozenset(_top(n) for n in mro if not n.startswith("builtins.")),
        }
        for name in methods:
            if name not in defined:
                namespace[name] = _method(name)
        for name in attrs:
            if name not in defined:
                namespace[name] = _attribute(name)
        for name in specials:
            if name not in defined:
                namespace[name] = _method(name)
        if "__eq__" in specials and "__hash__" not in specials:
            namespace["__hash__"] = None  # as the real type: unhashable
        cls = type(qualname.rpartition(".")[2], (base,), namespace)
        self._classes[desc] = cls
        return cls

    def _new_proxy(self, cls, real):
        proxy = object.__new__(cls)
        object.__setattr__(proxy, "_rt_real", real)
        object.__setattr__(proxy, "_rt_no", None)
        object.__setattr__(proxy, "_rt_set", None)
        proxy._rt_init()
        return proxy

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
            cls = self._by_type.get(kind)
            if cls is None:
                cls = self._by_type[kind] = self.proxy_class(describe(kind))
        proxy = self._new_proxy(cls, real)

        def forget(dead, key=key, by_real=by_real):
            if by_real.get(key) is dead:
                del by_real[key]

        by_real[key] = _weakref(proxy, forget)
        return proxy

    # -- results: recording ------------------------------------------------------------------
    def wrap(self, value, owner: frozenset):
        """Recording: what the program gets for a real result (objects become proxies).

        ``owner``: the top-level packages whose objects are always handles (the
        library's own: its module, and those of the type whose method this is).
        """
        kind = type(value)
        if kind in SCALARS:
            return value
        if kind is list or kind is tuple:
            if _flat(value):
                return value
            items = [self.wrap(item, owner) for item in value]
            if all(a is b for a, b in zip(items, value)):
                return value
            return items if kind is list else tuple(items)
        if kind is dict:
            items = {k: self.wrap(v, owner) for k, v in value.items()}
            if all(items[k] is v for k, v in value.items()):
                return value
            return items
        cls = self._by_type.get(kind)
        if cls is not None and _top(cls._rt_desc[0]) in owner:
            return self.proxy_for(value, cls)  # a type of the library's own: always a handle
        if isinstance(value, HandleProxy) or _is_named(value):
            return value
        module = getattr(kind, "__module__", None)
        if isinstance(value, BaseException) and _top(module) not in owner:
            return value  # (one of the library's own is an object that is an exception too: a
            #              gRPC call is an RpcError and the iterator of its responses)
        if getattr(kind, "__retrace_value__", False):
            return value
        if _top(module) not in owner:
            if _top(module) in _VALUE_MODULES or _faithful(to_wire(value)):
                return value
        return self.proxy_for(value)

    def encode(self, value):
        """What the trace keeps of a result the program got (``store``)."""
        if type(value) in SCALARS:
            return value
        if not _needs_encoding(value):
            return (_VALUE, value)
        return self._encode(value)

    def _encode(self, value):
        kind = type(value)
        if kind in SCALARS:
            return value
        if kind is list:
            return (_LIST, [self._encode(item) for item in value])
        if kind is tuple:
            return (_TUPLE, [self._encode(item) for item in value])
        if kind is dict:
            return (_DICT, [[k, self._encode(v)] for k, v in value.items()])
        if isinstance(value, HandleProxy):
            return self._announce(value)
        if _is_named(value):
            return (_NAMED, *_named_parts(value))
        return (_VALUE, value)

    def _announce(self, proxy):
        cls = type(proxy)
        tno = self._type_nos.get(cls)
        desc = None
        if tno is None:
            tno = self._type_nos[cls] = len(self._type_nos)
            desc = cls._rt_desc
        if proxy._rt_no is None:
            object.__setattr__(proxy, "_rt_no", self._next_no)
            self._next_no += 1
            return (_NEW, proxy._rt_no, tno, desc)
        return (_SAME, proxy._rt_no, tno, desc)

    # -- results: replaying --------------------------------------------------------------------
    def decode(self, stored):
        """What the program gets on replay for what ``encode`` kept (``load``)."""
        if type(stored) is not tuple:
            return stored
        what = stored[0]
        if what == _VALUE:
            value = stored[1]
            return value.rebuild() if type(value) is Raised else value  # an exception returned
        if what == _NEW or what == _SAME:
            return self._handle(*stored)
        if what == _LIST:
            return [self.decode(item) for item in stored[1]]
        if what == _TUPLE:
            return tuple([self.decode(item) for item in stored[1]])
        if what == _DICT:
            return {k: self.decode(v) for k, v in stored[1]}
        if what == _NAMED:
            return find_class(stored[1], stored[2])
        raise ValueError(f"unknown handle encoding {what!r}")

    def _handle(self, what, no, tno, desc):
        if desc is not None:
            self._types[tno] = self.proxy_class(tuple(desc))
        if what == _SAME:
            ref = self._by_no.get(no)
            proxy = None if ref is None else ref()
            if proxy is not None:
                return proxy
        proxy = self._new_proxy(self._types[tno], None)
        object.__setattr__(proxy, "_rt_no", no)
        by_no = self._by_no

        def forget(dead, no=no, by_no=by_no):
            if by_no.get(no) is dead:
                del by_no[no]

        by_no[no] = _weakref(proxy, forget)
        return proxy

    def store(self, result, args, kwargs):
        return self.encode(result)

    def load(self, stored, args, kwargs):
        return self.decode(stored)

    # -- leaves ------------------------------------------------------------------------------
    def make_leaf(self, cls, name: str, kind: str):
        """The leaf behind ``proxy.name`` (call), its get/set/delete, or a fallback."""
        engine = self.engine
        label = cls._rt_name
        owner = cls._rt_owner
        wrap = self.wrap
        store, load = self.store, self.load
        key = _key_no_args
        after_end = None
        if kind == "call":
            boundary = f"{label}.{name}"

            def call(proxy, *args, **kwargs):
                real = proxy._rt_real
                if real is None:
                    return None  # replay, from retrace's own work: no object, no answer
                if args:
                    args = _unwrap_args(args)
                if kwargs:
                    kwargs = _unwrap_kwargs(kwargs)
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

            store, load = self._store_attr(name, kind), self._load_attr(name, kind)
            after_end = self._value_at_the_end(name)
        elif kind == "set" or kind == "setattr":
            boundary = f"{label}.{name}="

            def call(proxy, *args):
                real = proxy._rt_real
                if real is not None:
                    attr, value = args if kind == "setattr" else (name, args[0])
                    type(proxy)._rt_real_set(real, attr, _unwrap(value))

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

    def _store_attr(self, name, kind):
        encode = self.encode

        def store(result, args, kwargs):
            # The program reads back an object it set: replay hands back that object.
            values = args[0]._rt_set
            if values and type(result) not in SCALARS:
                attr = args[1] if kind == "getattr" else name
                if values.get(attr, _UNSET) is result:
                    return (_SET_VALUE,)
            return encode(result)

        return store

    def _load_attr(self, name, kind):
        decode = self.decode

        def load(stored, args, kwargs):
            if type(stored) is tuple and stored and stored[0] == _SET_VALUE:
                return (args[0]._rt_set or {}).get(args[1] if kind == "getattr" else name)
            return decode(stored)

        return load

    # -- replacements for module attributes --------------------------------------------------
    def function(self, name: str, original, *, owner: str | None = None, key=key_args, depth: int = 1):
        """A module function whose result follows the handle rule (``sqlite3.connect``).

        ``owner``: the package whose objects are always handles (default: ``name``'s).
        """
        cached = self._shared.get(("function", name, id(original)))
        if cached is not None and cached[0] is original:
            return cached[1]
        owner = frozenset({owner or _top(name)})
        wrap = self.wrap
        recording = self.recording

        def call(*args, **kwargs):
            if not recording:
                return None  # replay, from retrace's own work: nothing real to call
            if args:
                args = _unwrap_args(args)
            if kwargs:
                kwargs = _unwrap_kwargs(kwargs)
            return wrap(original(*args, **kwargs), owner)

        call.__name__ = getattr(original, "__name__", name.rpartition(".")[2])
        call.__qualname__ = getattr(original, "__qualname__", call.__name__)
        call.__doc__ = getattr(original, "__doc__", None)
        leaf = self.engine.leaf(name, call, key=key, store=self.store, load=self.load, depth=depth)
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

            make = self.function(construct, build, owner=_top(real_type.__module__), depth=2)
        stand_in = None

        class StandInMeta(real_meta):
            def __instancecheck__(cls, obj):
                if isinstance(obj, HandleProxy):
                    return cls.__dict__.get("_rt_stands_for", _name_of(cls)) in type(obj)._rt_mro
                return cls.__subclasscheck__(type(obj))

            def __subclasscheck__(cls, sub):
                if isinstance(sub, type) and issubclass(sub, HandleProxy):
                    return cls.__dict__.get("_rt_stands_for", _name_of(cls)) in sub._rt_mro
                return type.__subclasscheck__(real_type if cls is stand_in else cls, sub)

            def __call__(cls, *args, **kwargs):
                target = real_type if cls is stand_in else cls  # a program's subclass: itself
                if make is None or state.busy:  # (busy: the real library builds it inside a leaf)
                    return real_meta.__call__(target, *args, **kwargs)
                return make(target, *args, **kwargs)

        StandInMeta.__name__ = StandInMeta.__qualname__ = "StandIn"
        namespace = {"__module__": real_type.__module__, "__qualname__": real_type.__qualname__,
                     "__doc__": real_type.__doc__, "__retrace_real__": real_type,
                     "_rt_stands_for": _name_of(real_type)}
        try:
            stand_in = StandInMeta(real_type.__name__, (real_type,), dict(namespace, __slots__=()))
        except TypeError:  # not an acceptable base type (sqlite3.Blob): a plain class then
            stand_in = StandInMeta(real_type.__name__, (), namespace)
        self._shared[("stand_in", id(real_type))] = (real_type, stand_in)
        return stand_in



def _key_no_args(proxy, *args, **kwargs):
    if kwargs:
        return proxy._rt_no, norm(args), norm(kwargs)
    if args:
        return proxy._rt_no, norm(args)
    return proxy._rt_no


def _flat(items) -> bool:
    """A list/tuple of scalars, or of tuples of scalars (fetched rows): nothing to look at."""
    for item in items:
        kind = type(item)
        if kind not in SCALARS:
            if kind is not tuple:
                return False
            for field in item:
                if type(field) not in SCALARS:
                    return False
    return True


def _needs_encoding(value) -> bool:
    kind = type(value)
    if kind in SCALARS:
        return False
    if kind is list or kind is tuple:
        if _flat(value):
            return False
        for item in value:
            if type(item) not in SCALARS and _needs_encoding(item):
                return True
        return False
    if kind is dict:
        for item in value.values():
            if type(item) not in SCALARS and _needs_encoding(item):
                return True
        return False
    return isinstance(value, HandleProxy) or _is_named(value)


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
        return handles_for(engine).function(name, original, owner=owner or _top(name))

    return make


def handle_class(engine, original, name):
    """A ``Patch.make`` for a class: a stand-in, constructing it is a boundary returning a
    handle, and ``isinstance`` accepts its handles."""
    return handles_for(engine).stand_in(original, construct=name)
