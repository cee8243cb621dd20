"""What the trace keeps of a handle's results, and what replay makes of it again.

Recording, ``wrap`` decides what the program gets for a real result: objects of the
library's own (and any the trace could not keep whole) become proxies, plain values stay.
``encode`` (a leaf's ``store``) turns that into plain data: a scalar as itself, a value
the trace keeps (trace/values.py) as ``(_VALUE, value)``, a proxy by number (with its
type's description the first time), a class or function by name (``values.named``),
containers of those item by item. ``decode`` (the leaf's ``load``) makes the same result
again on replay. The tuples are ordinary values to trace/values.py: the trace format
knows nothing of handles.
"""

from __future__ import annotations

from _weakref import ref as _weakref

from retrace.engine.handles.proxies import _UNSET, HandleProxy, new_proxy, top
from retrace.trace.values import SCALARS, Raised, faithful, find_class, named

# Modules whose objects are plain values however they are built.
_VALUE_MODULES = frozenset({"datetime", "decimal", "fractions", "uuid", "ipaddress", "pathlib"})

# Encodings of a result (what ``store`` keeps; ``load`` reads it back). A scalar is
# kept as itself; everything else is a tuple whose first item says what it is.
_VALUE, _NEW, _SAME, _NAMED, _LIST, _TUPLE, _DICT = range(7)
_SET_VALUE = 8  # an attribute read that returns the very object the program set


class HandleCodec:
    """The results of one engine's handles: numbers given out (record), proxies made
    again by number (replay)."""

    def __init__(self, handles) -> None:
        self._handles = handles                   # proxy classes and proxies by real object
        self._type_nos: dict[type, int] = {}      # proxy class -> number, once in the trace
        self._types: dict[int, type] = {}         # number -> proxy class (replay)
        self._by_no: dict[int, object] = {}       # handle number -> weakref to proxy (replay)
        self._next_no = 0

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
        cls = self._handles.by_type.get(kind)
        if cls is not None and top(cls._rt_desc[0]) in owner:
            return self._handles.proxy_for(value, cls)  # a type of the library's own: always a handle
        if isinstance(value, HandleProxy) or named(value) is not None:
            return value
        module = getattr(kind, "__module__", None)
        if isinstance(value, BaseException) and top(module) not in owner:
            return value  # (one of the library's own is an object that is an exception too: a
            #              gRPC call is an RpcError and the iterator of its responses)
        if getattr(kind, "__retrace_value__", False):
            return value
        if top(module) not in owner:
            if top(module) in _VALUE_MODULES or faithful(value):
                return value
        return self._handles.proxy_for(value)

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
        parts = named(value)
        if parts is not None:
            return (_NAMED, *parts)
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
            self._types[tno] = self._handles.proxy_class(tuple(desc))
        if what == _SAME:
            ref = self._by_no.get(no)
            proxy = None if ref is None else ref()
            if proxy is not None:
                return proxy
        proxy = new_proxy(self._types[tno], None)
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

    def store_attr(self, name, kind):
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

    def load_attr(self, name, kind):
        decode = self.decode

        def load(stored, args, kwargs):
            if type(stored) is tuple and stored and stored[0] == _SET_VALUE:
                return (args[0]._rt_set or {}).get(args[1] if kind == "getattr" else name)
            return decode(stored)

        return load


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
    return isinstance(value, HandleProxy) or named(value) is not None
