"""Replay a recording in this process.

``prepare`` runs from the start-up hook, at the same point where recording
installed its boundaries: it loads the recording, restores the environment, and
installs the same boundaries in replay mode. ``run_main`` (from ``python -m
retrace``) then runs the recorded main script/module/command from ``run/`` with
the recorded argv and sys.path, and prints an uncaught exception's traceback
without retrace's own frames, as the recorded process did.
"""

from __future__ import annotations

import os
import posix
import sys
import types

from retrace.boundaries import families
from retrace.bootstrap.importer import RunDirFinder
from retrace.bootstrap.install import Installer
from retrace.engine.divergence import is_ours
from retrace.engine.replayer import Replayer
from retrace.engine.state import stop_all_boundaries
from retrace.errors import RetraceError
from retrace.recording import Recording
from retrace.trace.reader import TraceReader

_session: "ReplaySession | None" = None


def fail(error: RetraceError) -> None:
    """Stop the replay now with one line on stderr and the error's exit code."""
    stop_all_boundaries()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            pass
    message = str(error)
    try:
        posix.write(2, f"retrace: {message}\n".encode(errors="replace"))
    except OSError:
        pass
    posix._exit(error.exit_code)


class ReplaySession:
    def __init__(self, config: dict) -> None:
        self.recording = Recording(config["recording"])
        self.settings = self.recording.load_settings()
        self.reader = TraceReader(self.recording.trace_path)
        self._check_hash_seed()
        self.engine = Replayer(self.reader, stop=fail)
        self.main = self.settings["main"]
        self.finder = RunDirFinder(self.recording, self.main.get("code_root"), self.settings["cwd"])

    def _check_hash_seed(self) -> None:
        want = self.settings.get("hash_seed")
        have = os.environ.get("PYTHONHASHSEED")
        if want != have:
            raise RetraceError(
                f"this replay runs with PYTHONHASHSEED={have} but the recording used {want}; "
                "start it with `retrace-python --replay DIR`"
            )

    def install(self) -> None:
        os.environ.clear()
        os.environ.update(self.settings["env"])
        self.installer = Installer(self.engine, families())
        self.installer.install()

    def run_main(self) -> None:
        main = self.main
        native_path = [p for p in sys.path if p not in main["sys_path"]]
        sys.path[:] = list(main["sys_path"]) + native_path
        sys.meta_path.insert(0, self.finder)
        sys.argv[:] = list(main["argv"])
        module = types.ModuleType("__main__")
        module.__dict__["__builtins__"] = __builtins__
        sys.modules["__main__"] = module
        try:
            if main["kind"] == "script":
                code = self.finder.main_code(main["file"])
                module.__file__ = main["file"]
                module.__cached__ = None
                from importlib.machinery import SourceFileLoader

                module.__loader__ = SourceFileLoader("__main__", main["file"])
                exec(code, module.__dict__)
            elif main["kind"] == "module":
                import runpy

                runpy._run_module_as_main(main["target"], alter_argv=True)
            else:
                exec(compile(main["target"], "<string>", "exec"), module.__dict__)
        except SystemExit:
            raise
        except BaseException as exc:
            self._print_uncaught(exc)
            sys.exit(1)

    @staticmethod
    def _print_uncaught(exc: BaseException) -> None:
        tb = exc.__traceback__
        while tb is not None and is_ours(tb.tb_frame.f_code.co_filename):
            tb = tb.tb_next
        sys.last_type, sys.last_value, sys.last_traceback = type(exc), exc, tb
        sys.excepthook(type(exc), exc.with_traceback(tb), tb)


def prepare(config: dict) -> None:
    global _session
    try:
        _session = ReplaySession(config)
        _session.install()
    except RetraceError as error:
        fail(error)


def prepared() -> bool:
    return _session is not None


def run_main() -> None:
    if _session is None:
        fail(RetraceError("replay was not prepared (start it with `retrace-python --replay DIR`)"))
    _session.run_main()
