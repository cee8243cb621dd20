"""Python children started by exec: which commands record, and how replay restarts them.

A child that runs the recorded interpreter (``subprocess`` of ``sys.executable``, a
script whose ``#!`` line names it, multiprocessing's spawn and forkserver workers)
records into ``processes/<id>/`` of the same recording. The parent names it and
hands it its name in ``RETRACE_CONFIG``; the child's start-up hook does the rest
(record.py). On replay the parent takes the recorded pid and starts the child as a
replay of its own recording, with no pipe to the parent: each process's reads come
from its own recording.

Everything here runs inside a boundary call, so it uses ``posix`` directly.
"""

from __future__ import annotations

import os
import posix
import sys

from retrace import pycmdline
from retrace.launch import CONFIG_VAR, config_json, new_hash_seed, replay_command, site_dir
from retrace.layout import TRACE_FILE

# Python options under which the child cannot record (start-up hook or hash seed ignored).
_UNRECORDABLE_FLAGS = {"E", "I", "S", "i"}
_SHEBANG_LIMIT = 256


def _text(value) -> str:
    return os.fsdecode(value) if isinstance(value, bytes) else str(value)


def _real_python() -> str:
    return os.path.realpath(sys.executable)


def _first_executable(candidates, env: dict) -> str | None:
    """The file exec would run: the first candidate that exists and may be executed (a
    bare name, as posix_spawnp takes it, searched on PATH)."""
    for candidate in candidates or ():
        path = _text(candidate)
        if "/" not in path:
            path = _search_path(path, env)
            if path is None:
                continue
        if posix.access(path, posix.X_OK) and not os.path.isdir(path):
            return path
    return None


def _search_path(name: str, env: dict) -> str | None:
    for directory in env.get("PATH", os.defpath).split(":"):
        candidate = os.path.join(directory or ".", name)
        if posix.access(candidate, posix.X_OK):
            return candidate
    return None


def _shebang(path: str, env: dict) -> list[str] | None:
    """``#!`` interpreter and argument of a script, the interpreter resolved; else None."""
    try:
        fd = posix.open(path, posix.O_RDONLY | posix.O_CLOEXEC)
    except OSError:
        return None
    try:
        head = posix.read(fd, _SHEBANG_LIMIT)
    except OSError:
        return None
    finally:
        posix.close(fd)
    if not head.startswith(b"#!"):
        return None
    words = head[2:].split(b"\n", 1)[0].decode(errors="replace").split()
    if not words:
        return None
    if os.path.basename(words[0]) == "env" and len(words) > 1:
        found = _search_path(words[1], env)
        return [found, *words[2:]] if found else None
    return words


def python_argv(argv, executables, env: dict) -> list[str] | None:
    """The child's command line as a ``python ...`` command, if it runs this interpreter
    in a way that can record (its options leave the start-up hook on); else None."""
    if not argv:
        return None
    executable = _first_executable(executables, env)
    if executable is None:
        return None
    args = [_text(item) for item in argv]
    python = _real_python()
    if os.path.realpath(executable) != python:
        interpreter = _shebang(executable, env)
        if not interpreter or os.path.realpath(interpreter[0]) != python:
            return None
        args = [*interpreter, executable, *args[1:]]
    try:
        command = pycmdline.parse(args[1:])
    except pycmdline.CommandLineError:
        return None
    if command.kind == "stdin" or command.flags & _UNRECORDABLE_FLAGS:
        return None
    return args


def env_dict(env) -> dict:
    """A ``fork_exec``/``posix_spawn`` environment (None: this process's) as a dict."""
    if env is None:
        return dict(os.environ)
    if hasattr(env, "keys"):  # a mapping (os.environ itself, say)
        return {_text(key): _text(value) for key, value in env.items()}
    result = {}
    for entry in env:
        key, _, value = _text(entry).partition("=")
        result[key] = value
    return result


def recording_env(env: dict, config: dict) -> dict:
    """``env`` with what makes the child record as ``config`` says: the configuration,
    the start-up hook on PYTHONPATH, a pinned hash seed."""
    env = dict(env)
    env[CONFIG_VAR] = config_json(config)
    env["PYTHONHASHSEED"] = new_hash_seed(env)
    here = site_dir()
    parts = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p and p != here]
    env["PYTHONPATH"] = os.pathsep.join([here, *parts])
    return env


def as_env_list(env: dict) -> list[bytes]:
    return [os.fsencode(f"{key}={value}") for key, value in env.items()]


def has_recording(recording, process_id: str) -> bool:
    return os.path.isfile(os.path.join(recording.process_dir(process_id), TRACE_FILE))


def start_replay(recording, process_id: str, stdio: tuple, extra: dict | None = None) -> int:
    """Start the replay of child ``process_id``; return its real pid.

    ``stdio`` is the recorded child's stdin, stdout and stderr: ``-1`` for inherited
    (the replaying parent's own, as it was), 0-2 for one of the parent's standard
    streams, anything else for a descriptor that existed only while recording (a
    pipe to the parent): there the replayed child gets /dev/null, since the parent
    reads what came through the pipe from its own recording.
    """
    argv, env = replay_command(recording.path, process_id, alone=False, extra=extra)
    actions = []
    for target, fd in enumerate(stdio):
        if fd == -1 or fd == target:
            continue
        if fd in (0, 1, 2):
            actions.append((posix.POSIX_SPAWN_DUP2, fd, target))
        else:
            flags = posix.O_RDONLY if target == 0 else posix.O_WRONLY
            actions.append((posix.POSIX_SPAWN_OPEN, target, "/dev/null", flags, 0))
    return posix.posix_spawn(argv[0], argv, env, file_actions=actions)
