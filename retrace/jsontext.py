"""JSON text for the recorder's start-up, without the ``json`` module.

``json`` imports ``re`` (and ``re`` imports ``enum``): about 5 ms of every recorded
process's start-up, spent only to read ``RETRACE_CONFIG`` and write a few small
files. These two functions cover exactly that: ``dumps`` writes what
``json.dumps(value, indent=2, sort_keys=True, default=str)`` writes for dicts,
lists, strings, numbers, booleans and None (any other value as its ``str``), and
``loads_flat`` reads a flat object of strings and booleans (what
``launch.config_json`` writes). Readers of the recording use ``json`` itself.
"""

from __future__ import annotations

_ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\b": "\\b", "\f": "\\f"}
_UNESCAPES = {'"': '"', "\\": "\\", "/": "/", "n": "\n", "r": "\r", "t": "\t", "b": "\b", "f": "\f"}


def _string(text: str) -> str:
    if text.isascii() and text.isprintable() and '"' not in text and "\\" not in text:
        return f'"{text}"'  # the common case, without a loop over the characters
    out = []
    for char in text:
        escaped = _ESCAPES.get(char)
        if escaped is not None:
            out.append(escaped)
        elif " " <= char <= "~":
            out.append(char)
        elif ord(char) < 0x10000:  # (a lone surrogate too: an undecodable file name)
            out.append(f"\\u{ord(char):04x}")
        else:
            high, low = divmod(ord(char) - 0x10000, 0x400)
            out.append(f"\\u{0xD800 + high:04x}\\u{0xDC00 + low:04x}")
    return '"' + "".join(out) + '"'


def _dumps(value, indent: str, out: list) -> None:
    kind = type(value)
    if kind is str:
        out.append(_string(value))
    elif value is None or value is True or value is False:
        out.append("null" if value is None else "true" if value else "false")
    elif kind is int or kind is float:
        out.append(repr(value) if value == value and value not in (float("inf"), float("-inf")) else
                   ("NaN" if value != value else "Infinity" if value > 0 else "-Infinity"))
    elif kind is dict or kind is list or kind is tuple:
        items = sorted(value.items(), key=lambda item: str(item[0])) if kind is dict else value
        if not items:
            out.append("{}" if kind is dict else "[]")
            return
        inner = indent + "  "
        out.append("{" if kind is dict else "[")
        for index, item in enumerate(items):
            out.append(("\n" if index == 0 else ",\n") + inner)
            if kind is dict:
                out.append(_string(str(item[0])) + ": ")
                item = item[1]
            _dumps(item, inner, out)
        out.append("\n" + indent + ("}" if kind is dict else "]"))
    else:
        out.append(_string(str(value)))


def dumps(value) -> str:
    out: list = []
    _dumps(value, "", out)
    return "".join(out)


def loads_flat(text: str) -> dict:
    """A flat JSON object of strings and booleans; ValueError if it is anything else."""
    try:
        return _loads_flat(text.strip())
    except (KeyError, IndexError) as exc:
        raise ValueError(f"malformed JSON object ({exc})") from None


def _loads_flat(text: str) -> dict:
    if not (text.startswith("{") and text.endswith("}")):
        raise ValueError("not a JSON object")
    result: dict = {}
    pos, end = 1, len(text) - 1

    def skip(pos: int) -> int:
        while pos < end and text[pos] in " \t\r\n":
            pos += 1
        return pos

    def string(pos: int) -> tuple[str, int]:
        if text[pos] != '"':
            raise ValueError(f"expected a string at {pos}")
        out, pos = [], pos + 1
        while True:
            if pos >= end:
                raise ValueError("unterminated string")
            char = text[pos]
            if char == '"':
                return "".join(out), pos + 1
            if char == "\\":
                code = text[pos + 1]
                if code == "u":
                    out.append(chr(int(text[pos + 2:pos + 6], 16)))
                    pos += 6
                    continue
                out.append(_UNESCAPES[code])
                pos += 2
                continue
            out.append(char)
            pos += 1

    pos = skip(pos)
    while pos < end:
        key, pos = string(skip(pos))
        pos = skip(pos)
        if text[pos] != ":":
            raise ValueError(f"expected ':' at {pos}")
        pos = skip(pos + 1)
        if text.startswith("true", pos) or text.startswith("false", pos):
            value = text.startswith("true", pos)
            pos += 4 if value else 5
        else:
            value, pos = string(pos)
        if type(value) is str:  # (\u escapes of a pair of surrogates: one character)
            value = value.encode("utf-16", "surrogatepass").decode("utf-16", "surrogatepass")
        result[key] = value
        pos = skip(pos)
        if pos < end:
            if text[pos] != ",":
                raise ValueError(f"expected ',' at {pos}")
            pos = skip(pos + 1)
    return result
