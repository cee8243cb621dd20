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
from importlib.machinery import ModuleSpec, PathFinder, SourceFileLoader

from retrace.bootstrap import constsets
from retrace.messages import warn
from retrace.recording import Recording


def _is_file(path: str) -> bool:
    try:
        return stat.S_ISREG(posix.stat(path).st_mode)
    except (OSError, ValueError):
        return False


def _is_dir(path: str) -> bool:
    try:
        return stat.S_ISDIR(posix.stat(path).st_mode)
    except (OSError, ValueError):
        return False


def read_source(path: str) -> bytes:
    with _io.FileIO(path, "r") as handle:
        return handle.readall()


class RunDirLoader(SourceFileLoader):
    """The source file loader of ``original``, reading it from ``snapshot``. A real
    SourceFileLoader, as when recorded: import hooks that take source files only
    (pytest's assertion rewriter) take this one too. No bytecode cache is read or
    written (``path_stats`` says there is none): the original's folder may be gone."""

    def __init__(self, fullname: str, original: str, snapshot: str, is_package: bool,
                 set_orders: list | None = None) -> None:
        super().__init__(fullname, original)
        self.snapshot = snapshot
        self._is_package = is_package
        self._set_orders = set_orders  # the recording compiled it from source: its sets' orders

    def source_to_code(self, data, path, *args, **kwargs):
        """The module's code, its constant sets iterating as when recorded (constsets.py)."""
        code = super().source_to_code(data, path, *args, **kwargs)
        try:
            return constsets.module_code_as_recorded(code, self._set_orders)
        except constsets.NotExact as exc:
            warn(f"{exc}: {path}'s constant sets may iterate in another order than when recorded")
            return code

    def path_stats(self, path):
        raise OSError("no bytecode cache for recorded code")

    def get_data(self, path: str) -> bytes:
        if path == self.path:
            return read_source(self.snapshot)
        with _io.open_code(path) as handle:  # (a package's data file: through the file boundary)
            return handle.read()

    def set_data(self, path, data, *, _mode=0o666) -> None:
        pass

    def is_package(self, fullname) -> bool:
        return self._is_package

    def get_resource_reader(self, fullname):
        return None


# What the program sees of it is what it saw when recorded: ``repr(__loader__)``,
# ``type(__loader__).__name__``.
RunDirLoader.__name__ = RunDirLoader.__qualname__ = SourceFileLoader.__name__
RunDirLoader.__module__ = SourceFileLoader.__module__


class RunDirFinder:
    def __init__(self, recording: Recording, code_root: str | None, cwd: str, compiled_sets: dict) -> None:
        self.recording = recording
        self.compiled_sets = compiled_sets  # path -> its constant sets' orders, if compiled from source
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
            loader = RunDirLoader(fullname, original, mirrored, is_package, self.compiled_sets.get(original))
            spec = ModuleSpec(fullname, loader, origin=original, is_package=is_package)
            spec.has_location = True
            if is_package:
                spec.submodule_search_locations = [original.rpartition("/")[0]]
            return spec
        return None

    def invalidate_caches(self) -> None:
        pass

    def was_folder(self, path: str) -> bool:
        """Whether the snapshot holds ``path`` as a folder (one with Python sources in
        it: the snapshot copies those only). A recorded *file* on sys.path (a script
        that ``runpy.run_path`` runs: multiprocessing's spawn children) keeps no importer."""
        return _is_dir(self.recording.run_path_for(path, self.code_root))

    def serve_gone_folders(self) -> None:
        """A folder of the recorded tree that is not here gets the importer the path
        finder made for it when recorded, a FileFinder (python's path hook refuses a
        missing folder): code that asks which importer serves a folder and lists its
        modules (``pkgutil.iter_modules``: Django's management commands; pkg_resources
        walking sys.path) takes the branch it took, and its listing replays. The
        FileFinder itself finds nothing in a missing folder (run/'s finder does)."""
        from importlib import _bootstrap_external
        from importlib.machinery import FileFinder

        root = self.code_root
        supported = getattr(_bootstrap_external, "_get_supported_file_loaders", None)  # (what its path hook uses)
        if not root or supported is None:
            return
        loaders = supported()
        prefix = root.rstrip("/") + "/"

        def in_tree(path) -> bool:
            return isinstance(path, str) and (path == root or path.startswith(prefix))

        for index, hook in enumerate(sys.path_hooks):
            if "FileFinder" in getattr(hook, "__qualname__", ""):
                def path_hook(path, _real=hook):
                    if in_tree(path) and not _is_dir(path) and self.was_folder(path):
                        return FileFinder(path, *loaders)
                    return _real(path)

                sys.path_hooks[index] = path_hook
                break
        for path in [p for p, importer in sys.path_importer_cache.items() if importer is None and in_tree(p)]:
            del sys.path_importer_cache[path]

    def serve_path_finder(self):
        """``PathFinder.find_spec`` finds the recorded code first, as this finder does: an
        import hook that asks the path finder itself (pytest's assertion rewriter) finds
        what it found when recorded, from the recording's paths, where the files may be
        gone. Returns how to undo it."""
        real = PathFinder.__dict__["find_spec"]
        find_recorded = self.find_spec

        def find_spec(cls, fullname, path=None, target=None):
            spec = find_recorded(fullname, path, target)
            return spec if spec is not None else real.__func__(cls, fullname, path, target)

        find_spec.__doc__ = real.__func__.__doc__
        PathFinder.find_spec = classmethod(find_spec)

        def undo():
            PathFinder.find_spec = real

        return undo

    def main_source(self, original: str):
        """The main script's source, from the snapshot."""
        return read_source(self.recording.run_path_for(original, self.code_root))
