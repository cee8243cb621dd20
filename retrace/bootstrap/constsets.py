"""A program's constant sets iterate in the replay as they did when recorded.

A set display of constants (``{"a", "b", "c"}``) is a frozenset constant of the code,
and its iteration order is decided neither by the source nor by the hash seed alone:
the compiler builds the set again when one of its strings was already interned, by
anything the process had imported, so two processes compiling the same source may order
it differently; and a module read from its compiled file (``.pyc``) has the order marshal
gives, another again. The program's own sets, ``for x in {...}`` loops and anything made
from them follow it.

So the recording keeps the orders of the code it compiled from source: the main script
(or ``-c`` text) as it starts (watch_main_code), each module compiled from source as it
is compiled (watch_compiled_modules). The replay, which compiles everything from run/,
gives its code those orders (compiled_as_recorded), or marshal's where the recording read
a compiled file (module_code_as_recorded).
"""

from __future__ import annotations

import sys
from types import CodeType


class NotExact(Exception):
    """A constant set that cannot be made to iterate as recorded (in a form marshal carries,
    for mainentry.write_entry)."""


def _filled_as(display: frozenset, written: list | None):
    """A constant that fills a new set exactly as ``display`` does (``BUILD_SET 0;
    LOAD_CONST display; SET_UPDATE``) and survives marshal. The new set copies
    ``display``'s table, or re-inserts its elements in its order into a table sized at
    once; the frozenset itself was built by adding the elements as written. A tuple or a
    dict that adds them in one of those orders usually fills the same table: each is tried
    here and kept if the set it fills iterates alike and has the same size. None found:
    NotExact."""
    recorded = set()
    recorded.update(display)
    candidates = [dict.fromkeys(display), tuple(display)]
    if written is not None:
        candidates[:0] = [tuple(written), tuple(frozenset(written))]
    for candidate in candidates:
        replayed = set()
        replayed.update(candidate)
        if list(replayed) == list(recorded) and sys.getsizeof(replayed) == sys.getsizeof(recorded):
            return candidate
    raise NotExact(f"a set of {len(display)} constants")


def _has_sets(code) -> bool:
    return any(type(constant) is frozenset or (type(constant) is CodeType and _has_sets(constant))
               for constant in code.co_consts)


def _written_orders(tree) -> dict:
    """Each constant set display of the source: its elements, as written."""
    import ast

    orders = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Set) and all(isinstance(element, ast.Constant) for element in node.elts):
            values = [element.value for element in node.elts]
            try:
                orders.setdefault(frozenset(values), values)
            except TypeError:
                pass
    return orders


def set_orders(code) -> list:
    """How each constant set of ``code`` (and of the code it holds, depth first) iterates,
    as positions in its elements sorted by repr. The source and the hash seed do not
    decide it: the compiler builds the set again when one of its strings was interned
    before (by any module the process imported), so the replay's compile of the same
    source may iterate it otherwise (this module's docstring)."""
    orders = []
    for constant in code.co_consts:
        if type(constant) is CodeType:
            orders.extend(set_orders(constant))
        elif type(constant) is frozenset:
            place = {id(element): index for index, element in enumerate(sorted(constant, key=repr))}
            orders.append([place[id(element)] for element in constant])
    return orders


def _as_recorded(constant: frozenset, order: list, written: list | None) -> frozenset:
    """A frozenset of ``constant``'s elements that iterates in the recorded ``order``."""
    elements = sorted(constant, key=repr)
    if sorted(order) != list(range(len(elements))):
        raise NotExact("the recorded set orders are not this script's")
    wanted = [elements[index] for index in order]
    candidates = [constant, frozenset(tuple(constant)), frozenset(wanted), frozenset(tuple(frozenset(wanted)))]
    if written is not None:
        candidates[1:1] = [frozenset(written), frozenset(tuple(frozenset(written)))]
    for candidate in candidates:
        if list(candidate) == wanted:
            return candidate
    raise NotExact(f"a set of {len(constant)} constants in its recorded order")


def _iterated_sets_kept(code, orders: dict, recorded=None, marshalled: bool = True):
    """``code`` with each constant set it iterates in a form that iterates as when
    recorded: ``recorded`` (an iterator over set_orders of the recording's code) says how,
    else the order compiled here is taken for it. A set display's elements are a frozenset
    constant; marshal writes a frozenset's elements sorted, and the one read back may
    iterate otherwise, and so would the program's sets and ``for x in {...}`` loops.
    Iterated directly, a tuple in that order does; made into a new set, see _filled_as
    (``marshalled=False``, code run as it is: the frozenset itself). The instructions are
    the same (spots are offsets). Sets only tested for membership (``x in {...}``) stay.
    NotExact when a set cannot be carried exactly."""
    uses: dict = {}
    import dis

    instructions = list(dis.get_instructions(code))
    for this, following in zip(instructions, instructions[1:]):
        if this.opname == "LOAD_CONST" and type(this.argval) is frozenset:
            uses.setdefault(this.arg, set()).add(following.opname)
    constants = list(code.co_consts)
    for index, constant in enumerate(constants):
        if type(constant) is CodeType:
            constants[index] = _iterated_sets_kept(constant, orders, recorded, marshalled)
            continue
        if type(constant) is not frozenset:
            continue
        if recorded is not None:
            try:
                constant = _as_recorded(constant, next(recorded), orders.get(constant))
            except StopIteration:
                raise NotExact("the recorded set orders are not this script's") from None
        if index not in uses or uses[index] == {"CONTAINS_OP"}:
            continue
        if uses[index] == {"SET_UPDATE"}:
            constants[index] = constant if not marshalled else _filled_as(constant, orders.get(constant))
        elif "CONTAINS_OP" in uses[index] or "SET_UPDATE" in uses[index]:
            if not marshalled:
                constants[index] = constant
            else:
                raise NotExact("a set both iterated and tested")
        else:
            constants[index] = tuple(constant)
    return code.replace(co_consts=tuple(constants))


def compiled_as_recorded(source, filename: str, recorded: list | None, marshalled: bool = True):
    """The script's code, compiled as python compiles it, with its constant sets iterating
    as they did when recorded (``recorded``: the recording's set_orders, None if it has
    none). SyntaxError as compile(); NotExact when that cannot be made exact."""
    code = compile(source, filename, "exec", dont_inherit=True)
    if _has_sets(code):  # (ast and dis cost a replay's start-up 15 ms: only when needed)
        import ast

        code = _iterated_sets_kept(code, _written_orders(ast.parse(source, filename)),
                                   None if recorded is None else iter(recorded), marshalled)
    return code


def watch_main_code(filename: str, keep) -> None:
    """Record side: as the main code (``filename``) starts, ``keep(set_orders(code))`` if
    it has constant sets. A profile function of this thread sees it start, and is removed
    then: nothing is left for the run (an audit hook, which sees it too, would stay for
    the process's life and cost each audited call)."""

    def at_main(frame, event, arg):
        code = frame.f_code
        if event != "call" or code.co_name != "<module>" or code.co_filename != filename:
            return
        sys.setprofile(None)
        try:
            orders = set_orders(code)
            if any(len(order) > 1 for order in orders):
                keep(orders)
        except Exception:  # (retrace's bookkeeping must never hurt the program)
            pass

    sys.setprofile(at_main)


def watch_compiled_modules(keep) -> None:
    """Record side: ``keep(path, set_orders(code))`` for each module compiled from source
    that has constant sets (``SourceLoader.source_to_code``, used only when no valid
    compiled file is read). For the process's life."""
    from importlib._bootstrap_external import SourceLoader

    real = SourceLoader.source_to_code

    def source_to_code(self, data, path, *args, **kwargs):
        code = real(self, data, path, *args, **kwargs)
        try:
            if _has_sets(code):
                keep(path, set_orders(code))
        except Exception:  # (retrace's bookkeeping must never hurt the program)
            pass
        return code

    source_to_code.__doc__ = real.__doc__
    SourceLoader.source_to_code = source_to_code


def module_code_as_recorded(code, recorded: list | None):
    """A module's code compiled here, its sets iterating as when recorded: in ``recorded``'s
    orders if the recording compiled it from source, else as read from a compiled file
    (marshal's). NotExact when a recorded order cannot be made."""
    if not _has_sets(code):
        return code
    if recorded is None:
        import marshal

        return marshal.loads(marshal.dumps(code))
    return _iterated_sets_kept(code, {}, iter(recorded), marshalled=False)
