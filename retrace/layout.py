"""Where everything in a recording lives: the one module that names its files and folders.

    DIR/settings.json          how the root process started (argv, env, seed, versions)
    DIR/trace.bin              its event stream (trace/format.py)
    DIR/run/                   the application code as it was; run/_ext/<absolute path>:
                               code imported from outside the main tree
    DIR/replay.code-workspace  opens run/ in VS Code (retrace/workspace.py)
    DIR/boundaries.toml        boundaries declared in configuration (boundaries/declared.py)
    DIR/output-order           the order of the tree's writes to stdout and stderr
                               (engine/outputorder.py)
    DIR/upload.log             what RETRACE_UPLOAD did (retrace/storage.py; never uploaded)
    DIR/processes/<id>/        a child process's own recording: its trace.bin, process.json
                               (its place in the tree), and settings.json if started by exec

docs/recording-format.md describes each file. Process ids name a process by its place
in the tree: the root is ``ROOT_PROCESS``, a process's n-th child is "<its id>.<n>", so
record and replay name every process the same way. ``Layout`` turns these names into
paths; it reads nothing but the list of ``processes/`` (retrace/recording.py reads the
files). It imports nothing but ``os``: the record path's start-up pays for no more.
"""

from __future__ import annotations

import os

SETTINGS_FILE = "settings.json"
TRACE_FILE = "trace.bin"
RUN_DIR = "run"
EXTERNAL_DIR = "_ext"  # run/_ext/<absolute path>: code imported from outside the main tree
WORKSPACE_FILE = "replay.code-workspace"
DECLARED_FILE = "boundaries.toml"
ORDER_FILE = "output-order"  # shared by the tree's processes
UPLOAD_LOG = "upload.log"
PROCESSES_DIR = "processes"
PROCESS_FILE = "process.json"  # processes/<id>/process.json: how that child started and ended

ROOT_PROCESS = "0"


class Layout:
    """The paths of one recording directory."""

    def __init__(self, path: str) -> None:
        self.path = os.path.abspath(path)

    @property
    def trace_path(self) -> str:
        return os.path.join(self.path, TRACE_FILE)

    @property
    def settings_path(self) -> str:
        return os.path.join(self.path, SETTINGS_FILE)

    @property
    def run_dir(self) -> str:
        return os.path.join(self.path, RUN_DIR)

    @property
    def workspace_path(self) -> str:
        return os.path.join(self.path, WORKSPACE_FILE)

    def process_dir(self, process_id: str) -> str:
        """Where a child process's recording lives (the root process: the recording itself)."""
        if process_id == ROOT_PROCESS:
            return self.path
        return os.path.join(self.path, PROCESSES_DIR, process_id)

    def facts_path(self, process_id: str) -> str:
        """How a process started (to replay it alone): settings.json, the root's or that of
        a child started by exec. A forked child has none: it starts as its parent was."""
        return os.path.join(self.process_dir(process_id), SETTINGS_FILE)

    def link_path(self, process_id: str) -> str:
        """processes/<id>/process.json: a child's place in the tree (parent, pid, how)."""
        return os.path.join(self.process_dir(process_id), PROCESS_FILE)

    def process_trace_path(self, process_id: str) -> str:
        return os.path.join(self.process_dir(process_id), TRACE_FILE)

    def process_ids(self) -> list[str]:
        """Every process of the tree: the root, then each child under processes/, depth
        first (names that are no process id are left out)."""
        try:
            names = os.listdir(os.path.join(self.path, PROCESSES_DIR))
        except OSError:
            names = []
        children = [(key, name) for name in names if (key := _process_key(name)) is not None and len(key) > 1]
        return [ROOT_PROCESS] + [name for _, name in sorted(children)]

    def child_ids(self, parent: str) -> list[str]:
        """``parent``'s own children, in the order they started."""
        return [name for name in self.process_ids() if name.rpartition(".")[0] == parent]

    @staticmethod
    def in_tree(original: str, code_root: str | None) -> bool:
        """Whether the snapshot keeps ``original`` in run/ itself (else in run/_ext/)."""
        original = os.path.normpath(original)
        return bool(code_root) and (original == code_root or original.startswith(code_root.rstrip(os.sep) + os.sep))

    def run_path_for(self, original: str, code_root: str | None) -> str:
        """Where the snapshot keeps the file that was at ``original`` when recording."""
        original = os.path.normpath(original)
        if self.in_tree(original, code_root):
            rel = os.path.relpath(original, code_root)
            return os.path.normpath(os.path.join(self.run_dir, rel))
        return os.path.join(self.run_dir, EXTERNAL_DIR, original.lstrip(os.sep))

    def original_path_for(self, run_path: str, code_root: str | None) -> str:
        """The recorded path of the file the snapshot keeps at ``run_path`` (under run/)."""
        rel = os.path.relpath(os.path.realpath(run_path), os.path.realpath(self.run_dir))
        first, _, rest = rel.partition(os.sep)
        if first == EXTERNAL_DIR:
            return os.sep + rest
        return os.path.join(code_root, rel) if code_root else run_path


def is_recording(path: str) -> bool:
    """Whether ``path`` looks like a recording directory (a trace or settings in it)."""
    return os.path.isfile(os.path.join(path, TRACE_FILE)) or os.path.isfile(os.path.join(path, SETTINGS_FILE))


def _process_key(process_id: str) -> tuple[int, ...] | None:
    """"0.1.2" -> (0, 1, 2): sorts a tree depth first; None for a name that is no process id."""
    try:
        key = tuple(int(part) for part in process_id.split("."))
    except ValueError:
        return None
    return key if key and key[0] == 0 else None
