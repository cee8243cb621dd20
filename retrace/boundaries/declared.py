"""Boundaries the user declares in configuration, for libraries retrace does not know.

The declarations themselves are read and copied into the recording by
``retrace/declarations.py``; this family is made from them, once, by
``families(declarations)`` (docs/declaring-boundaries.md).

Each declared function becomes a leaf whose result follows the handle rule of
engine/handles/: a connection comes back as a handle proxy whose methods are
boundaries, and so on down to cursors and rows. A declared class is replaced by a
stand-in: constructing it is a boundary, and ``isinstance`` accepts its handles.
Modules are patched when they are imported, however late.
"""

from __future__ import annotations

from retrace.boundaries.spec import Family, Leaf, OnImport, Patch
from retrace.declarations import Declaration
from retrace.messages import warn


def _make_function(engine, original, name):
    from retrace.engine.handles import handle_function

    # Objects of the declared module's own package always come back as handles.
    return handle_function()(engine, original, name)


def _make_class(engine, original, name):
    from retrace.engine.handles import handle_class

    if not isinstance(original, type):
        warn(f"declared class {name} is not a class; left alone")
        return original
    return handle_class(engine, original, name)


def _check_names(declaration: Declaration):
    def check(engine, module) -> None:
        for attr in declaration.functions + declaration.classes:
            owner = module
            try:
                for part in attr.split("."):
                    owner = getattr(owner, part)
            except AttributeError:
                warn(f"declared boundary {declaration.module}.{attr} does not exist; not recorded")

    return check


def patches_for(declarations: list[Declaration]) -> tuple[tuple, tuple]:
    patches, actions = [], []
    for declaration in declarations:
        why = declaration.why or "declared in configuration"
        for attr in declaration.functions:
            patches.append(Patch(declaration.module, attr, why=why, make=_make_function, optional=True))
        for attr in declaration.classes:
            patches.append(Patch(declaration.module, attr, why=why, make=_make_class, optional=True))
        actions.append(OnImport(declaration.module, _check_names(declaration), why="report names that do not exist"))
    return tuple(patches), tuple(actions)


def family(declarations: list[Declaration]) -> Family:
    """The ``declared`` family of this run: the patches the declarations make, and the
    names of the handles' leaves, below each declared module's package (its objects are
    handles, engine/handles/)."""
    patches, actions = patches_for(declarations)
    packages = dict.fromkeys(declaration.module.partition(".")[0] for declaration in declarations)
    leaves = tuple(Leaf(f"{package}.*", why="the declared package's objects as handles") for package in packages)
    return Family(name="declared", patches=patches, on_import=actions, leaves=leaves, doc=__doc__)
