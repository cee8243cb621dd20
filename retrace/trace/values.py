"""How Python values cross into the trace and back.

``to_wire`` turns a boundary result into a tree that cbor2 encodes natively;
``decode_tag`` (a cbor2 ``tag_hook``) turns it back. Scalars (None, bool, int,
float, str, bytes) pass through untouched so the hot path can skip this module.
Containers are always tagged, because cbor2 freezes everything nested inside a
tag; tagging every container keeps list/tuple/dict faithful at any depth.

Exceptions raised by a boundary are stored as ``Raised`` and re-raised on replay.
A value we cannot rebuild becomes ``Opaque``: replay hands back a placeholder
that shows what it was, rather than silently inventing something.
"""

from __future__ import annotations

import copyreg
import importlib
import sys

from retrace.trace.cbor import CBORTag

from retrace.trace import format as fmt

SCALARS = frozenset({type(None), bool, int, float, str, bytes})

# Exception attributes worth keeping besides args (OSError and friends).
_EXCEPTION_ATTRS = ("errno", "strerror", "filename", "filename2", "winerror", "characters_written",
                    "sqlite_errorcode", "sqlite_errorname",  # (sqlite3.Error, Python 3.11+)
                    "library", "reason", "verify_code", "verify_message")  # (ssl.SSLError and subclasses)


class Opaque:
    """Stands in on replay for a recorded value that could not be stored faithfully."""

    __slots__ = ("type_name", "text")

    def __init__(self, type_name: str, text: str) -> None:
        self.type_name = type_name
        self.text = text

    def __repr__(self) -> str:
        return f"<retrace: unrecordable {self.type_name}: {self.text}>"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Opaque) and (self.type_name, self.text) == (other.type_name, other.text)

    def __hash__(self) -> int:
        return hash((self.type_name, self.text))


class Raised:
    """An exception a boundary raised while recording; ``rebuild`` makes it again."""

    __slots__ = ("module", "qualname", "args", "attrs")

    def __init__(self, module: str, qualname: str, args: tuple, attrs: dict) -> None:
        self.module = module
        self.qualname = qualname
        self.args = args
        self.attrs = attrs

    @classmethod
    def capture(cls, exc: BaseException) -> Raised:
        attrs = {}
        for name in _EXCEPTION_ATTRS:
            try:
                value = getattr(exc, name, None)
            except Exception:  # a property that fails: not worth taking the program down
                continue
            if value is not None:
                attrs[name] = value
        kind = type(exc)
        if kind.__setstate__ is not BaseException.__setstate__:
            # A class that keeps state its own way (psycopg2.Error's read-only pgcode):
            # what it pickles, it can be given back (rebuild).
            try:
                reduced = exc.__reduce__()
                if len(reduced) > 2 and type(reduced[2]) is dict:
                    for name, value in reduced[2].items():
                        if value is not None and type(name) is str:
                            attrs.setdefault(name, value)
            except Exception:
                pass
        return cls(kind.__module__, kind.__qualname__, exc.args, attrs)

    @property
    def type_name(self) -> str:
        return self.qualname if self.module == "builtins" else f"{self.module}.{self.qualname}"

    def rebuild(self) -> BaseException:
        try:
            kind = find_class(self.module, self.qualname)
        except LookupError:
            kind = None
        if not (isinstance(kind, type) and issubclass(kind, BaseException)):
            return RuntimeError(f"{self.type_name}{self.args!r} (recorded exception type unavailable)")
        # The recorded type is the exact subclass (FileNotFoundError...), so its own args
        # rebuild it; errno, filename and friends are then set as they were. (Args of a class
        # whose module was not imported when decoded are made now: the program gets them.)
        args = resolve_deferred(self.args) if _holds_deferred(self.args) else self.args
        try:
            exc = kind(*args)
        except Exception:  # a constructor with another signature: keep type, set args
            try:
                exc = kind.__new__(kind)
                exc.args = tuple(args)
            except Exception:
                return RuntimeError(f"{self.type_name}{self.args!r} (recorded exception cannot be rebuilt)")
        refused = {}
        for name, value in self.attrs.items():
            try:
                if getattr(exc, name, None) != value:
                    setattr(exc, name, value)
            except Exception:
                refused[name] = value
        if refused and kind.__setstate__ is not BaseException.__setstate__:
            try:
                exc.__setstate__(refused)
            except Exception:
                pass
        return exc

    def __repr__(self) -> str:
        return f"raise {self.type_name}{tuple(self.args)!r}"


def find_class(module: str, qualname: str, *, may_import: bool = True):
    """Look up ``module.qualname``; LookupError when it is not importable here.

    With ``may_import=False`` only modules already imported (or built into the
    interpreter, whose import runs no Python code) are searched.
    """
    try:
        obj = sys.modules.get(module)
        if obj is None:
            if not may_import and module not in sys.builtin_module_names:
                raise LookupError(f"{module} is not imported yet")
            obj = importlib.import_module(module)
        for part in qualname.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError) as exc:
        raise LookupError(f"{module}.{qualname}") from exc
    return obj


class Deferred:
    """A recorded object whose class's module was not imported yet when its chunk
    was decoded. Replay decodes chunks ahead of the program; importing a module
    then would run its code (and its boundary calls) out of order. ``resolve``
    rebuilds the object when replay hands the value to the program."""

    __slots__ = ("rebuild", "payload")
    pending = 0  # how many were made: lets replay skip looking for them

    def __init__(self, rebuild, payload) -> None:
        self.rebuild = rebuild
        self.payload = payload
        Deferred.pending += 1

    def resolve(self):
        # The payload may hold Deferreds of its own (a datetime's timezone).
        return self.rebuild(*resolve_deferred(self.payload), may_import=True)


def resolve_deferred(value):
    """``value`` with every Deferred inside it rebuilt (containers walked)."""
    kind = type(value)
    if kind is Deferred:
        return value.resolve()
    if kind is list or kind is tuple or kind is set or kind is frozenset:
        return kind(resolve_deferred(item) for item in value)
    if kind is dict:
        return {resolve_deferred(k): resolve_deferred(v) for k, v in value.items()}
    return value


def _holds_deferred(value) -> bool:
    """Whether a Deferred is inside ``value`` (containers walked); cheap while none was made."""
    if not Deferred.pending:
        return False
    kind = type(value)
    if kind is Deferred:
        return True
    if kind is list or kind is tuple or kind is set or kind is frozenset:
        return any(_holds_deferred(item) for item in value)
    if kind is dict:
        return any(_holds_deferred(item) for item in value.values())
    return False


def _is_structseq(value: object) -> bool:
    kind = type(value)
    return isinstance(value, tuple) and hasattr(kind, "n_sequence_fields")


def to_wire(value):
    """Encode ``value`` (a boundary result) into a tree of CBOR-native types and tags.

    Never raises: what cannot be encoded (a cycle, a hostile ``__reduce__``)
    becomes ``Opaque``, because recording must never take the program down.
    """
    try:
        return _encode(value)
    except Exception:
        return CBORTag(fmt.TAG_OPAQUE, [type_name(type(value)), _short_repr(value)])


def type_name(kind) -> str:
    """"module.Qualname" of a class (what an Opaque says it was, how a handle names its type)."""
    return f"{getattr(kind, '__module__', '?')}.{getattr(kind, '__qualname__', '?')}"


_NAMED_TYPES = (type, type(find_class), type(len))  # classes, functions, built-in functions


def named(value) -> tuple[str, str] | None:
    """``(module, qualname)`` of a class or function that replay finds again by that name
    in a module already imported (or ``NotImplemented``, ``Ellipsis``); None for any other
    value. A handle's result that is one is kept by name (engine/handles/codec.py)."""
    if value is NotImplemented:
        return "builtins", "NotImplemented"
    if value is Ellipsis:
        return "builtins", "Ellipsis"
    if not isinstance(value, _NAMED_TYPES):
        return None
    try:
        if find_class(value.__module__, value.__qualname__, may_import=False) is value:
            return value.__module__, value.__qualname__
    except Exception:
        pass
    return None


def faithful(value) -> bool:
    """Whether ``to_wire`` keeps ``value`` whole, with no ``Opaque`` anywhere inside: replay
    gets back what the program got."""
    stack = [to_wire(value)]
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


def _encode(value):
    kind = type(value)
    if kind in SCALARS:
        return value
    if kind is list:
        return CBORTag(fmt.TAG_LIST, [_encode(item) for item in value])
    if kind is tuple:
        return CBORTag(fmt.TAG_TUPLE, [_encode(item) for item in value])
    if kind is dict:
        flat = []
        for key, item in value.items():
            flat.append(_encode(key))
            flat.append(_encode(item))
        return CBORTag(fmt.TAG_DICT, flat)
    if kind is set or kind is frozenset:
        tag = fmt.TAG_SET if kind is set else fmt.TAG_FROZENSET
        return CBORTag(tag, [_encode(item) for item in value])
    if kind is bytearray:
        return CBORTag(fmt.TAG_BYTEARRAY, bytes(value))
    if isinstance(value, BaseException):
        return raised_to_wire(Raised.capture(value))
    if kind is Raised:
        return raised_to_wire(value)
    if _is_structseq(value):
        _, (seq, extra) = value.__reduce__()
        return CBORTag(
            fmt.TAG_STRUCTSEQ,
            [kind.__module__, kind.__qualname__, _encode(tuple(seq)), _encode(dict(extra))],
        )
    if kind is Opaque:
        return CBORTag(fmt.TAG_OPAQUE, [value.type_name, value.text])
    return _reduced_to_wire(value)


def raised_to_wire(raised: Raised):
    return CBORTag(
        fmt.TAG_RAISED,
        [raised.module, raised.qualname, _safe(tuple(raised.args)), _safe(dict(raised.attrs))],
    )


def _safe(value):
    """to_wire, but an argument we cannot encode becomes its repr (exception args)."""
    try:
        return to_wire(value)
    except Exception:
        return to_wire(Opaque(type(value).__name__, repr(value)))


def _reduced_to_wire(value):
    """Objects that pickle by (class, simple args), like datetime, Decimal, UUID."""
    kind = type(value)
    try:
        reduced = value.__reduce_ex__(2)
        func, args = reduced[0], reduced[1]
        state = reduced[2] if len(reduced) > 2 else None
        if func is copyreg.__newobj__:
            func, args, new = args[0], args[1:], True
        else:
            new = False
        if len(reduced) > 3 and any(r is not None for r in reduced[3:]):
            raise TypeError("not a plain class reduction")
        owner = getattr(func, "__self__", None)
        if isinstance(func, type):
            func = func.__dict__.get("__retrace_real__", func)  # a stand-in class (engine/handles/standins.py)
            module, qualname = func.__module__, func.__qualname__
            found = find_class(module, qualname)
            if found is not func and getattr(found, "__retrace_real__", None) is not func:
                raise TypeError("class not importable by name")
        elif isinstance(owner, type) and not new:
            # A class's own constructor method (zoneinfo.ZoneInfo._unpickle): by name too.
            module, qualname = owner.__module__, f"{owner.__qualname__}.{func.__name__}"
            if find_class(module, qualname) != func:
                raise TypeError("method not importable by name")
        else:
            raise TypeError("not a plain class reduction")
        return CBORTag(fmt.TAG_OBJECT, [module, qualname, new, _encode(tuple(args)), _encode(state)])
    except Exception:
        return CBORTag(fmt.TAG_OPAQUE, [f"{kind.__module__}.{kind.__qualname__}", _short_repr(value)])


def _short_repr(value) -> str:
    try:
        text = repr(value)
    except Exception:
        text = object.__repr__(value)
    return text if len(text) <= 200 else text[:197] + "..."


def _rebuild_object(module, qualname, new, args, state, *, may_import=False):
    """The object again, a Deferred, or an Opaque saying what it was (never raises)."""
    try:
        if not may_import and (module not in sys.modules and module not in sys.builtin_module_names
                               or _holds_deferred((args, state))):  # (a datetime with a zone to come)
            return Deferred(_rebuild_object, (module, qualname, new, args, state))
        try:
            kind = find_class(module, qualname)
        except LookupError:
            if may_import:
                raise
            # A module being imported (a chunk decoded during its import) has no such class
            # yet: made when the program gets the value.
            return Deferred(_rebuild_object, (module, qualname, new, args, state))
        kind = getattr(kind, "__retrace_real__", kind)  # the real class, not a stand-in (engine/handles/standins.py)
        obj = kind.__new__(kind, *args) if new else kind(*args)
        if state is not None:
            if hasattr(obj, "__setstate__"):
                obj.__setstate__(state)
            else:
                # Objects that forbid plain setattr (UUID) still accept object.__setattr__.
                for name, item in state.items():
                    object.__setattr__(obj, name, item)
        return obj
    except Exception:
        return Opaque(f"{module}.{qualname}", _short_repr(args))


def _rebuild_structseq(module, qualname, seq, extra, *, may_import=False):
    try:
        if not may_import and (module not in sys.modules and module not in sys.builtin_module_names
                               or _holds_deferred((seq, extra))):
            return Deferred(_rebuild_structseq, (module, qualname, seq, extra))
        kind = find_class(module, qualname)
        return kind(seq, extra)
    except Exception:
        return Opaque(f"{module}.{qualname}", _short_repr(seq))


def wire_safe(tree):
    """``tree`` with every str that UTF-8 cannot encode (lone surrogates) tagged as bytes.

    The writer's slow path, used only when a chunk fails to encode: file names
    that are not valid UTF-8 reach Python as such strs (``os.fsdecode``).
    """
    kind = type(tree)
    if kind is str:
        try:
            tree.encode("utf-8")
        except UnicodeEncodeError:
            return CBORTag(fmt.TAG_SURROGATE_STR, tree.encode("utf-8", "surrogatepass"))
        return tree
    if kind is list or kind is tuple:
        return [wire_safe(item) for item in tree]
    if kind is dict:
        return {key: wire_safe(item) for key, item in tree.items()}
    if kind is CBORTag:
        return CBORTag(tree.tag, wire_safe(tree.value))
    return tree


def decode_tag(tag, immutable=False):
    """cbor2 tag_hook: rebuild the values ``to_wire`` tagged."""
    number, value = tag.tag, tag.value
    if number == fmt.TAG_LIST:
        return list(value)
    if number == fmt.TAG_TUPLE:
        return tuple(value)
    if number == fmt.TAG_DICT:
        return dict(zip(value[::2], value[1::2]))
    if number == fmt.TAG_SET:
        return set(value)
    if number == fmt.TAG_FROZENSET:
        return frozenset(value)
    if number == fmt.TAG_BYTEARRAY:
        return bytearray(value)
    if number == fmt.TAG_STRUCTSEQ:
        return _rebuild_structseq(*value)
    if number == fmt.TAG_RAISED:
        module, qualname, args, attrs = value
        return Raised(module, qualname, tuple(args), dict(attrs))
    if number == fmt.TAG_OPAQUE:
        return Opaque(*value)
    if number == fmt.TAG_OBJECT:
        return _rebuild_object(*value)
    if number == fmt.TAG_SURROGATE_STR:
        return value.decode("utf-8", "surrogatepass")
    return tag


def open_sealed(payload: bytes, entries: list, unsealer=None):
    """A ``TAG_SEALED`` value (retrace/sealing.py's ``Sealer.seal``: a value with secrets
    blanked inside it, as CBOR bytes) decoded into objects; given an ``unsealer`` (a
    replay with the key), with the originals put back first."""
    from retrace.trace.cbor import dumps, loads

    wire = loads(payload)
    if unsealer is not None:
        wire = unsealer.unseal_tree(wire, entries)
    return loads(dumps(wire), tag_hook=decode_tag)
