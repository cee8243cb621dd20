"""Recorded values for people: a short one-line summary, and the value itself when JSON can
carry it unchanged.

Values come from ``retrace.trace.values.decode_tag``: besides plain data they may be
``Raised`` (an exception the boundary raised), ``Opaque`` (what could not be stored),
or ``Deferred`` (an object whose class's module is not imported here). A summary never
imports user code to show a value: only standard-library classes are rebuilt.
"""

from __future__ import annotations

import math
import sys

from retrace.trace.values import Deferred, Opaque, Raised

SUMMARY_WIDTH = 60
_MAX_DEPTH = 100  # deeper than this is not worth walking, for JSON or for a summary


def summarize(value, width: int = SUMMARY_WIDTH) -> str:
    """``repr``-like text of ``value``, at most ``width`` characters."""
    parts: list[str] = []
    _show(value, parts, [width + 1], 0)
    text = "".join(parts)
    if len(text) > width:
        text = text[:width - 3] + "..."
    return text


def _show(value, parts: list[str], budget: list[int], depth: int) -> None:
    """Append ``value``'s text to ``parts``, stopping once ``budget[0]`` characters are spent.

    The budget keeps a megabyte of bytes or a long list from being turned into text
    only to be cut to sixty characters.
    """
    if budget[0] <= 0:
        return
    kind = type(value)
    if kind is Raised:
        _emit(parts, budget, f"raised {value.type_name}(")
        _items(value.args, parts, budget, depth, ")")
        return
    if kind is Deferred:
        _emit(parts, budget, _deferred_text(value))
        return
    if kind is Opaque:
        _emit(parts, budget, f"<unrecordable {value.type_name}: {value.text}>")
        return
    if depth < _MAX_DEPTH:
        if kind is list:
            _emit(parts, budget, "[")
            _items(value, parts, budget, depth, "]")
            return
        if kind is tuple:
            _emit(parts, budget, "(")
            _items(value, parts, budget, depth, ",)" if len(value) == 1 else ")")
            return
        if kind is dict:
            _emit(parts, budget, "{")
            for number, (key, item) in enumerate(value.items()):
                if budget[0] <= 0:
                    return
                if number:
                    _emit(parts, budget, ", ")
                _show(key, parts, budget, depth + 1)
                _emit(parts, budget, ": ")
                _show(item, parts, budget, depth + 1)
            _emit(parts, budget, "}")
            return
    if kind in (str, bytes, bytearray) and len(value) > budget[0]:
        value = value[:budget[0]]  # its repr is still longer than the budget
    try:
        text = repr(value)
    except Exception:
        text = f"<{kind.__name__}>"
    _emit(parts, budget, text)


def _items(values, parts, budget, depth, close: str) -> None:
    for number, item in enumerate(values):
        if budget[0] <= 0:
            return
        if number:
            _emit(parts, budget, ", ")
        _show(item, parts, budget, depth + 1)
    _emit(parts, budget, close)


def _emit(parts: list[str], budget: list[int], text: str) -> None:
    parts.append(text)
    budget[0] -= len(text)


def _deferred_text(value: Deferred) -> str:
    """An object of a class not imported here: rebuilt if the standard library has the
    class (importing it runs no user code), else described by class and arguments."""
    module, qualname = value.payload[0], value.payload[1]
    if module.partition(".")[0] in sys.stdlib_module_names:
        try:
            return repr(value.resolve())
        except Exception:
            pass
    args = value.payload[2] if len(value.payload) == 4 else value.payload[3]  # structseq / object
    return f"{module}.{qualname}{summarize(args, 200)}"


def json_safe(value, depth: int = 0) -> bool:
    """Whether JSON carries ``value`` unchanged (tuples become arrays); bytes, objects,
    non-finite floats and strings UTF-8 cannot encode do not qualify."""
    kind = type(value)
    if value is None or kind is bool or kind is int:
        return True
    if kind is float:
        return math.isfinite(value)
    if kind is str:
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:  # lone surrogates (undecodable file names)
            return False
        return True
    if depth >= _MAX_DEPTH:
        return False
    if kind is list or kind is tuple:
        return all(json_safe(item, depth + 1) for item in value)
    if kind is dict:
        return all(type(key) is str and json_safe(key) and json_safe(item, depth + 1) for key, item in value.items())
    return False
