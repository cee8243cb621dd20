"""The user's boundary declarations: where they are read from, and their copy in a recording.

A C-extension database driver (psycopg2, a vendor's client) talks to its server
in C: retrace sees none of it. Declaring its entry points makes them boundaries
without changing any code (docs/declaring-boundaries.md)::

    [[tool.retrace.boundaries]]          # in pyproject.toml
    module = "fakedriver"
    functions = ["connect"]              # results: data by value, objects as handles
    classes = ["Connection"]             # optional: constructing one is a boundary too

This module reads and writes such files; ``boundaries/declared.py`` turns the
declarations into the ``declared`` family (``families(declarations)``).

Where declarations come from, when recording (both are read, in this order):
1. the TOML file named by the ``RETRACE_BOUNDARIES`` environment variable
   (``[[boundaries]]`` entries, or a pyproject-style ``[[tool.retrace.boundaries]]``);
2. the nearest ``pyproject.toml`` from the main script's directory upwards (for
   ``-m`` and ``-c``: from the working directory), its ``[[tool.retrace.boundaries]]``.

Record and replay must install the same boundaries, so recording copies the valid
declarations into the recording (``DIR/boundaries.toml``) and replay reads that
copy only, never the working tree or the environment.
"""

from __future__ import annotations

import os
import posix

from retrace.engine.state import untraced
from retrace.layout import DECLARED_FILE as RECORDED_FILE  # (DIR/boundaries.toml)
from retrace.messages import warn

ENV_VAR = "RETRACE_BOUNDARIES"
_KEYS = frozenset({"module", "functions", "classes", "why"})


class Declaration:
    __slots__ = ("module", "functions", "classes", "why")

    def __init__(self, module: str, functions=(), classes=(), why: str = "") -> None:
        self.module = module
        self.functions = tuple(functions)
        self.classes = tuple(classes)
        self.why = why

    def __repr__(self) -> str:
        return f"Declaration({self.module!r}, functions={self.functions!r}, classes={self.classes!r})"

    def __eq__(self, other) -> bool:
        return isinstance(other, Declaration) and (self.module, self.functions, self.classes, self.why) == (
            other.module, other.functions, other.classes, other.why)


def _is_dotted_name(value) -> bool:
    return isinstance(value, str) and bool(value) and all(part.isidentifier() for part in value.split("."))


def parse(text: str, source: str, *, pyproject: bool) -> list[Declaration]:
    """The valid declarations in a TOML text; each invalid one is reported and skipped.

    Raises ValueError when the text is not TOML at all.
    """
    import tomllib

    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{source} is not valid TOML: {exc}") from None
    if pyproject or ("boundaries" not in document and "tool" in document):
        table = document.get("tool", {})
        table = table.get("retrace", {}) if isinstance(table, dict) else {}
        where = "tool.retrace.boundaries"
    else:
        table = document
        where = "boundaries"
    entries = table.get("boundaries", []) if isinstance(table, dict) else []
    if not isinstance(entries, list):
        warn(f"{source}: {where} must be an array of tables ([[{where}]]); ignored")
        return []
    found = []
    for number, entry in enumerate(entries):
        label = f"{source}: {where}[{number}]"
        if not isinstance(entry, dict):
            warn(f"{label} is not a table; ignored")
            continue
        unknown = sorted(set(entry) - _KEYS)
        if unknown:
            warn(f"{label}: unknown keys {', '.join(unknown)} (known: module, functions, classes, why)")
        module = entry.get("module")
        if not _is_dotted_name(module):
            warn(f"{label}: 'module' must be a module name like \"psycopg2\"; ignored")
            continue
        lists = {}
        for key in ("functions", "classes"):
            names = entry.get(key, [])
            if not isinstance(names, list) or not all(_is_dotted_name(n) for n in names):
                warn(f"{label}: '{key}' must be a list of names like [\"connect\"]; ignored")
                lists = None
                break
            lists[key] = list(dict.fromkeys(names))
        if lists is None:
            continue
        if not lists["functions"] and not lists["classes"]:
            warn(f"{label}: declares no functions and no classes; ignored")
            continue
        why = entry.get("why", "")
        found.append(Declaration(module, lists["functions"], lists["classes"], why if isinstance(why, str) else ""))
    return found


def render(declarations: list[Declaration], sources: list[str]) -> str:
    """The declarations as the TOML file replay reads (DIR/boundaries.toml)."""
    import json

    def string(value: str) -> str:
        return json.dumps(value, ensure_ascii=False)  # a JSON string is a TOML basic string

    lines = ["# Boundaries declared for this recording, copied from:"]
    lines += [f"#   {source}" for source in sources]
    lines += ["# Replay reads this file (not the working tree, not $RETRACE_BOUNDARIES).", ""]
    for declaration in declarations:
        lines.append("[[boundaries]]")
        lines.append(f"module = {string(declaration.module)}")
        for key in ("functions", "classes"):
            names = getattr(declaration, key)
            if names:
                lines.append(f"{key} = [{', '.join(string(n) for n in names)}]")
        if declaration.why:
            lines.append(f"why = {string(declaration.why)}")
        lines.append("")
    return "\n".join(lines)


# -- where declarations come from ------------------------------------------------------------
def _read(path: str) -> str:
    with untraced():
        with open(path, encoding="utf-8") as handle:
            return handle.read()


def find_pyproject(start: str) -> str | None:
    """The nearest pyproject.toml in ``start`` or a parent directory."""
    directory = os.path.abspath(start)
    while True:
        candidate = os.path.join(directory, "pyproject.toml")
        try:
            posix.stat(candidate)
            return candidate
        except OSError:
            pass
        parent = os.path.dirname(directory)
        if parent == directory:
            return None
        directory = parent


def for_record(recording_dir: str, main: dict, cwd: str) -> list[Declaration]:
    """This recording's declarations, read from the environment's file and the nearest
    pyproject.toml, and copied into the recording for its replay."""
    sources: list[tuple[str, str, bool]] = []
    env_path = os.environ.get(ENV_VAR)
    if env_path:
        sources.append((env_path, f"${ENV_VAR}={env_path}", False))
    start = main.get("code_root") if main.get("kind") in ("script", "directory") else None
    pyproject = find_pyproject(start or cwd)
    if pyproject:
        sources.append((pyproject, pyproject, True))
    declarations: list[Declaration] = []
    parsed: list[str] = []
    for path, label, is_pyproject in sources:
        try:
            text = _read(path)
        except (OSError, UnicodeDecodeError) as exc:
            warn(f"cannot read declared boundaries from {label} ({getattr(exc, 'strerror', None) or exc})")
            continue
        if is_pyproject and "retrace" not in text:
            continue  # no [tool.retrace] here: do not even load the TOML parser
        parsed.append(label)
        try:
            declarations.extend(parse(text, label, pyproject=is_pyproject))
        except ValueError as exc:
            warn(f"{exc}; no boundaries declared there")
    if parsed:  # (replay parses the copy whenever recording parsed something: same imports)
        try:
            with untraced():
                with open(os.path.join(recording_dir, RECORDED_FILE), "w", encoding="utf-8") as handle:
                    handle.write(render(declarations, parsed))
        except OSError as exc:
            warn(f"cannot copy the declared boundaries into the recording ({exc.strerror}); not recorded")
            declarations = []
    return declarations


def for_replay(recording_dir: str) -> list[Declaration]:
    """The recording's copy of the declarations (none if it has no copy)."""
    path = os.path.join(recording_dir, RECORDED_FILE)
    try:
        text = _read(path)
    except FileNotFoundError:
        return []
    except (OSError, UnicodeDecodeError) as exc:
        from retrace.errors import RecordingError

        raise RecordingError(f"cannot read {path}: {exc}") from None
    try:
        declarations = parse(text, path, pyproject=False)
    except ValueError as exc:
        from retrace.errors import RecordingError

        raise RecordingError(str(exc)) from None
    return declarations
