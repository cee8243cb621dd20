"""retrace-python start-up hook: put on PYTHONPATH by the launcher.

Inert unless RETRACE_CONFIG is set. Never breaks the interpreter: if retrace
cannot start, the program runs unrecorded with a one-line warning. Afterwards it
runs the next ``sitecustomize`` on sys.path, if the environment had one.
"""

import os
import sys


def _start_retrace():
    if not os.environ.get("RETRACE_CONFIG"):
        return
    try:
        from retrace.bootstrap.startup import start
    except Exception as exc:  # a broken install must not take the program down
        sys.stderr.write(f"retrace: warning: cannot start ({exc}); running unrecorded\n")
        return
    start()


def _chain_next_sitecustomize():
    here = os.path.dirname(os.path.abspath(__file__))
    later = [p for p in sys.path if os.path.abspath(p or ".") != here]
    from importlib.machinery import PathFinder

    spec = PathFinder.find_spec("sitecustomize", later)
    if spec is None or spec.loader is None:
        return
    from importlib.util import module_from_spec

    module = module_from_spec(spec)
    sys.modules["_retrace_chained_sitecustomize"] = module
    spec.loader.exec_module(module)


_start_retrace()
_chain_next_sitecustomize()
