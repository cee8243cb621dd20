"""Start an interpreter for recording or replay (the environment it needs, then exec).

Shared by the launcher, the ``RETRACE=1`` start-up hook and ``python -m retrace``.
The hash seed is pinned here: it cannot change once an interpreter has started,
which is why every path goes through a (re-)exec.
"""

from __future__ import annotations

import os
import posix
import stat
import sys
import time

from retrace.errors import RecordingError, UsageError
from retrace.recording import ROOT_PROCESS, Recording

CONFIG_VAR = "RETRACE_CONFIG"
SITE_DIR_NAME = "retrace_site"

# Interpreter options that would stop the start-up hook from running.
UNSUPPORTED_OPTIONS = {
    "E": "ignores PYTHONPATH and PYTHONHASHSEED, which retrace needs",
    "I": "ignores PYTHONPATH and PYTHONHASHSEED, which retrace needs",
    "S": "disables the site module, which starts retrace",
    "i": "interactive sessions cannot be replayed",
}


SUPPORTED_PYTHONS = ((3, 11),)  # the whole suite passes on these (pyproject's requires-python)
PORTED_PYTHONS = ((3, 12), (3, 13))  # they record and replay, the suite not yet whole there


def supported_text() -> str:
    supported = ", ".join(f"{major}.{minor}" for major, minor in SUPPORTED_PYTHONS)
    ported = ", ".join(f"{major}.{minor}" for major, minor in PORTED_PYTHONS)
    return f"Python {supported}" + (f" ({ported} being ported)" if ported else "")


def unsupported_interpreter(version_info=sys.version_info, abiflags: str | None = None) -> str | None:
    """Why this interpreter cannot record, in one phrase, or None."""
    major, minor = version_info[:2]
    if (major, minor) not in SUPPORTED_PYTHONS + PORTED_PYTHONS:
        return f"Python {major}.{minor} is not supported (retrace-python records {supported_text()})"
    if "t" in (getattr(sys, "abiflags", "") if abiflags is None else abiflags):
        return (f"Python {major}.{minor}t (free-threaded) is not supported: its threads run at once, and "
                "retrace's recording of thread interleavings needs the GIL")
    return None


def config_json(config: dict) -> str:
    """RETRACE_CONFIG as JSON, for a flat dict of str and bool values.

    Written by hand so the launcher need not import json (and re) on its way to
    exec: a few milliseconds of every recorded process's start-up.
    """
    def value(item) -> str:
        if item is True or item is False:
            return "true" if item else "false"
        escaped = item.replace("\\", "\\\\").replace('"', '\\"')
        return '"' + "".join(c if c >= " " else f"\\u{ord(c):04x}" for c in escaped) + '"'

    return "{" + ", ".join(f"{value(k)}: {value(v)}" for k, v in config.items()) + "}"


def site_dir() -> str:
    """Directory holding our sitecustomize.py (installed as retrace_site/)."""
    import retrace

    package_parent = os.path.dirname(os.path.dirname(os.path.abspath(retrace.__file__)))
    installed = os.path.join(package_parent, SITE_DIR_NAME)
    if os.path.isdir(installed):
        return installed
    source_tree = os.path.join(package_parent, "site")  # running from a checkout
    if os.path.isfile(os.path.join(source_tree, "sitecustomize.py")):
        return source_tree
    raise RecordingError("retrace is not installed correctly: retrace_site/ is missing")


def _with_site_dir(env: dict) -> dict:
    here = site_dir()
    old = env.get("PYTHONPATH")
    parts = [p for p in (old.split(os.pathsep) if old else []) if p and p != here]
    env["PYTHONPATH"] = os.pathsep.join([here, *parts])
    return env


def helper_env() -> dict:
    """This process's environment for a helper process of ours (debugpy's adapter, the
    uploader): no retrace start-up hook, configuration or recorded hash seed."""
    env = {k: v for k, v in os.environ.items() if k not in (CONFIG_VAR, "PYTHONHASHSEED")}
    parts = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p and not _is_site_dir(p)]
    if parts:
        env["PYTHONPATH"] = os.pathsep.join(parts)
    else:
        env.pop("PYTHONPATH", None)
    return env


def fresh_recording_dir(base: str | None = None) -> str:
    base = base or os.path.join(os.getcwd(), "retrace-recordings")
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for attempt in range(1000):
        candidate = os.path.join(base, f"{stamp}-{os.getpid()}" + (f"-{attempt}" if attempt else ""))
        if not os.path.exists(candidate):
            return candidate
    raise UsageError(f"cannot choose a fresh recording directory under {base}")


SAMPLE_VAR = "RETRACE_SAMPLE_RATE"
# A root process that sampling left out: its Python children inherit this and do not
# record either (the start-up hook is inert when RETRACE_CONFIG is set; startup.py).
OFF_CONFIG = '{"mode": "off"}'


def sampled_in(env: dict) -> tuple[bool, str | None]:
    """Whether this root process records under RETRACE_SAMPLE_RATE (a fraction, 0 to 1),
    and the line that says what was decided (None when every run records)."""
    text = (env.get(SAMPLE_VAR) or "").strip()
    if not text:
        return True, None
    try:
        rate = float(text)
    except ValueError:
        rate = float("nan")
    if not 0.0 <= rate <= 1.0:
        raise UsageError(f"{SAMPLE_VAR}={text!r} is not a fraction between 0 and 1")
    draw = int.from_bytes(os.urandom(4), "little") / 2.0 ** 32
    if draw < rate:
        return True, f"sampled in ({SAMPLE_VAR}={text}): recording this run"
    return False, f"sampled out ({SAMPLE_VAR}={text}): this run and its children are not recorded"


def new_hash_seed(env: dict) -> str:
    given = env.get("PYTHONHASHSEED")
    if given and given != "random":
        return given
    return str(int.from_bytes(os.urandom(4), "little") % 4294967295 + 1)


def record_env(recording: str, *, announce: bool, env: dict | None = None) -> dict:
    env = dict(os.environ if env is None else env)
    # "pid": the process that will be recorded (exec keeps the pid). Its Python
    # children inherit this environment; they are not that process (see startup.py).
    env[CONFIG_VAR] = config_json({"mode": "record", "recording": os.path.abspath(recording),
                                   "announce": announce, "pid": str(os.getpid())})
    env["PYTHONHASHSEED"] = new_hash_seed(env)
    return _with_site_dir(env)


def check_record_target(recording: str) -> None:
    if os.path.exists(Recording(recording).trace_path):
        raise UsageError(f"{os.path.abspath(recording)} already holds a recording; choose another --recording")


def check_python_options(flags: set[str]) -> None:
    for flag in sorted(flags):
        if flag in UNSUPPORTED_OPTIONS:
            raise UsageError(f"python option -{flag} is not supported: it {UNSUPPORTED_OPTIONS[flag]}")
    if os.environ.get("PYTHONINSPECT"):  # the environment's spelling of -i
        raise UsageError(f"PYTHONINSPECT is not supported: {UNSUPPORTED_OPTIONS['i']}")


# Variables the interpreter reads while it starts (before the replay restores the
# recorded os.environ): stdio encoding and buffering, warnings, -X options, locale.
_STARTUP_VARS_PREFIX = "PYTHON"
_LOCALE_VARS = ("LC_ALL", "LC_CTYPE", "LANG")


def _startup_env(env: dict, recorded: dict) -> dict:
    """``env`` with the interpreter start-up variables the recording had (and no others)."""
    for name in [n for n in env if n.startswith(_STARTUP_VARS_PREFIX) or n in _LOCALE_VARS]:
        del env[name]
    for name, value in recorded.items():
        if name.startswith(_STARTUP_VARS_PREFIX) or name in _LOCALE_VARS:
            env[name] = value
    # The recorded entries, then those this replay needs (a debugger's, say); never the
    # recording machine's start-up hook: _with_site_dir puts this install's first.
    parts: list[str] = []
    for value in (env.get("PYTHONPATH"), os.environ.get("PYTHONPATH")):
        for part in (value or "").split(os.pathsep):
            if part and part not in parts and not _is_site_dir(part):
                parts.append(part)
    if parts:
        env["PYTHONPATH"] = os.pathsep.join(parts)
    else:
        env.pop("PYTHONPATH", None)
    return env


def _is_site_dir(path: str) -> bool:
    """A directory holding a retrace start-up hook (installed, or in a checkout)."""
    if os.path.basename(os.path.normpath(path)) == SITE_DIR_NAME:
        return True
    return os.path.isfile(os.path.join(path, "sitecustomize.py")) and os.path.isfile(
        os.path.join(path, "retrace-hook.pth"))


def replay_config(recording_path: str, process: str | None = None, *, alone: bool = True,
                  debug: dict | None = None, extra: dict | None = None) -> tuple[dict, dict]:
    """RETRACE_CONFIG for a replay of ``recording_path`` (validated first), and the
    settings of the process it starts from: the whole process tree, or ``process``
    alone (with its subtree: ``alone=False``, as a replaying parent starts a Python
    child); under a debugger with ``debug`` (debugpy's ``listen`` and ``wait``)."""
    recording = Recording(recording_path)
    if not os.path.isdir(recording.path):
        raise RecordingError(f"no recording at {recording.path} (directory not found)")
    start = recording.replay_start(process or ROOT_PROCESS)  # a forked child: from its parent's start
    settings = recording.load_settings(start)
    config = {"mode": "replay", "recording": recording.path}
    if start != ROOT_PROCESS:
        config["process"] = start
    if process is not None and alone:
        config["target"] = process
    if debug is not None:  # (RETRACE_CONFIG is flat)
        config["debug"] = True
        config.update({f"debug_{name}": value for name, value in debug.items()})
    config.update(extra or {})  # time travel (bootstrap/timetravel.py)
    return config, settings


# The key a replay was given (bootstrap/secrets.py), for the replays of its Python
# children: their environment is the recorded one, which never holds it.
replay_keys: dict = {}


def replay_command(recording_path: str, process: str | None = None, *, alone: bool = True,
                   debug: dict | None = None, extra: dict | None = None) -> tuple[list[str], dict]:
    """argv and environment that replay ``recording_path`` (see replay_config)."""
    config, settings = replay_config(recording_path, process, alone=alone, debug=debug, extra=extra)
    main = settings.get("main", {})
    if main.get("kind") == "module":
        config["main_module"] = main.get("target")  # (bootstrap/mainentry.py: follow_module)
    env = _startup_env(dict(os.environ), settings.get("env") or {})
    env[CONFIG_VAR] = config_json(config)
    env.update(replay_keys)
    seed = settings.get("hash_seed")
    if seed is None:
        env.pop("PYTHONHASHSEED", None)
    else:
        env["PYTHONHASHSEED"] = seed
    _with_site_dir(env)
    options = list(main.get("options", []))
    # The frames below the program as the recording had them (bootstrap/mainentry.py):
    # runpy's two for `python -m name`, which python runs as it did (the replay sets up
    # what it finds as it starts); none for a script or `-c`, which run as the first frame,
    # from a compiled file the replay writes as it starts; `python DIR`'s, as `-m retrace`'s.
    if main.get("kind") == "module":
        return [sys.executable, *options, "-m", config["main_module"]], env
    entry = ["-m", "retrace"] if main.get("kind") == "directory" else [_entry_path()]
    argv = [sys.executable, *options, *entry, "--recording", config["recording"]]
    if process is not None:
        argv += ["--process", process]
    return argv, env


ENTRY_FILE = "replay_entry.pyc"  # a replayed script's first frame (bootstrap/mainentry.py)
_made = [0]  # entry folders made by this process


def _temporary_root() -> str:
    for candidate in (os.environ.get("TMPDIR"), "/tmp", "/var/tmp"):
        try:
            if candidate and stat.S_ISDIR(posix.stat(candidate).st_mode):
                return candidate
        except OSError:
            continue
    return posix.getcwd()


def _entry_path() -> str:
    """Where a replay's compiled entry goes (written by the replay itself as it starts):
    a new folder of the temporary directory. posix's own calls: in a replaying parent
    starting a child's replay, os's are boundaries (and its environment the recorded
    one: a TMPDIR that is not here is passed over). Not through ``tempfile``, which would
    import ``random`` there, whose fork hook would then run in the parent's replayed forks."""
    root = _temporary_root()
    while True:
        _made[0] += 1
        folder = os.path.join(root, f"retrace-replay-{posix.getpid()}-{_made[0]}")
        try:
            posix.mkdir(folder, 0o700)
        except FileExistsError:
            continue
        except OSError as exc:
            raise UsageError(f"cannot make a folder for the replay in {root} ({exc.strerror})") from None
        return os.path.join(folder, ENTRY_FILE)


def startup_vars(recorded_env: dict) -> dict:
    """The recorded variables that python reads while it starts (stdio encoding and
    buffering, warnings, -X options, locale), without PYTHONPATH: what a replay started
    by something else (an IDE) must be given to start as the recording did."""
    return {name: value for name, value in recorded_env.items()
            if (name.startswith(_STARTUP_VARS_PREFIX) or name in _LOCALE_VARS) and name != "PYTHONPATH"}


def exec_python(argv: list[str], env: dict) -> None:
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(argv[0], argv, env)
