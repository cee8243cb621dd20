"""What a recording says about its process: settings.json (a forked child's process.json).

At the start: the command the interpreter is about to run, with the argv and
sys.path the program will see (``describe_main``), and the interpreter, machine and
environment it runs in (``initial_settings``). At the end: the distributions the
program imported and the resources it used (``inspect`` shows them).
"""

from __future__ import annotations

import os
import posix
import resource
import sys
import time

import retrace
from retrace import pycmdline
from retrace.recording import SETTINGS_VERSION
from retrace.trace import format as fmt


def our_site_dirs() -> list[str]:
    """sys.path entries that hold our start-up hook (the launcher's PYTHONPATH entry).

    Plain ``python`` has no such entry, so the program must not see it either;
    children still find the hook through the inherited PYTHONPATH.
    """
    hook = sys.modules.get("sitecustomize")
    path = getattr(hook, "__file__", None)
    if not path or not hasattr(hook, "_start_retrace"):
        return []
    here = os.path.dirname(os.path.abspath(path))
    return [entry for entry in sys.path if entry and os.path.abspath(entry) == here]


def describe_main(orig_argv: list[str]) -> dict:
    """What the interpreter is about to run, and the argv/sys.path it will show."""
    cmd = pycmdline.parse(orig_argv[1:])
    safe_path = bool(cmd.flags & {"P", "I"})
    main = {"kind": cmd.kind, "target": cmd.target, "options": cmd.options}
    if cmd.kind == "script":
        main["argv"] = [cmd.target, *cmd.args]
        # python's absolute form: joined to the cwd, not normalised (`./app.py` stays so
        # in __file__ and in tracebacks).
        given = cmd.target if os.path.isabs(cmd.target) else os.path.join(os.getcwd(), cmd.target)
        if os.path.isdir(cmd.target):  # python runs DIR/__main__.py as module __main__
            main["kind"] = "directory"
            path0 = given
            main["code_root"] = os.path.realpath(cmd.target)
        else:
            main["file"] = given
            path0 = os.path.dirname(os.path.realpath(cmd.target))
            main["code_root"] = path0
    elif cmd.kind == "module":
        main["argv"] = ["-m", *cmd.args]  # runpy puts the module's file in argv[0]
        path0 = os.getcwd()
    elif cmd.kind == "command":
        main["argv"] = ["-c", *cmd.args]
        path0 = ""
    else:
        main["argv"] = ["-", *cmd.args] if cmd.args else [""]
        path0 = ""
    ours = our_site_dirs()
    main["sys_path"] = ([] if safe_path else [path0]) + [p for p in sys.path if p not in ours]
    return main


def initial_settings(main: dict, secrets) -> dict:
    """The root's settings.json (an exec child's process.json) as the recording starts;
    ``secrets`` (bootstrap/secrets.py) seals the environment and the command line."""
    env = secrets.environment(dict(os.environ))
    main, orig_argv = secrets.command_line(main, list(sys.orig_argv))
    return {
        "settings_version": SETTINGS_VERSION,
        "format": fmt.FORMAT_VERSION,
        "tool": retrace.__version__,
        "python": {
            "version": sys.version,
            "version_info": list(sys.version_info[:3]),
            "implementation": sys.implementation.name,
            "executable": sys.executable,
        },
        "platform": sys.platform,
        "hostname": posix.uname().nodename,
        "orig_argv": orig_argv,
        "main": main,
        "cwd": os.getcwd(),
        "env": env,
        "hash_seed": os.environ.get("PYTHONHASHSEED"),
        # What a replay under a debugger must not have imported early (bootstrap/debugging.py).
        "modules_at_start": list(sys.modules),
        "user_site": _user_site(),
        "start_time": time.time(),
        "pid": posix.getpid(),
        "ppid": posix.getppid(),
        "distributions": {},
    }


def _user_site() -> list | None:
    """What ``site`` worked out at start-up of the user's site-packages (from HOME, or
    the user database): on replay the program sees these, not the replaying user's."""
    module = sys.modules.get("site")  # (python -S: not imported, and not ours to import)
    if module is None:
        return None
    return [module.ENABLE_USER_SITE, module.USER_BASE, module.USER_SITE]


def _normalize(name: str) -> str:
    return name.lower().replace("-", "_").replace(".", "_")


def imported_distributions() -> dict[str, str]:
    """Versions of the distributions the program imported, cheaply.

    For each imported top-level module that lives in a site-packages directory,
    the ``NAME-VERSION.dist-info`` folder beside it names its version (one
    directory listing per site-packages, no metadata files read); a module's own
    ``__version__`` fills in where names differ (``yaml`` from PyYAML).
    """
    found: dict[str, str] = {}
    listings: dict[str, dict[str, tuple[str, str]]] = {}
    for name, module in list(sys.modules.items()):
        if "." in name or module is None:
            continue
        path = getattr(module, "__file__", None) or ""
        if "-packages" + os.sep not in path:
            continue
        root = path[: path.index("-packages" + os.sep) + len("-packages")]
        dists = listings.get(root)
        if dists is None:
            dists = listings[root] = {}
            try:
                entries = posix.listdir(root)
            except OSError:
                entries = []
            for entry in entries:
                if entry.endswith(".dist-info") and "-" in entry:
                    dist, _, version = entry[: -len(".dist-info")].partition("-")
                    dists[_normalize(dist)] = (dist, version)
        match = dists.get(_normalize(name))
        if match is not None:
            found[match[0]] = match[1]
        elif isinstance(getattr(module, "__version__", None), str):
            found[name] = module.__version__
    return dict(sorted(found.items()))


def resource_usage() -> dict:
    """CPU seconds and peak memory of this process so far, for ``inspect``."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {"user_seconds": round(usage.ru_utime, 3), "system_seconds": round(usage.ru_stime, 3),
            "max_rss_kib": usage.ru_maxrss}
