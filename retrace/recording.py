"""The recording directory: its settings, whether this build can replay it, and how
retrace writes its files (privately, atomically, through posix).

Where each file lives is retrace/layout.py's (``Recording`` is a ``Layout``).
"""

from __future__ import annotations

import os
import posix
import sys

from retrace import jsontext, originals
from retrace.errors import RecordingError
from retrace.layout import ROOT_PROCESS, SETTINGS_FILE, TRACE_FILE, Layout

SETTINGS_VERSION = 1


def _json():
    """json, imported when first needed: the launcher's record path never needs it."""
    import json

    return json


class Recording(Layout):
    """A recording directory: its paths (``Layout``), and its settings read and checked."""

    def replay_start(self, process_id: str) -> str:
        """The process whose replay leads to ``process_id``: itself if it started by exec
        (or is the root), else the nearest such ancestor (a forked child starts as a copy
        of its parent, so its replay starts with its parent's)."""
        current = process_id
        while current != ROOT_PROCESS and not os.path.exists(self.facts_path(current)):
            try:
                link = self.load_facts_file(self.link_path(current))
            except FileNotFoundError:
                if current == process_id:
                    raise RecordingError(f"{self.path} has no process {process_id} "
                                         f"(processes: {', '.join(self.process_ids())})") from None
                raise RecordingError(f"process {current}, an ancestor of {process_id}, is missing "
                                     f"from {self.path}") from None
            if link.get("how") != "fork":
                raise RecordingError(f"process {current} has no recording (it ended or failed before its recording started)")
            parent = link.get("parent")
            if type(parent) is not str or not current.startswith(parent + "."):
                raise RecordingError(f"{self.link_path(current)} is damaged: its parent is {parent!r}")
            current = parent
        return current

    # -- settings ---------------------------------------------------------------
    def load_facts_file(self, path: str) -> dict:
        """One of the recording's JSON files, as a dict (FileNotFoundError if absent)."""
        try:
            with open(path, "rb") as handle:
                facts = _json().loads(handle.read())
        except (FileNotFoundError, IsADirectoryError):
            raise FileNotFoundError(path) from None
        except (OSError, ValueError, RecursionError) as exc:
            raise RecordingError(f"cannot read {path}: {exc}") from None
        if not isinstance(facts, dict) or type(facts.get("settings_version")) is not int:
            raise RecordingError(f"{path} is not a retrace settings file")
        return facts

    def load_facts(self, process_id: str = ROOT_PROCESS) -> dict:
        """A process's settings file as a dict (not validated: see load_settings)."""
        if not os.path.isdir(self.path):
            raise RecordingError(f"no recording at {self.path} (directory not found)")
        try:
            return self.load_facts_file(self.facts_path(process_id))
        except FileNotFoundError:
            if process_id != ROOT_PROCESS and os.path.exists(self.link_path(process_id)):
                raise RecordingError(f"process {process_id} was forked by its parent: replay it with "
                                     f"--replay {self.path} --process {process_id}") from None
            if process_id != ROOT_PROCESS:
                raise RecordingError(f"{self.path} has no process {process_id}") from None
            raise RecordingError(f"{self.path} is not a retrace recording (no {SETTINGS_FILE})") from None

    def load_settings(self, process_id: str = ROOT_PROCESS) -> dict:
        """Read and validate the settings a replay of this process starts from (the root,
        or a child started by exec); RecordingError with one clear line if unusable."""
        settings = self.load_facts(process_id)
        settings_path = self.facts_path(process_id)
        if settings["settings_version"] > SETTINGS_VERSION:
            raise RecordingError(
                f"{self.path} was made by a newer retrace-python ({settings.get('tool')}); upgrade to replay it"
            )
        python = settings.get("python")
        version = python.get("version_info") if isinstance(python, dict) else None
        if not (isinstance(version, list) and len(version) >= 2 and all(type(v) is int for v in version)):
            raise RecordingError(f"{settings_path} does not say which Python made the recording")
        recorded = tuple(version[:2])
        if recorded != tuple(sys.version_info[:2]):
            want = ".".join(map(str, recorded))
            raise RecordingError(
                f"{self.path} was recorded with Python {want}; replay it with Python {want} "
                f"(this is Python {sys.version_info[0]}.{sys.version_info[1]})"
            )
        problem = _settings_problem(settings)
        if problem:
            raise RecordingError(f"{settings_path} is damaged: {problem}")
        if not os.path.isfile(self.process_trace_path(process_id)):
            raise RecordingError(f"{self.process_dir(process_id)} has no {TRACE_FILE}")
        return settings


def snapshot_root(settings: dict) -> str | None:
    """The directory run/ mirrors: the root process's code root, for every process of the
    tree (a child started by exec says so in its settings; its own main may be elsewhere)."""
    if "snapshot_root" in settings:
        return settings["snapshot_root"] or None
    return settings["main"].get("code_root")


def _is_str_list(value) -> bool:
    return isinstance(value, list) and all(type(item) is str for item in value)


def _settings_problem(settings: dict) -> str | None:
    """What is missing or of the wrong type among the settings replay relies on."""
    main = settings.get("main")
    if not isinstance(main, dict):
        return "no 'main'"
    kind = main.get("kind")
    if kind not in ("script", "module", "command", "directory"):
        return f"main.kind is {kind!r}"
    needed = {"script": "file", "module": "target", "command": "target", "directory": "code_root"}[kind]
    if type(main.get(needed)) is not str:
        return f"no main.{needed}"
    for name in ("argv", "sys_path"):
        if not _is_str_list(main.get(name)):
            return f"main.{name} is not a list of strings"
    if not _is_str_list(main.get("options", [])):
        return "main.options is not a list of strings"
    if main.get("code_root") is not None and type(main["code_root"]) is not str:
        return "main.code_root is not a string"
    if type(settings.get("cwd")) is not str:
        return "no cwd"
    env = settings.get("env")
    if not (isinstance(env, dict) and all(type(k) is str and type(v) is str for k, v in env.items())):
        return "env is not a map of strings"
    if settings.get("hash_seed") is not None and type(settings["hash_seed"]) is not str:
        return "hash_seed is not a string"
    return None


_get_ident = originals.get_ident


def write_private_file(path: str, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically with mode 0600, through posix only. The
    temporary copy is this thread's own: two threads writing the same file (the
    flusher's tick and the process's end) must not write into one copy."""
    tmp = f"{path}.tmp{posix.getpid()}-{_get_ident()}"
    fd = posix.open(tmp, posix.O_WRONLY | posix.O_CREAT | posix.O_TRUNC | posix.O_CLOEXEC, 0o600)
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[posix.write(fd, view):]
        finally:
            posix.close(fd)
        posix.rename(tmp, path)
    except BaseException:
        try:  # a full disk must not leave the half-written copy behind
            posix.unlink(tmp)
        except OSError:
            pass
        raise


def write_json(path: str, value) -> None:
    write_private_file(path, jsontext.dumps(value).encode() + b"\n")


def make_private_dirs(path: str) -> None:
    """``mkdir -p`` with 0700 for every directory we create."""
    parts = []
    head = os.path.abspath(path)
    while not os.path.isdir(head):
        parts.append(head)
        head = os.path.dirname(head)
    for part in reversed(parts):
        try:
            posix.mkdir(part, 0o700)
        except FileExistsError:
            pass
        posix.chmod(part, 0o700)
