"""Where a frame stands while it calls: the one place that knows how an interpreter lays
calls out in bytecode (switch-out spots, engine/preempt.py; signal deliveries,
boundaries/signals.py).

Read from the unspecialised instructions (``co_code``) with ``opcode``'s own tables, so
each interpreter's layout comes from the interpreter: CPython 3.11 calls through
PRECALL then CALL, 3.12 and later through CALL (or CALL_KW, CALL_FUNCTION_EX) alone,
each followed by cache entries.
"""

from __future__ import annotations

import opcode

_CACHE = opcode.opmap["CACHE"]
_PRECALL = opcode.opmap.get("PRECALL", -1)  # (CPython 3.11's; gone in 3.12)
_CALLS = frozenset(number for name, number in opcode.opmap.items()
                   if name.startswith(("CALL", "PRECALL")) and not name.startswith("CALL_INTRINSIC"))


def _past_caches(raw: bytes, index: int) -> int:
    while index < len(raw) and raw[index] == _CACHE:
        index += 2
    return index


def call_instruction(code, lasti: int) -> int:
    """``lasti`` of a frame that is calling, the same whether the interpreter ran the call
    specialised or not: CPython 3.11 runs a call to a builtin (``eval``, ``sorted`` with a
    key) inside a specialised PRECALL, leaving the caller's instruction there, but
    PRECALL then CALL when the code is traced (as replay traces it to find a spot)."""
    raw = code.co_code
    if 0 <= lasti < len(raw) and raw[lasti] == _PRECALL:
        return _past_caches(raw, lasti + 2)
    return lasti


def at_call(code, lasti: int) -> bool:
    """Whether ``lasti`` is a call instruction."""
    raw = code.co_code
    return 0 <= lasti < len(raw) and raw[lasti] in _CALLS


def stopped_at(code, lasti: int) -> tuple[int, bool]:
    """(instruction, runs-after-it) for a frame the interpreter stopped in: one calling
    out stops on PRECALL (3.11), on the call, or on the call's last cache entry (a Python
    callee); all name the call instruction, whose opcode event replay sees, and a
    handler there ran after the call."""
    raw = code.co_code
    if lasti < 0 or lasti >= len(raw):
        return lasti, False
    while lasti > 0 and raw[lasti] == _CACHE:
        lasti -= 2
    lasti = call_instruction(code, lasti)
    return lasti, at_call(code, lasti)
