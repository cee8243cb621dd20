"""``RETRACE=1 RETRACE_RECORDING_PATH=DIR python app.py``: called from retrace-hook.pth.

The .pth line only calls ``activate`` when RETRACE is set and this interpreter is
not already under retrace, so it costs a dictionary lookup otherwise. ``activate``
re-executes the same command line with the recording environment (the hash
seed can only be pinned before the interpreter starts).
"""

import os
import sys

_LAUNCHER_SCRIPTS = ("retrace-python", "retrace-entrypoint")


_activated = False


def recording_requested(env) -> bool:
    """RETRACE=1 (or true, yes, on)."""
    return env.get("RETRACE") in ("1", "true", "yes", "on")


def activate() -> None:
    # A virtualenv's site-packages is processed twice by Python 3.11's site module
    # (once from venv(), once from addsitepackages()), so this .pth line runs twice.
    global _activated
    if _activated:
        return
    _activated = True
    if not recording_requested(os.environ):
        return
    argv = list(getattr(sys, "orig_argv", []))
    if len(argv) > 1 and os.path.basename(argv[1]) in _LAUNCHER_SCRIPTS:
        return  # the launcher sets things up itself
    target = os.environ.get("RETRACE_RECORDING_PATH")
    if not target:
        sys.stderr.write("retrace: warning: RETRACE=1 but RETRACE_RECORDING_PATH is not set; running unrecorded\n")
        return
    try:
        from retrace import pycmdline
        from retrace.errors import RetraceError
        from retrace.launch import (OFF_CONFIG, check_python_options, check_record_target, exec_python, record_env,
                                    sampled_in)

        command = pycmdline.parse(argv[1:])
        if command.kind == "stdin" or "--version" in command.flags or "--help" in command.flags:
            return
        if command.kind == "module" and command.target.partition(".")[0] in ("retrace", "retrace_launcher"):
            return  # `python -m retrace --recording DIR` replays; it is not a program to record
        if command.kind == "script" and os.path.basename(command.target) == "replay_entry.pyc":
            return  # (the launcher's form of the same, for a recorded script: bootstrap/mainentry.py)
        check_python_options(command.flags)
        check_record_target(target)
        recording_on, decision = sampled_in(os.environ)
        if decision:
            sys.stderr.write(f"retrace: {decision}\n")
        if not recording_on:
            os.environ["RETRACE_CONFIG"] = OFF_CONFIG  # (for its children: they follow it)
            return
        exec_python([sys.executable, *argv[1:]], record_env(target, announce=False))
    except (RetraceError, pycmdline.CommandLineError) as error:
        sys.stderr.write(f"retrace: warning: {error}; running unrecorded\n")
    except OSError as error:
        sys.stderr.write(f"retrace: warning: cannot start recording ({error}); running unrecorded\n")
