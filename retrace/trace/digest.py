"""The fingerprint of a boundary call's arguments, stable from record to replay.

A family's ``key(*args, **kwargs)`` names the arguments that matter; the event
stores ``key_digest(key)`` and replay compares it. Python's ``hash`` is the cheap
way to digest a key, and record and replay run with the same hash seed, so str
and bytes hash alike in both. But some hashes come from object addresses, which
differ in every process: ``None`` (before Python 3.12), NaN, classes, functions,
and objects without a ``__hash__`` of their own. A key holding one of those is
first turned into a canonical form that hashes by value. Keys of plain scalars
(the common case) take the fast path: one type check per item, then ``hash``.

This is part of the trace format: changing how a key digests makes every older
recording diverge, so it needs a FORMAT_VERSION bump (see format.py).
"""

from __future__ import annotations

MASK = 0xFFFFFFFF

# Types whose hash depends only on the value (and the pinned hash seed).
_PLAIN = frozenset({str, int, bytes, bool})
# Markers are tuples of ints, not strs: their hashes do not depend on the hash seed,
# so keys without strs digest the same in every process (tests/fixtures checks it).
_NONE = (-0x7E7E, 0)
_NAN = (-0x7E7E, 1)
_LIST = (-0x7E7E, 2)
_DICT = (-0x7E7E, 3)
_SET = (-0x7E7E, 4)
_BYTES = (-0x7E7E, 5)
_NAMED = (-0x7E7E, 6)


def call_digest(key, args, kwargs) -> int:
    """The digest of ``key(*args, **kwargs)``; 0 if the key cannot be taken.

    Arguments a key cannot read (a wrong call) must not raise from retrace: the
    real call, or its replay, raises the program's own error right after.
    """
    try:
        return hash(frozen_key(key(*args, **kwargs))) & MASK
    except Exception:
        return 0


def frozen_call_key(key, args, kwargs):
    """What ``call_digest`` hashes, not hashed yet: the recording's flusher thread seals
    secrets in it first (retrace/sealing.py), then hashes it (``digest_of``). It holds no
    mutable object, so a program that changes an argument after the call changes nothing."""
    try:
        return frozen_key(key(*args, **kwargs))
    except Exception:
        return 0  # (hashes to 0, as call_digest says)


def digest_of(frozen) -> int:
    try:
        return hash(frozen) & MASK
    except Exception:
        return 0


def key_digest(key) -> int:
    """A 32-bit digest of ``key`` that is the same in the recording and the replay."""
    return hash(frozen_key(key)) & MASK


def frozen_key(key):
    """``key`` as it is hashed: itself when it is a tuple of plain values, else its
    ``canonical`` form."""
    if type(key) is tuple:
        for item in key:
            kind = type(item)
            if kind not in _PLAIN and (kind is not float or item != item):
                return canonical(key)
        return key
    return canonical(key)


def _name(obj) -> str:
    module = getattr(obj, "__module__", None) or "?"
    qualname = getattr(obj, "__qualname__", None) or getattr(obj, "__name__", None) or type(obj).__name__
    return f"{module}.{qualname}"


def canonical(value):
    """``value`` rebuilt from parts whose hashes do not depend on addresses."""
    kind = type(value)
    if kind in _PLAIN:
        return value
    if value is None:
        return _NONE
    if kind is float:
        return _NAN if value != value else value
    if kind is tuple:
        return tuple([canonical(item) for item in value])
    if kind is list:
        return (_LIST, *[canonical(item) for item in value])
    if kind is dict:
        return (_DICT, frozenset((canonical(k), canonical(v)) for k, v in value.items()))
    if kind is set or kind is frozenset:
        return (_SET, frozenset(canonical(item) for item in value))
    if kind is bytearray or kind is memoryview:
        return (_BYTES, bytes(value))
    if isinstance(value, type) or callable(value) and hasattr(value, "__qualname__"):
        return (_NAMED, _name(value))  # classes, functions, methods: by name
    hasher = kind.__hash__
    if hasher is None or hasher is object.__hash__:
        return (_NAMED, _name(kind))  # hashed by address (or unhashable): the type is all we compare
    if isinstance(value, tuple):  # structseq, namedtuple: their items may hold None
        return (_NAMED, _name(kind), *[canonical(item) for item in value])
    try:
        hash(value)
    except Exception:
        return (_NAMED, _name(kind))
    return value  # a value type with its own hash (Enum, Path, Decimal, datetime...)
