"""How a boundary family declares what it patches (data, not mechanism).

A ``Patch`` names one attribute of one module (``attr`` may be dotted to reach a
class attribute, e.g. ``"Random.seed"``). By default the attribute becomes a
plain leaf named ``"module.attr"``; ``make`` builds a custom replacement from the
engine and the original instead. ``key`` names the arguments that matter for the
replay fingerprint. Every patch says ``why`` it is a boundary.

A family may also declare ``on_import`` actions: things to do once when a module
is present (for example reseeding the hidden ``random`` instance).
"""

from __future__ import annotations

# Plain classes with __slots__: these load at interpreter start-up, where
# importing dataclasses (inspect) or typing (NamedTuple) costs milliseconds.


class Patch:
    __slots__ = ("module", "attr", "why", "key", "make", "optional", "quick")

    def __init__(self, module: str, attr: str, why: str, key=None, make=None, optional: bool = False,
                 quick: bool = False):
        self.module = module
        self.attr = attr          # may be dotted to reach a class attribute: "Random.seed"
        self.why = why
        self.key = key            # key(*args, **kwargs) -> the arguments that matter
        self.make = make          # make(engine, original, name) -> replacement
        self.optional = optional  # absent on some builds/platforms: skip quietly
        # Answers at once, never blocks (a clock read): in a threaded program the caller
        # keeps its turn instead of handing it around (engine/scheduler.py).
        self.quick = quick

    @property
    def name(self) -> str:
        return f"{self.module}.{self.attr}"

    def __repr__(self) -> str:
        return f"Patch({self.name})"


class OnImport:
    __slots__ = ("module", "action", "why")

    def __init__(self, module: str, action, why: str):
        self.module = module
        self.action = action      # action(engine, module) -> None, or a callable that undoes it
        self.why = why


class Family:
    __slots__ = ("name", "patches", "on_import", "doc")

    def __init__(self, name: str, patches: tuple = (), on_import: tuple = (), doc: str = ""):
        self.name = name
        self.patches = tuple(patches)
        self.on_import = tuple(on_import)
        self.doc = doc

    @property
    def modules(self) -> tuple[str, ...]:
        names = [p.module for p in self.patches] + [a.module for a in self.on_import]
        return tuple(dict.fromkeys(names))


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
