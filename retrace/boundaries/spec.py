"""How a boundary family declares what it patches (data, not mechanism).

A ``Patch`` names one attribute of one module (``attr`` may be dotted to reach a
class attribute, e.g. ``"Random.seed"``). By default the attribute becomes a
plain leaf named ``"module.attr"``; ``make`` builds a custom replacement from the
engine and the original instead. ``key`` names the arguments that matter for the
replay fingerprint. Every patch says ``why`` it is a boundary.

A ``Leaf`` names a boundary that a ``make`` factory creates under a name of its
own (``"socket.bind"``, the methods of the socket ``make`` builds); a name ending
in ``.*`` stands for the leaves engine/handles/ names at run time after a real
type of that package (``"sqlite3.*"``: ``sqlite3.Cursor.execute``...). Every name
a trace can hold is declared by a ``Patch`` or a ``Leaf`` (tests/test_boundary_names.py).

Each patch and leaf declares its ``turn``: what a call does with the thread's turn
while recording (``Turn`` in engine/__init__.py). The engine reads it when it
builds the wrapper, never per call.

A family may also declare ``on_import`` actions: things to do once when a module
is present (for example reseeding the hidden ``random`` instance).

Declarations are frozen: a family is built once, from the user's declarations
too (``families(declarations)``), and never changed afterwards.
"""

from __future__ import annotations

from retrace.engine import Turn

__all__ = ["Family", "Leaf", "OnImport", "Patch", "Turn", "all_args", "replacing", "turns"]

# Plain classes with __slots__: these load at interpreter start-up, where
# importing dataclasses (inspect) or typing (NamedTuple) costs milliseconds.
_set = object.__setattr__


class _Frozen:
    __slots__ = ()

    def __setattr__(self, name, value):
        raise AttributeError(f"{type(self).__name__} is frozen: declarations are built once")

    def __delattr__(self, name):
        raise AttributeError(f"{type(self).__name__} is frozen: declarations are built once")


class Patch(_Frozen):
    __slots__ = ("module", "attr", "why", "key", "make", "optional", "turn")

    def __init__(self, module: str, attr: str, why: str, key=None, make=None, optional: bool = False,
                 turn: str = Turn.RELEASE):
        _set(self, "module", module)
        _set(self, "attr", attr)          # may be dotted to reach a class attribute: "Random.seed"
        _set(self, "why", why)
        _set(self, "key", key)            # key(*args, **kwargs) -> the arguments that matter
        _set(self, "make", make)          # make(engine, original, name) -> replacement
        _set(self, "optional", optional)  # absent on some builds/platforms: skip quietly
        _set(self, "turn", turn)          # of the leaf named after the patch (Turn)

    @property
    def name(self) -> str:
        return f"{self.module}.{self.attr}"

    def __repr__(self) -> str:
        return f"Patch({self.name})"


class Leaf(_Frozen):
    __slots__ = ("name", "why", "turn")

    def __init__(self, name: str, why: str, turn: str = Turn.RELEASE):
        if name.endswith(".*") and turn != Turn.RELEASE:
            raise ValueError(f"{name}: names made at run time take the default turn")
        _set(self, "name", name)
        _set(self, "why", why)
        _set(self, "turn", turn)

    def __repr__(self) -> str:
        return f"Leaf({self.name})"


class OnImport(_Frozen):
    __slots__ = ("module", "action", "why")

    def __init__(self, module: str, action, why: str):
        _set(self, "module", module)
        _set(self, "action", action)      # action(engine, module) -> None, or a callable that undoes it
        _set(self, "why", why)


class Family(_Frozen):
    __slots__ = ("name", "patches", "on_import", "leaves", "doc")

    def __init__(self, name: str, patches: tuple = (), on_import: tuple = (), leaves: tuple = (),
                 doc: str = ""):
        _set(self, "name", name)
        _set(self, "patches", tuple(patches))
        _set(self, "on_import", tuple(on_import))
        _set(self, "leaves", tuple(leaves))
        _set(self, "doc", doc)

    @property
    def modules(self) -> tuple[str, ...]:
        names = [p.module for p in self.patches] + [a.module for a in self.on_import]
        return tuple(dict.fromkeys(names))

    def declares(self, name: str) -> bool:
        """Whether a boundary named ``name`` is one of this family's."""
        for declared in self.patches:
            if declared.name == name:
                return True
        for declared in self.leaves:
            if declared.name == name or (declared.name[-1] == "*" and name.startswith(declared.name[:-1])):
                return True
        return False


def turns(families) -> dict[str, str]:
    """Each declared boundary name whose turn is not the default, with its turn: what the
    engine reads when it builds a leaf (``engine.turns``)."""
    return {declared.name: declared.turn for family in families
            for declared in family.patches + family.leaves if declared.turn != Turn.RELEASE}


def replacing(function, original):
    """``function``, made to look like the ``original`` it replaces (name, docstring,
    ``__wrapped__``: what ``help()``, ``inspect`` and our own uninstall see)."""
    function.__name__ = getattr(original, "__name__", function.__name__)
    function.__qualname__ = getattr(original, "__qualname__", function.__qualname__)
    function.__doc__ = getattr(original, "__doc__", None)
    function.__wrapped__ = original
    return function


def _freeze(value):
    if type(value) in (list, tuple):
        return tuple(_freeze(item) for item in value)
    if type(value) in (set, frozenset):
        return frozenset(value)
    return value


def all_args(*args, **kwargs):
    """A ``key`` for calls whose every argument matters: the arguments, made hashable."""
    key = _freeze(args)
    if kwargs:
        key = (key, tuple(sorted((name, _freeze(item)) for name, item in kwargs.items())))
    try:
        hash(key)
    except TypeError:
        return type(key).__name__
    return key
