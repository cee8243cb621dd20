"""Start recording this process (called from the start-up hook, before user code).

Order matters: everything retrace needs is imported before the boundaries are
installed, so replay (which does the same) reaches user code with the same
modules patched at the same points.
"""

from __future__ import annotations

import atexit
import os
import posix
import signal
import sys
import time

import retrace
from retrace import pycmdline
from retrace.boundaries import families
from retrace.bootstrap.install import Installer
from retrace.bootstrap.snapshot import Snapshot
from retrace.engine.recorder import Recorder
from retrace.engine.state import untraced
from retrace.recording import SETTINGS_VERSION, Recording, make_private_dirs, write_json
from retrace.trace import format as fmt


def warn(message: str) -> None:
    try:
        posix.write(2, f"retrace: warning: {message}\n".encode(errors="replace"))
    except OSError:
        pass


def describe_main(orig_argv: list[str]) -> dict:
    """What the interpreter is about to run, and the argv/sys.path it will show."""
    cmd = pycmdline.parse(orig_argv[1:])
    safe_path = bool(cmd.flags & {"P", "I"})
    main = {"kind": cmd.kind, "target": cmd.target, "options": cmd.options}
    if cmd.kind == "script":
        main["file"] = os.path.abspath(cmd.target)
        main["argv"] = [cmd.target, *cmd.args]
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
    main["sys_path"] = ([] if safe_path else [path0]) + list(sys.path)
    return main


def _imported_distributions() -> dict[str, str]:
    from importlib import metadata

    tops = {name.partition(".")[0] for name in list(sys.modules)}
    found: dict[str, str] = {}
    try:
        mapping = metadata.packages_distributions()
    except Exception:  # broken metadata of some installed package must not stop us
        return found
    for top in sorted(tops):
        for dist in mapping.get(top, ()):
            try:
                found[dist] = metadata.version(dist)
            except Exception:
                continue
    return found


class RecordSession:
    def __init__(self, config: dict) -> None:
        self.config = config
        self.recording = Recording(config["recording"])
        self.engine: Recorder | None = None
        self.installer: Installer | None = None
        self.snapshot: Snapshot | None = None
        self.settings: dict = {}

    def start(self) -> bool:
        main = describe_main(list(sys.orig_argv))
        if main["kind"] == "stdin":
            warn("a program read from standard input cannot be replayed; running unrecorded")
            return False
        try:
            make_private_dirs(self.recording.path)
            if os.path.exists(self.recording.trace_path):
                warn(f"{self.recording.path} already holds a recording; running unrecorded")
                return False
            make_private_dirs(self.recording.run_dir)
            self.settings = self._initial_settings(main)
            write_json(self.recording.settings_path, self.settings)
            self._write_workspace()
            header = {"format": fmt.FORMAT_VERSION, "tool": retrace.__version__,
                      "python": list(sys.version_info[:3]), "pid": posix.getpid(),
                      "created": self.settings["start_time"]}
            self.engine = Recorder(self.recording.trace_path, header, warn=warn)
        except OSError as exc:
            warn(f"cannot record into {self.recording.path} ({exc.strerror or exc}); running unrecorded")
            return False
        self.snapshot = Snapshot(self.recording, main.get("code_root"), warn=warn)
        self.engine.writer.on_tick = self._tick
        self.installer = Installer(self.engine, families())
        self.installer.install()
        atexit.register(self._at_exit)
        os.register_at_fork(after_in_child=self._after_fork_in_child)
        self._flush_on_fatal_signals()
        self.engine.start()
        return True

    def _initial_settings(self, main: dict) -> dict:
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
            "orig_argv": list(sys.orig_argv),
            "main": main,
            "cwd": os.getcwd(),
            "env": dict(os.environ),
            "hash_seed": os.environ.get("PYTHONHASHSEED"),
            "start_time": time.time(),
            "pid": posix.getpid(),
            "ppid": posix.getppid(),
            "distributions": {},
        }

    def _write_workspace(self) -> None:
        workspace = {
            "folders": [{"path": fmt.RUN_DIR}],
            "settings": {"python.terminal.activateEnvironment": False},
            "launch": {
                "version": "0.2.0",
                "configurations": [{
                    "name": "Replay recording",
                    "type": "debugpy",
                    "request": "launch",
                    "module": "retrace",
                    "args": ["--recording", "${workspaceFolder}/.."],
                    "cwd": "${workspaceFolder}",
                    "console": "integratedTerminal",
                    "justMyCode": True,
                }],
            },
        }
        write_json(self.recording.workspace_path, workspace)

    # -- background work (flusher thread) --------------------------------------
    def _tick(self) -> None:
        try:
            if self.snapshot.code_root and not getattr(self, "_tree_done", False):
                self._tree_done = True
                self.snapshot.copy_tree()
                main_file = self.settings["main"].get("file")
                if main_file:
                    self.snapshot.copy_main(main_file)
            self.snapshot.copy_new_modules()
        except OSError as exc:
            warn(f"code snapshot incomplete: {exc}")

    # -- endings --------------------------------------------------------------
    def _at_exit(self) -> None:
        with untraced():
            self._tick()
            self.settings["distributions"] = _imported_distributions()
            self.settings["end_time"] = time.time()
            try:
                write_json(self.recording.settings_path, self.settings)
            except OSError:
                pass
        self.engine.end_process("exit")
        if self.config.get("announce"):
            posix.write(2, f"retrace: recording saved to {self.recording.path}\n".encode())

    def _after_fork_in_child(self) -> None:
        self.engine.after_fork_in_child()

    def _flush_on_fatal_signals(self) -> None:
        """SIGTERM/SIGHUP: write what we have, then die of the signal as before."""

        def flush_and_die(signum, frame):
            self.engine.end_process("signal", -signum)
            signal.signal(signum, signal.SIG_DFL)
            posix.kill(posix.getpid(), signum)

        for signum in (signal.SIGTERM, signal.SIGHUP):
            if signal.getsignal(signum) == signal.SIG_DFL:
                signal.signal(signum, flush_and_die)


def start(config: dict) -> RecordSession | None:
    session = RecordSession(config)
    return session if session.start() else None
