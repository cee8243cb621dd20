"""Handle proxies: the class a handle's proxy is an instance of, made from a description.

``describe`` turns a real type into plain data (its module, name, MRO, methods, data
attributes, special methods); ``proxy_class`` builds the same class from it in record and
replay. Each method and data attribute of that class reaches its leaf through
``HandleProxy._rt_leaf`` (the machinery in handles/__init__.py makes the leaves). Also here:
how a call's arguments matter for its key (``norm``, ``key_args``) and how proxies among
them reach the real call (``unwrap_args``).
"""

from __future__ import annotations

import types

from retrace.trace.values import type_name

_UNSET = object()  # "not set through the proxy": see ConnectionProxy in boundaries/sqlite.py

# Special methods a proxy class defines when (and only when) the real type does.
SPECIALS = frozenset({
    "__iter__", "__next__", "__reversed__", "__enter__", "__exit__", "__len__", "__length_hint__",
    "__getitem__", "__setitem__", "__delitem__", "__contains__", "__call__", "__bool__",
    "__str__", "__repr__", "__bytes__", "__fspath__", "__int__", "__float__", "__index__",
    "__eq__", "__ne__", "__hash__", "__lt__", "__le__", "__gt__", "__ge__",
})
_METHOD_TYPES = (types.FunctionType, types.BuiltinFunctionType, types.MethodDescriptorType,
                 types.WrapperDescriptorType, types.ClassMethodDescriptorType, classmethod,
                 staticmethod)


def top(module) -> str:
    """The top-level package of a module name ("" for none)."""
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
    return (kind.__module__, kind.__qualname__, tuple(type_name(k) for k in kind.__mro__),
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


# -- mixins and proxy classes ----------------------------------------------------------
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


def proxy_class(system, desc: tuple) -> type:
    """The proxy class of the type ``desc`` describes, its leaves made by ``system``."""
    module, qualname, mro, methods, attrs, specials = desc
    base = HandleProxy
    for name in mro:
        if name in _MIXINS:
            base = _MIXINS[name]
            break
    defined = _defined_below(base)
    namespace = {
        "__slots__": (), "__module__": module, "__qualname__": qualname, "__doc__": None,
        "_rt_system": system, "_rt_desc": desc, "_rt_name": f"{module}.{qualname}",
        "_rt_mro": frozenset(mro), "_rt_leaves": {}, "_rt_read": set(),
        "_rt_owner": frozenset(top(n) for n in mro if not n.startswith("builtins.")),
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
    return type(qualname.rpartition(".")[2], (base,), namespace)


def new_proxy(cls, real):
    """A new proxy of class ``cls`` for ``real`` (None on replay)."""
    proxy = object.__new__(cls)
    object.__setattr__(proxy, "_rt_real", real)
    object.__setattr__(proxy, "_rt_no", None)
    object.__setattr__(proxy, "_rt_set", None)
    proxy._rt_init()
    return proxy


# -- the arguments that matter ------------------------------------------------------------
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


def unwrap(value):
    return value._rt_real if isinstance(value, HandleProxy) else value


def unwrap_args(args):
    for item in args:
        if isinstance(item, HandleProxy):
            return tuple([unwrap(a) for a in args])
    return args


def unwrap_kwargs(kwargs):
    for item in kwargs.values():
        if isinstance(item, HandleProxy):
            return {k: unwrap(v) for k, v in kwargs.items()}
    return kwargs


def key_no_args(proxy, *args, **kwargs):
    """The key of a proxy's method call: the handle's number and every argument."""
    if kwargs:
        return proxy._rt_no, norm(args), norm(kwargs)
    if args:
        return proxy._rt_no, norm(args)
    return proxy._rt_no
