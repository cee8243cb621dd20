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

from typing import Callable, NamedTuple

# NamedTuples rather than dataclasses: these load at interpreter start-up, and
# importing dataclasses (which imports inspect) would cost milliseconds there.


class Patch(NamedTuple):
    module: str
    attr: str
    why: str
    key: Callable | None = None
    make: Callable | None = None  # make(engine, original, name) -> replacement
    optional: bool = False         # absent on some builds/platforms: skip quietly

    @property
    def name(self) -> str:
        return f"{self.module}.{self.attr}"


class OnImport(NamedTuple):
    module: str
    action: Callable  # action(engine, module) -> None
    why: str


class Family(NamedTuple):
    name: str
    patches: tuple = ()
    on_import: tuple = ()
    doc: str = ""

    @property
    def modules(self) -> tuple[str, ...]:
        names = [p.module for p in self.patches] + [a.module for a in self.on_import]
        return tuple(dict.fromkeys(names))
