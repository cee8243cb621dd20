"""The code of a boundary wrapper, for both modes, from one place.

A boundary that raises shows one wrapper frame in the program's traceback. For
record and replay to print the *same* traceback, that frame must look the same
in both modes: same file, same line, same function name. So both wrappers are
compiled from the templates below, under the pseudo-file ``<retrace NAME>``
(which has no source lines to show), with their raising statement on line 4.
When recording, the frames below the wrapper (a ``call`` written in Python) are
cut from the traceback, since replay never runs them.
``sys.excepthook`` and replay's runner drop these frames from uncaught tracebacks.
"""

from __future__ import annotations

from retrace.trace.digest import call_digest

RAISE_LINE = 4

# Line 4 of each template is where a recorded exception surfaces.
_RECORD_PLAIN = """\
def leaf(*args, **kwargs):
    if state.busy: return call(*args, **kwargs)
    state.busy = True
    try: result = call(*args, **kwargs) if sched.idle else sched.outside(call, args, kwargs)
    except BaseException as exc:
        del state.busy
        try: frame = getframe(depth)
        except ValueError: frame = NO_FRAME  # called straight from C (atexit, a callback)
        append((bid, frame.f_code, frame.f_lineno, capture(exc), None))
        exc.__traceback__.tb_next = None  # as on replay: no frames below the wrapper's
        raise
    del state.busy
    try: frame = getframe(depth)
    except ValueError: frame = NO_FRAME
    append((bid, frame.f_code, frame.f_lineno, result if type(result) in scalars else encode(result), None))
    if len(pending) > BACKLOG: relieve()
    return result
"""

# A quick leaf (a C function that answers at once and calls no Python: a clock read, a
# process fact) needs no "inside a boundary" flag: nothing can run inside it. A signal
# handler that runs between its return and the append is recorded before it, and
# replayed before it too (as between two calls).
_RECORD_QUICK = """\
def leaf(*args, **kwargs):
    if state.busy: return call(*args, **kwargs)
    # (the call is on line 4, as in every template)
    try: result = call(*args, **kwargs)
    except BaseException as exc:
        try: frame = getframe(depth)
        except ValueError: frame = NO_FRAME
        append((bid, frame.f_code, frame.f_lineno, capture(exc), None))
        exc.__traceback__.tb_next = None
        raise
    try: frame = getframe(depth)
    except ValueError: frame = NO_FRAME
    append((bid, frame.f_code, frame.f_lineno, result if type(result) in scalars else encode(result), None))
    if len(pending) > BACKLOG: relieve()
    return result
"""

_RECORD_KEYED = """\
def leaf(*args, **kwargs):
    if state.busy: return call(*args, **kwargs)
    digest = None if key is None else call_digest(key, args, kwargs); state.busy = True
    try: result = call(*args, **kwargs) if sched.idle else sched.outside(call, args, kwargs); kept = result if store is None else store(result, args, kwargs)
    except BaseException as exc:
        del state.busy
        try: frame = getframe(depth)
        except ValueError: frame = NO_FRAME  # called straight from C (atexit, a callback)
        append((bid, frame.f_code, frame.f_lineno, capture(exc), digest))
        exc.__traceback__.tb_next = None  # as on replay: no frames below the wrapper's
        raise
    del state.busy
    try: frame = getframe(depth)
    except ValueError: frame = NO_FRAME
    append((bid, frame.f_code, frame.f_lineno, kept if type(kept) in scalars else encode(kept), digest))
    if len(pending) > BACKLOG: relieve()
    return result
"""

_REPLAY = """\
def leaf(*args, **kwargs):
    if state.busy: return call(*args, **kwargs)
    value = take(bid, None if key is None else call_digest(key, args, kwargs), args, kwargs, depth)
    if type(value) is Raised: raise value.rebuild()
    return value if load is None else load(value, args, kwargs)
"""

class _NoFrame:
    """Stands for the caller's frame when there is none (a leaf called from C)."""

    f_code = None
    f_lineno = 0


NO_FRAME = _NoFrame()

_COMPILED: dict[str, object] = {}


def build(template_name: str, name: str, call, namespace: dict):
    """Make a wrapper function from a template, closing over ``namespace``."""
    template = {"record_plain": _RECORD_PLAIN, "record_quick": _RECORD_QUICK, "record_keyed": _RECORD_KEYED,
                "replay": _REPLAY}[template_name]
    code = _COMPILED.get(template_name)
    if code is None:
        code = _COMPILED[template_name] = compile(template, "<retrace>", "exec")
    scope = dict(namespace)
    scope.setdefault("NO_FRAME", NO_FRAME)
    scope.setdefault("call_digest", call_digest)  # stable across processes (trace/digest.py)
    exec(code, scope)
    leaf = scope["leaf"]
    func_name = getattr(call, "__name__", None) or name.rpartition(".")[2]
    leaf.__code__ = leaf.__code__.replace(co_filename=f"<retrace {name}>", co_name=func_name,
                                          co_qualname=func_name)
    leaf.__name__ = func_name
    leaf.__qualname__ = getattr(call, "__qualname__", func_name)
    leaf.__doc__ = getattr(call, "__doc__", None)
    leaf.__wrapped__ = call
    return leaf


def is_wrapper_frame(filename: str) -> bool:
    return filename.startswith("<retrace")
