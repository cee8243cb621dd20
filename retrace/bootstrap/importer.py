"""Replay imports the recorded code from ``DIR/run/`` under its original paths.

``RunDirFinder`` sits on ``sys.meta_path`` during replay, just before the path finder
(the finders before it run as when recorded; the boundaries' import hook, first, finds
modules through it to patch them). For a module
whose source the snapshot holds, it returns a spec whose origin is the
*original* path (so ``__file__``, ``co_filename`` and tracebacks are what the
recorded program saw) and whose loader reads the source from ``run/``. Modules
the snapshot does not hold (stdlib, site-packages) import normally. Uses posix
and _io directly: imports are never boundaries.
"""

from __future__ import annotations

import _io
import posix
import stat
import sys
from importlib.machinery import ModuleSpec

from retrace.recording import Recording


def _is_file(path: str) -> bool:
    try:
        return stat.S_ISREG(posix.stat(path).st_mode)
    except (OSError, ValueError):
        return False


def read_source(path: str) -> bytes:
    with _io.FileIO(path, "r") as handle:
        return handle.readall()


class RunDirLoader:
    """Loads source from the snapshot, compiled under the original filename."""

    def __init__(self, fullname: str, original: str, snapshot: str, is_package: bool) -> None:
        self.name = fullname
        self.path = original
        self.snapshot = snapshot
        self._is_package = is_package

    def create_module(self, spec):
        return None

    def exec_module(self, module) -> None:
        code = self.get_code(module.__name__)
        exec(code, module.__dict__)

    def get_code(self, fullname):
        return compile(read_source(self.snapshot), self.path, "exec", dont_inherit=True)

    def get_source(self, fullname) -> str:
        from importlib.util import decode_source

        return decode_source(read_source(self.snapshot))

    def get_filename(self, fullname=None) -> str:
        return self.path

    def is_package(self, fullname) -> bool:
        return self._is_package

    def get_data(self, path: str) -> bytes:
        return read_source(self.snapshot if path == self.path else path)

    def get_resource_reader(self, fullname):
        return None


class RunDirFinder:
    def __init__(self, recording: Recording, code_root: str | None, cwd: str) -> None:
        self.recording = recording
        self.code_root = code_root
        self.cwd = cwd

    def _locate(self, entry: str, tail: str):
        base = entry or self.cwd
        if not base.startswith("/"):
            base = f"{self.cwd}/{base}"
        base = base.rstrip("/")  # as importlib joins: `DIR/` + `mod.py` is `DIR/mod.py`
        package_init = f"{base}/{tail}/__init__.py"
        mirrored = self.recording.run_path_for(package_init, self.code_root)
        if _is_file(mirrored):
            return package_init, mirrored, True
        module_file = f"{base}/{tail}.py"
        mirrored = self.recording.run_path_for(module_file, self.code_root)
        if _is_file(mirrored):
            return module_file, mirrored, False
        return None

    def find_spec(self, fullname, path=None, target=None):
        tail = fullname.rpartition(".")[2]
        for entry in (sys.path if path is None else path):
            if not isinstance(entry, str):
                continue
            found = self._locate(entry, tail)
            if found is None:
                continue
            original, mirrored, is_package = found
            loader = RunDirLoader(fullname, original, mirrored, is_package)
            spec = ModuleSpec(fullname, loader, origin=original, is_package=is_package)
            spec.has_location = True
            if is_package:
                spec.submodule_search_locations = [original.rpartition("/")[0]]
            return spec
        return None

    def invalidate_caches(self) -> None:
        pass

    def main_code(self, original: str):
        """The main script's code object, from the snapshot."""
        mirrored = self.recording.run_path_for(original, self.code_root)
        return compile(read_source(mirrored), original, "exec", dont_inherit=True)
