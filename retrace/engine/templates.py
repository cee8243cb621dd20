"""Functions retrace makes per boundary, written once as real functions.

A template is never called as it is. ``instantiate`` gives its code the globals of
one use (the names it reads and this module does not define: ``call``, ``state``,
``append``...), the pseudo-file ``<retrace NAME>`` and first line 1, so its line
numbers are the same in every process and both modes, and tracebacks show no
source line for it. Being real functions, they are compiled once into this
module's ``.pyc`` rather than at every recorded process's start.

Line positions inside each template matter: a recorded exception surfaces on line
4 of every boundary wrapper (keep one-line statements where they are).
"""
# ruff: noqa: F821  (the names come from the globals each use supplies)

from __future__ import annotations

import builtins
from types import FunctionType

RAISE_LINE = 4
NOT_GIVEN = object()  # input()'s "no prompt"


def instantiate(template, scope: dict, filename: str, name: str, qualname: str | None = None):
    """A new function with ``template``'s code, reading its globals from ``scope``."""
    scope.setdefault("__builtins__", builtins)
    code = template.__code__.replace(co_filename=filename, co_name=name, co_qualname=qualname or name,
                                     co_firstlineno=1)
    return FunctionType(code, scope, name, template.__defaults__)


# -- boundary wrappers (engine/wrappers.py) --------------------------------------------
# Recording: a failure of our own bookkeeping after the real call (encoding its result,
# capturing its exception) never reaches the program: ``broken`` stops the recording and
# the program gets what the call gave it. Modules first imported inside the call (its
# import-time calls unrecorded) are noted by ``imported``: replay imports them there too.
# Every few events (``every``: a mask on the count of pending events), a call's way in
# does the recorder's ``upkeep``: the pending events written by this thread if the flusher
# falls behind, a cyclic garbage collection if enough was allocated since the last one
# (engine/garbage.py: replay collects at the same call).

def record_plain(*args, **kwargs):
    if state.busy: return call(*args, **kwargs)
    len(pending) & every or upkeep(); state.busy = True; loaded = len(modules)
    try: result = call(*args, **kwargs) if sched.idle else sched.outside(call, args, kwargs)
    except BaseException as exc:
        del state.busy
        if len(modules) != loaded: imported(loaded)
        try: frame = getframe(depth)
        except ValueError: frame = NO_FRAME  # called straight from C (atexit, a callback)
        try: append((bid, frame.f_code, frame.f_lineno, capture(exc), None))
        except Exception as failure: broken(failure, bid)
        exc.__traceback__.tb_next = None  # as on replay: no frames below the wrapper's
        raise
    del state.busy
    if len(modules) != loaded: imported(loaded)
    try: frame = getframe(depth)
    except ValueError: frame = NO_FRAME
    try: append((bid, frame.f_code, frame.f_lineno, result if type(result) in scalars else encode(result), None))
    except Exception as failure: broken(failure, bid)
    return result


# A quick leaf (Turn.QUICK: a C function that answers at once and calls no Python, a clock read, a
# process fact) needs no "inside a boundary" flag: nothing can run inside it. A signal
# handler that runs between its return and the append is recorded before it, and
# replayed before it too (as between two calls).
def record_quick(*args, **kwargs):
    if state.busy: return call(*args, **kwargs)
    len(pending) & every or upkeep()
    try: result = call(*args, **kwargs)
    except BaseException as exc:
        try: frame = getframe(depth)
        except ValueError: frame = NO_FRAME
        try: append((bid, frame.f_code, frame.f_lineno, capture(exc), None))
        except Exception as failure: broken(failure, bid)
        exc.__traceback__.tb_next = None
        raise
    try: frame = getframe(depth)
    except ValueError: frame = NO_FRAME
    try: append((bid, frame.f_code, frame.f_lineno, result if type(result) in scalars else encode(result), None))
    except Exception as failure: broken(failure, bid)
    return result


def record_keyed(*args, **kwargs):
    if state.busy: return call(*args, **kwargs)
    len(pending) & every or upkeep(); digest = None if key is None else frozen_call_key(key, args, kwargs); state.busy = True; loaded = len(modules)
    try: result = call(*args, **kwargs) if sched.idle else sched.outside(call, args, kwargs); kept = result if store is None else store(result, args, kwargs)
    except BaseException as exc:
        del state.busy
        if len(modules) != loaded: imported(loaded)
        try: frame = getframe(depth)
        except ValueError: frame = NO_FRAME  # called straight from C (atexit, a callback)
        try: append((bid, frame.f_code, frame.f_lineno, capture(exc), digest))
        except Exception as failure: broken(failure, bid)
        exc.__traceback__.tb_next = None  # as on replay: no frames below the wrapper's
        raise
    del state.busy
    if len(modules) != loaded: imported(loaded)
    try: frame = getframe(depth)
    except ValueError: frame = NO_FRAME
    try: append((bid, frame.f_code, frame.f_lineno, kept if type(kept) in scalars else encode(kept), digest))
    except Exception as failure: broken(failure, bid)
    return result


def replay(*args, **kwargs):
    if state.busy: return call(*args, **kwargs)
    value = take(bid, None if key is None else call_digest(key, args, kwargs), args, kwargs, depth)
    if type(value) is Raised: raise value.rebuild()
    return value if load is None else load(value, args, kwargs)


# -- signal handlers (boundaries/signals.py) --------------------------------------------
# One function for the program's handler in both modes (recording installs it as the
# real handler, replay calls it to deliver, and as its tracer): a handler's exception
# passes through line 4 of the same function either way. Line 2 lets a tracer's many
# opcode events through cheaply: only the watched instruction (watch[0]) and the frame
# due for delivery (watch[1]) count.
def signal_handler(*args):
    todo = None if len(args) == 3 and args[1] == "opcode" and args[0].f_lasti != watch[0] and args[0] is not watch[1] else before(*args)
    if type(todo) is not tuple: return todo
    try: todo[0](todo[1], todo[2])
    except BaseException: after(todo, True); raise
    return after(todo, False)


# -- input() (boundaries/terminal.py) ----------------------------------------------------
# builtins.input as Python code, so that its reads go through sys.stdin (a boundary)
# instead of the C readline that bypasses it.
def input(prompt=NOT_GIVEN, /):
    stdin = getattr(sys, "stdin", None)
    stdout = getattr(sys, "stdout", None)
    stderr = getattr(sys, "stderr", None)
    audit("builtins.input", None if prompt is NOT_GIVEN else prompt)
    if stdin is None:
        raise RuntimeError("input(): lost sys.stdin")
    if stdout is None:
        raise RuntimeError("input(): lost sys.stdout")
    if stderr is not None:
        try:
            stderr.flush()
        except Exception:
            pass
    if prompt is not NOT_GIVEN:
        stdout.write(str(prompt))
    try:
        stdout.flush()
    except Exception:
        pass
    line = stdin.readline()
    if isinstance(line, (str, bytes)):
        if not line:
            raise EOFError("EOF when reading a line")
        newline = "\n" if isinstance(line, str) else b"\n"
        return line[:-1] if line[-1:] == newline else line
    raise TypeError("object.readline() returned non-string")
