"""Snapshot the application's code into ``DIR/run/`` so replay never reads the working tree.

Two parts: the main script's directory tree of Python sources (skipping
virtualenvs, VCS and cache directories, and recordings), copied once at start in
a background thread; and every imported module that is neither stdlib nor
site-packages, copied as it appears (checked on each trace flush, and at exit).
Runs only in machinery threads or under ``untraced``: its file I/O is not recorded.
"""

from __future__ import annotations

import os
import posix
import sys

from retrace import installation
from retrace.recording import Recording, make_private_dirs
from retrace.layout import SETTINGS_FILE, TRACE_FILE

SKIP_DIRS = frozenset({
    ".git", ".hg", ".svn", "__pycache__", ".venv", "venv", ".tox", ".nox", "node_modules",
    ".mypy_cache", ".pytest_cache", ".ruff_cache", "site-packages", "dist-packages", ".eggs",
})
SOURCE_SUFFIXES = (".py", ".pyi", ".pyw")
MAX_TREE_FILES = 5000
MAX_TREE_BYTES = 64 << 20


def _copy(src: str, dst: str) -> int:
    """Copy through a temporary name: a process killed mid-copy leaves no half file in run/."""
    make_private_dirs(os.path.dirname(dst))
    tmp = f"{dst}.tmp{posix.getpid()}"
    fd_in = posix.open(src, posix.O_RDONLY | posix.O_CLOEXEC)
    try:
        fd_out = posix.open(tmp, posix.O_WRONLY | posix.O_CREAT | posix.O_TRUNC | posix.O_CLOEXEC, 0o600)
        size = 0
        try:
            try:
                while True:
                    block = posix.read(fd_in, 1 << 16)
                    if not block:
                        break
                    size += len(block)
                    view = memoryview(block)
                    while view:
                        view = view[posix.write(fd_out, view):]
            finally:
                posix.close(fd_out)
            posix.rename(tmp, dst)
        except BaseException:
            try:
                posix.unlink(tmp)
            except OSError:
                pass
            raise
        return size
    finally:
        posix.close(fd_in)


def _is_recording_dir(path: str) -> bool:
    return os.path.exists(os.path.join(path, TRACE_FILE)) and os.path.exists(
        os.path.join(path, SETTINGS_FILE)
    )


class Snapshot:
    def __init__(self, recording: Recording, code_root: str | None, *, warn) -> None:
        self.recording = recording
        self.code_root = code_root
        self.copied: dict[str, str] = {}  # original path -> run path
        self.external_dirs: set[str] = set()  # directories of copied code outside code_root
        self._modules_seen = 0
        self._warn = warn

    def copy_tree(self) -> None:
        """Copy the main script's tree of Python sources (bounded in count and size)."""
        root = self.code_root
        if not root:
            return
        files = 0
        total = 0
        own = os.path.realpath(self.recording.path)
        for dirpath, dirnames, filenames in os.walk(root):
            kept = []
            for name in dirnames:
                full = os.path.join(dirpath, name)
                if name in SKIP_DIRS or os.path.exists(os.path.join(full, "pyvenv.cfg")):
                    continue
                if os.path.realpath(full) == own or _is_recording_dir(full):
                    continue
                kept.append(name)
            dirnames[:] = sorted(kept)
            for name in sorted(filenames):
                if not name.endswith(SOURCE_SUFFIXES):
                    continue
                src = os.path.join(dirpath, name)
                if src in self.copied:
                    continue
                try:
                    total += self._copy_one(src)
                except OSError:
                    continue
                files += 1
                if files >= MAX_TREE_FILES or total >= MAX_TREE_BYTES:
                    self._warn(f"code snapshot of {root} stopped after {files} files; "
                               "modules outside it are still copied when imported")
                    return

    def _copy_one(self, src: str) -> int:
        dst = self.recording.run_path_for(src, self.code_root)
        size = _copy(src, dst)
        self.copied[src] = dst
        if not self.recording.in_tree(src, self.code_root):
            self.external_dirs.add(os.path.dirname(os.path.normpath(src)))
        return size

    def is_user_file(self, path: str) -> bool:
        roots = installation.roots()  # (worked out once per process, there)
        if path.startswith(roots):
            return False  # the common case, without resolving links
        return not os.path.realpath(path).startswith(roots)

    def copy_new_modules(self) -> None:
        """Copy imported modules that are neither stdlib, site-packages nor ours."""
        modules = list(sys.modules.values())
        if len(modules) == self._modules_seen:
            return
        self._modules_seen = len(modules)
        for module in modules:
            path = getattr(module, "__file__", None)
            if not path or not isinstance(path, str) or not path.endswith(SOURCE_SUFFIXES):
                continue
            if getattr(module, "__name__", "") == "__main__":
                continue  # the main script is copied by copy_main
            path = os.path.abspath(path)
            if path in self.copied or not self.is_user_file(path):
                continue
            try:
                self._copy_one(path)
            except OSError:
                self.copied[path] = ""  # vanished or unreadable: do not retry

    def copy_main(self, path: str) -> None:
        if path not in self.copied:
            try:
                self._copy_one(path)
            except OSError as exc:
                self._warn(f"cannot snapshot the main script {path}: {exc.strerror}")
