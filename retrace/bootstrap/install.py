"""Install and uninstall boundary patches: the only place that monkeypatches.

Modules already imported are patched at once; the others when first imported
(an import hook patches them right after they execute, before the importer sees
them). Afterwards the already-imported modules are swept for aliases bound before
patching (``from time import time``, ``random._urandom``) so they use the
replacement too. Every change is remembered so ``uninstall`` restores it exactly,
and a second ``install`` does nothing.
"""

from __future__ import annotations

import gc
import sys
import types
from _functools import partial as _partial

from retrace.boundaries.spec import Family, Patch, turns

# Modules whose aliases the sweep must leave alone, and why.
SWEEP_EXCLUDED = frozenset({
    "retrace",            # our own machinery keeps the originals
    "retrace_launcher",   # (same)
    "sitecustomize",      # our start-up hook
    "importlib",          # imports are not boundaries
    "_frozen_importlib",  # (same)
    "_frozen_importlib_external",  # (same)
    "zipimport",          # (same)
    "threading",          # thread plumbing timing belongs to the threads family (#4)
    "queue",              # (same)
    "_threading_local",   # (same)
    "cbor2",              # our trace encoder
    "typing",             # no boundary aliases, large dicts: skip for start-up speed
})


_FunctionType = types.FunctionType


def _sweep_excluded(modname: str) -> bool:
    """True for the excluded packages and their submodules (not for look-alike names)."""
    return modname.partition(".")[0] in SWEEP_EXCLUDED


def _resolve_owner(module, attr: str):
    owner = module
    *path, last = attr.split(".")
    for part in path:
        owner = getattr(owner, part)
    return owner, last


_IMMUTABLE_TYPE = 1 << 8  # Py_TPFLAGS_IMMUTABLETYPE
_ABSTRACT_METHODS = type.__dict__["__abstractmethods__"]


def _set_attribute(owner, attr: str, value) -> None:
    """``setattr``, also on a C type that refuses it (``datetime.datetime``).

    Such a type is patched in place, never replaced by a subclass: C extensions subclass
    and type-check the stdlib's classes. Its namespace is still a dict (the one its
    ``__dict__`` proxy shows); after writing there the interpreter must be told the type
    changed, or its method caches and specialised bytecode keep the old attribute.
    Setting ``__abstractmethods__`` through its descriptor is the way Python itself marks
    a type changed (as ``abc`` does), without ctypes.
    """
    if not (isinstance(owner, type) and owner.__flags__ & _IMMUTABLE_TYPE):
        setattr(owner, attr, value)
        return
    (namespace,) = gc.get_referents(owner.__dict__)
    if type(namespace) is not dict:
        raise TypeError(f"cannot patch {owner.__qualname__}.{attr}: its namespace is not a dict")
    namespace[attr] = value
    abstract = namespace.get("__abstractmethods__")
    _ABSTRACT_METHODS.__set__(owner, frozenset() if abstract is None else abstract)
    if abstract is None:
        _ABSTRACT_METHODS.__delete__(owner)


class _PatchingLoader:
    """Wraps a loader so the module is patched as soon as it has executed."""

    def __init__(self, loader, on_loaded) -> None:
        self._loader = loader
        self._on_loaded = on_loaded

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module) -> None:
        self._loader.exec_module(module)
        module.__loader__ = self._loader
        if module.__spec__ is not None:
            module.__spec__.loader = self._loader
        self._on_loaded(module)

    def __getattr__(self, name):
        return getattr(self._loader, name)


class _ImportHook:
    """A meta-path finder that only recognises the modules we must patch."""

    def __init__(self, installer: "Installer") -> None:
        self._installer = installer
        self._finding: set[str] = set()

    def find_spec(self, fullname, path=None, target=None):
        installer = self._installer
        if fullname not in installer.pending or fullname in self._finding:
            return None
        self._finding.add(fullname)
        try:
            for finder in sys.meta_path:
                if finder is self or not hasattr(finder, "find_spec"):
                    continue
                spec = finder.find_spec(fullname, path, target)
                if spec is not None:
                    if spec.loader is not None:
                        spec.loader = _PatchingLoader(spec.loader, installer.patch_module)
                    return spec
            return None
        finally:
            self._finding.discard(fullname)

    def invalidate_caches(self) -> None:
        pass


class Installer:
    def __init__(self, engine, families: list[Family]) -> None:
        self.engine = engine
        self.families = families
        engine.turns = turns(families)  # each leaf's declared turn, read as the engine builds it
        self.patches: dict[str, list[Patch]] = {}
        self.actions: dict[str, list] = {}
        for family in families:
            for patch in family.patches:
                self.patches.setdefault(patch.module, []).append(patch)
            for action in family.on_import:
                self.actions.setdefault(action.module, []).append(action)
        self.pending: set[str] = set(self.patches) | set(self.actions)
        self.applied: list[tuple[object, str, object, object]] = []
        self.replacements: dict[int, tuple[object, object]] = {}
        self.alias_changes: list[tuple[object, str, object]] = []
        self.default_changes: list[tuple[object, str, object]] = []
        self.action_undos: list = []
        self._unbound: dict[int, object] = {}
        self._unbound_keep: list = []  # keeps the ids in _unbound valid
        self._hook = _ImportHook(self)
        self.installed = False

    def install(self) -> None:
        if self.installed:
            return
        self.installed = True
        # The hook goes in first: patching may import (a family's action, a value
        # decoded on replay), and a module imported then must be patched too.
        sys.meta_path.insert(0, self._hook)
        for name in sorted(self.pending):  # sorted: the same order in record and replay
            module = sys.modules.get(name)
            if module is not None:
                self.patch_module(module)
        self.sweep_aliases()

    def patch_module(self, module) -> None:
        name = module.__name__
        if name not in self.pending:
            return
        self.pending.discard(name)
        engine = self.engine
        for patch in self.patches.get(name, ()):
            try:
                owner, attr = _resolve_owner(module, patch.attr)
                original = getattr(owner, attr)
            except AttributeError:
                if patch.optional:
                    continue
                raise
            if original is None and patch.optional:
                continue  # a module-level stand-in for a missing C function (uuid._generate_time_safe)
            if patch.make is not None:
                replacement = patch.make(engine, original, patch.name)
            else:
                replacement = engine.leaf(patch.name, original, key=patch.key)
            if type(original) is types.BuiltinFunctionType and type(replacement) is types.FunctionType:
                replacement = self._not_a_method(replacement)
            # What uninstall puts back: a class's own entry (a classmethod stays one), else
            # the attribute as read.
            restore = owner.__dict__.get(attr, original) if isinstance(owner, type) else original
            _set_attribute(owner, attr, replacement)
            self.applied.append((owner, attr, restore, replacement))
            self.replacements[id(original)] = (original, replacement)
        for action in self.actions.get(name, ()):
            undo = action.action(engine, module)
            if callable(undo):  # an action may return how to take it back
                self.action_undos.append(undo)

    def _not_a_method(self, function):
        """``function`` as a callable that, like the builtin it replaces, is not turned into
        a bound method when a class keeps it as an attribute (``logging.Formatter.converter
        = time.localtime``, ``selectors.SelectSelector._select = select.select``): a Python
        function there would receive the instance as its first argument. One wrapper per
        replacement (``builtins.open`` and ``io.open`` share theirs)."""
        wrapper = self._unbound.get(id(function))
        if wrapper is None:
            wrapper = _partial(function)
            wrapper.__wrapped__ = getattr(function, "__wrapped__", function)
            for attr in ("__name__", "__qualname__", "__doc__", "__module__"):
                value = getattr(function, attr, None)
                if value is not None:
                    setattr(wrapper, attr, value)
            self._unbound[id(function)] = wrapper
            self._unbound_keep.append(function)
        return wrapper

    def sweep_aliases(self) -> None:
        """Point names bound to an original (before we patched) at its replacement.

        Three hiding places: module globals (``from os import urandom as _urandom``),
        class attributes of classes defined there (``_selector_cls = select.epoll``)
        and default arguments (``def _internal_poll(self, _waitpid=os.waitpid)``).
        """
        patched = {(id(owner), attr) for owner, attr, *_ in self.applied}
        for modname, module in list(sys.modules.items()):
            if module is None or _sweep_excluded(modname):
                continue
            self._sweep_module(modname, module, patched)

    def _sweep_module(self, modname: str, module, patched) -> None:
        spec = getattr(module, "__spec__", None)
        origin = getattr(spec, "origin", None)
        if origin == "built-in" or (origin or "").endswith(".so"):
            return  # C modules hold no Python-level aliases
        namespace = getattr(module, "__dict__", None)
        if namespace is None:
            return
        # A patched module is swept too (random._urandom is an alias inside the
        # patched random module); only the attributes we patched are left alone.
        self._sweep_namespace(module, namespace, patched)
        sweep_defaults = self._sweep_defaults
        for value in list(namespace.values()):
            kind = type(value)
            if kind is _FunctionType:  # (the type checks inline: thousands of values, at start-up)
                if value.__defaults__ or value.__kwdefaults__:
                    sweep_defaults(value)
            elif isinstance(value, type) and getattr(value, "__module__", None) == modname:
                self._sweep_namespace(value, value.__dict__, patched)
                for member in list(value.__dict__.values()):
                    if type(member) is classmethod or type(member) is staticmethod:
                        member = member.__func__  # (no getattr: a lazy attribute, six.moves', imports)
                    if type(member) is _FunctionType and (member.__defaults__ or member.__kwdefaults__):
                        sweep_defaults(member)

    def _sweep_namespace(self, owner, namespace, patched) -> None:
        replacements = self.replacements
        for attr, value in list(namespace.items()):
            entry = replacements.get(id(value))
            if entry is not None and entry[0] is value and (id(owner), attr) not in patched:
                setattr(owner, attr, entry[1])
                self.alias_changes.append((owner, attr, value))

    def _sweep_defaults(self, function) -> None:
        if not isinstance(function, types.FunctionType):
            return
        replacements = self.replacements
        defaults = function.__defaults__
        if defaults and any(id(d) in replacements and replacements[id(d)][0] is d for d in defaults):
            function.__defaults__ = tuple(
                replacements[id(d)][1] if id(d) in replacements and replacements[id(d)][0] is d else d
                for d in defaults
            )
            self.default_changes.append((function, "__defaults__", defaults))
        kwdefaults = function.__kwdefaults__
        if kwdefaults and any(id(d) in replacements and replacements[id(d)][0] is d for d in kwdefaults.values()):
            function.__kwdefaults__ = {
                k: replacements[id(d)][1] if id(d) in replacements and replacements[id(d)][0] is d else d
                for k, d in kwdefaults.items()
            }
            self.default_changes.append((function, "__kwdefaults__", kwdefaults))

    def uninstall(self) -> None:
        if not self.installed:
            return
        try:
            sys.meta_path.remove(self._hook)
        except ValueError:
            pass
        for undo in reversed(self.action_undos):
            undo()
        self.action_undos.clear()
        for function, attr, original in reversed(self.default_changes):
            setattr(function, attr, original)
        for owner, attr, original in reversed(self.alias_changes):
            setattr(owner, attr, original)
        for owner, attr, original, _ in reversed(self.applied):
            _set_attribute(owner, attr, original)
        self.alias_changes.clear()
        self.default_changes.clear()
        self.applied.clear()
        self.installed = False
