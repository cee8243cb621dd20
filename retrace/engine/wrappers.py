"""The code of a boundary wrapper, for both modes, from one place.

A boundary that raises shows one wrapper frame in the program's traceback. For
record and replay to print the *same* traceback, that frame must look the same
in both modes: same file, same line, same function name. So both wrappers are
made from the templates in templates.py, under the pseudo-file ``<retrace NAME>``
(which has no source lines to show), with their raising statement on line 4.
When recording, the frames below the wrapper (a ``call`` written in Python) are
cut from the traceback, since replay never runs them.
``sys.excepthook`` and replay's runner drop these frames from uncaught tracebacks.
"""

from __future__ import annotations

from retrace.engine import templates
from retrace.trace.digest import call_digest, frozen_call_key

RAISE_LINE = templates.RAISE_LINE

_TEMPLATES = {"record_plain": templates.record_plain, "record_quick": templates.record_quick,
              "record_keyed": templates.record_keyed, "replay": templates.replay}


class _NoFrame:
    """Stands for the caller's frame when there is none (a leaf called from C)."""

    f_code = None
    f_lineno = 0


NO_FRAME = _NoFrame()


def build(template_name: str, name: str, call, namespace: dict):
    """Make a wrapper function from a template, closing over ``namespace``."""
    scope = dict(namespace)
    scope.setdefault("NO_FRAME", NO_FRAME)
    scope.setdefault("call_digest", call_digest)  # stable across processes (trace/digest.py)
    scope.setdefault("frozen_call_key", frozen_call_key)  # recording: hashed by the flusher, sealed first
    func_name = getattr(call, "__name__", None) or name.rpartition(".")[2]
    leaf = templates.instantiate(_TEMPLATES[template_name], scope, f"<retrace {name}>", func_name,
                                 getattr(call, "__qualname__", func_name))
    leaf.__doc__ = getattr(call, "__doc__", None)
    leaf.__wrapped__ = call
    return leaf


def is_wrapper_frame(filename: str) -> bool:
    return filename.startswith("<retrace")
