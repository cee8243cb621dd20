"""The program's code kept in ``DIR/run/`` while it records, and the workspace that maps it.

The copying itself is snapshot.py's. Here is when: the main script before any event,
then at each tick of the trace writer (and at the end) the script's tree once (the
root process), ``-m``'s main module, and every module imported since. The root also
keeps ``DIR/replay.code-workspace`` (retrace/workspace.py) naming every directory of
code copied into ``run/_ext``.
"""

from __future__ import annotations

import os
import sys

from retrace.messages import warn
from retrace.bootstrap.snapshot import Snapshot
from retrace.recording import Recording, write_json
from retrace.layout import RUN_DIR


class RecordedCode:
    """One recording process's code snapshot. ``root``: the tree's root process, which
    copies its script's directory tree and keeps the workspace (a forked child does not)."""

    def __init__(self, recording: Recording, settings: dict, code_root: str | None, *, root: bool) -> None:
        self.recording = recording
        self.settings = settings
        self.code_root = code_root
        self.root = root
        self.snapshot: Snapshot | None = None  # (made once the recording has started)
        self._tree_done = False
        self._workspace_dirs: set[str] = set()  # external code directories the workspace maps

    def start(self, main_file: str | None) -> None:
        """Before any event: a recording killed early still has its script."""
        self.snapshot = Snapshot(self.recording, self.code_root, warn=warn)
        if main_file:
            self.snapshot.copy_main(main_file)

    def write_workspace(self) -> None:
        from retrace.workspace import replay_workspace

        external = set(self.snapshot.external_dirs) if self.snapshot is not None else set()
        self._workspace_dirs = external
        write_json(self.recording.workspace_path,
                   replay_workspace(self.settings, self.code_root, RUN_DIR, external))

    def step(self) -> None:
        """A forked child copies too: what it imports after the fork (a pre-forking
        server's workers load the application) its parent may never import."""
        try:
            if self.root and self.snapshot.code_root and not self._tree_done:
                self._tree_done = True
                self.snapshot.copy_tree()
                main_file = self.settings["main"].get("file")
                if main_file:
                    self.snapshot.copy_main(main_file)
            if self.settings["main"]["kind"] == "module":
                self._copy_main_module()
            self.snapshot.copy_new_modules()
            if self.root and self.snapshot.external_dirs != self._workspace_dirs:
                self.write_workspace()  # its path mappings name every directory of code in run/_ext
        except OSError as exc:
            warn(f"code snapshot incomplete: {exc}")

    def _copy_main_module(self) -> None:
        """``-m pkg.mod``: the module runs as ``__main__``, which copy_new_modules skips."""
        module = sys.modules.get("__main__")
        spec = getattr(module, "__spec__", None)
        path = getattr(module, "__file__", None)
        target = self.settings["main"]["target"]
        if spec is None or spec.name not in (target, f"{target}.__main__") or not isinstance(path, str):
            return
        path = os.path.abspath(path)
        if path not in self.snapshot.copied and self.snapshot.is_user_file(path):
            self.snapshot.copy_main(path)
