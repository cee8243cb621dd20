"""Start recording this process (called from the start-up hook, before user code).

Order matters: everything retrace needs is imported before the boundaries are
installed, so replay (which does the same) reaches user code with the same
modules patched at the same points.

The session holds the recording of this process: it starts it, keeps the code
snapshot (recordedcode.py) and the settings going from the trace writer's tick,
ends it however the process ends (fatalsignals.py for the signals that kill), and,
in a forked child, goes on into the child's recording. What it writes about the
process is processfacts.py's; its place in the process tree is processes.py's.
"""

from __future__ import annotations

import _signal
import atexit
import os
import posix
import sys
import time

import retrace
from retrace import declarations, layout, originals
from retrace.bootstrap import constsets, fatalsignals
from retrace.bootstrap.install import Installer
from retrace.messages import say, warn
from retrace.bootstrap.processes import RecordedTree
from retrace.bootstrap.processfacts import (describe_main, imported_distributions, initial_settings, our_site_dirs,
                                            resource_usage)
from retrace.bootstrap.production import MAX_SIZE_VAR, max_size, start_uploader
from retrace.bootstrap.recordedcode import RecordedCode
from retrace.bootstrap.secrets import RecordingSecrets
from retrace.boundaries import exits, families
from retrace.engine.outputorder import WriteLog
from retrace.engine.recorder import Recorder
from retrace.engine.state import untraced
from retrace.launch import CONFIG_VAR, config_json
from retrace.layout import ORDER_FILE
from retrace.recording import ROOT_PROCESS, SETTINGS_VERSION, Recording, make_private_dirs, write_json
from retrace.trace import format as fmt

__all__ = ["RecordSession", "start", "warn"]

_allocate_lock = originals.allocate_lock


def _normal_exit_status() -> int:
    """The exit status of a process ending through atexit: an uncaught exception's 1 (or
    death by SIGINT for KeyboardInterrupt), else the last sys.exit code, else 0."""
    uncaught = getattr(sys, "last_value", None)
    if isinstance(uncaught, KeyboardInterrupt):
        return -_signal.SIGINT
    if uncaught is not None and not isinstance(uncaught, SystemExit):
        return 1
    return exits.exit_status(exits.ExitRequest.code) if exits.ExitRequest.requested else 0


class RecordSession:
    def __init__(self, config: dict) -> None:
        self.config = config
        self.recording = Recording(config["recording"])
        self.tree = RecordedTree(self)
        self.process_id = config.get("process") or ROOT_PROCESS  # a Python child started by exec: its name
        self.settings_path = self.recording.facts_path(self.process_id)
        self.process_facts: dict | None = None  # a forked child's process.json (the root's: settings)
        self._finishing = False
        self.closing = False  # the trace's last chunk being written: fatal signals wait (fatalsignals.py)
        self.engine: Recorder | None = None
        self.installer: Installer | None = None
        self.code: RecordedCode | None = None  # its snapshot in run/, made with the settings
        self.settings: dict = {}
        self._snapshot_lock = _allocate_lock()  # the code snapshot and settings.json: one writer at a time
        self._set_orders: list = []  # (path or None for main, orders) for settings.json (constsets.py)
        self.upload_url: str | None = None  # RETRACE_UPLOAD
        self.secrets: RecordingSecrets | None = None  # made with the settings

    def start(self) -> bool:
        # A signal that kills while the recording is being set up (a pool terminating a
        # worker that is still starting) waits until the recording can end properly.
        held = fatalsignals.hold()
        try:
            return self._start()
        finally:
            fatalsignals.release(held)

    def _start(self) -> bool:
        main = describe_main(list(sys.orig_argv))
        for entry in our_site_dirs():
            sys.path.remove(entry)
        if main["kind"] == "stdin":
            warn("a program read from standard input cannot be replayed; running unrecorded")
            return False
        if main["kind"] == "script":
            target = main["file"]
            if not os.path.exists(target):
                return False  # python says it cannot open the file; nothing to record
            if not os.path.isfile(target):
                warn("the script is not a regular file (a pipe?) and cannot be snapshot; running unrecorded")
                return False
            if not target.endswith((".py", ".pyw")):
                import zipfile

                if zipfile.is_zipfile(target):
                    warn("a zip application cannot be replayed yet; running unrecorded")
                    return False
        root = self.process_id == ROOT_PROCESS
        self.snapshot_root = main.get("code_root") if root else (self.config.get("snapshot_root") or None)
        try:
            make_private_dirs(self.recording.process_dir(self.process_id))
            trace_path = self.recording.process_trace_path(self.process_id)
            if os.path.exists(trace_path):
                warn(f"{self.recording.path} already holds a recording; running unrecorded")
                return False
            if root:
                make_private_dirs(self.recording.run_dir)
            else:
                self._become_exec_child()
            self.secrets = RecordingSecrets(os.environ, self.config, warn=warn)
            self.settings = initial_settings(main, self.secrets)
            sealer = self.secrets.start(self.settings)
            self.code = RecordedCode(self.recording, self.settings, self.snapshot_root, root=root)
            header = {"format": fmt.FORMAT_VERSION, "tool": retrace.__version__,
                      "python": list(sys.version_info[:3]), "pid": posix.getpid(),
                      "created": self.settings["start_time"]}
            if not root:
                self.settings.update(process=self.process_id, parent=self.config.get("parent"),
                                     how=self.config.get("how"), snapshot_root=self.snapshot_root or "")
                header.update(process=self.process_id, parent=self.config.get("parent"))
            write_json(self.settings_path, self.settings)
            if root:
                self.code.write_workspace()
            self.engine = Recorder(trace_path, header, warn=warn)
            self.engine.process_tree = self.tree
            self.engine.output = WriteLog(os.path.join(self.recording.path, ORDER_FILE), self.tree)
            self.upload_url = os.environ.get("RETRACE_UPLOAD") or None  # (storage.py)
            self.engine.writer.sealer = sealer
            cap = max_size(os.environ.get(MAX_SIZE_VAR))
            if cap is not None:
                self.engine.limit_size(cap, f"{MAX_SIZE_VAR}={os.environ[MAX_SIZE_VAR]}")
        except OSError as exc:
            warn(f"cannot record into {self.recording.path} ({exc.strerror or exc}); running unrecorded")
            return False
        self.code.start(main.get("file"))
        if main["kind"] in ("script", "command"):
            constsets.watch_main_code(main["file"] if main["kind"] == "script" else "<string>", self._keep_set_orders)
        constsets.watch_compiled_modules(self._keep_module_orders)
        self.engine.writer.on_tick = self._tick
        self._engine_end_process = self.engine.end_process
        self.engine.end_process = self._end_process  # os._exit (exits family) ends through us
        declared = declarations.for_record(self.recording.path, main, self.settings["cwd"])
        # Before the families' own fork hooks (randomness reseeds in the child): a child's
        # first events must already go to its own trace.
        os.register_at_fork(before=self.engine.writer.flush, after_in_child=self._after_fork_in_child)
        self.installer = Installer(self.engine, families(declared))
        self.installer.install()
        atexit.register(self._at_exit)
        fatalsignals.flush_on_fatal_signals(self)
        self.engine.start()
        return True

    def _keep_set_orders(self, orders: list) -> None:
        """The main code's constant sets iterate so (constsets.py): settings.json says it at
        the next tick, for the replay's compile of the same source."""
        self._set_orders.append((None, orders))

    def _keep_module_orders(self, path: str, orders: list) -> None:
        self._set_orders.append((path, orders))

    def _write_set_orders(self) -> None:
        """The orders kept since the last tick, into the facts (the flusher's tick, under
        its lock: the threads that keep them only append to a list)."""
        if not self._set_orders:
            return
        facts = self.settings if self.process_facts is None else self.process_facts
        while self._set_orders:
            path, orders = self._set_orders.pop(0)
            if path is None:
                facts["main"]["set_orders"] = orders
            else:
                facts.setdefault("compiled_sets", {})[path] = orders
        self._write_facts(facts, locked=True)

    def _become_exec_child(self) -> None:
        """A Python child started by exec: named by its parent. Its own Python children are
        named by it; programs further down that inherit this environment (through a
        shell, say) are not this process and do not record (startup.py)."""
        self.tree.process_id = self.process_id
        self.config = dict(self.config, announce=False)
        os.environ[CONFIG_VAR] = config_json({"mode": "record", "recording": self.recording.path,
                                              "announce": False, "pid": str(posix.getpid())})

    def _update_secrets(self) -> None:
        """The sealed settings' encrypted originals, once, and the count of sealed values
        (off the start-up path: in the flusher thread's tick, under its lock)."""
        facts = self.settings if self.process_facts is None else self.process_facts
        if self.secrets is not None and self.secrets.update(facts):
            self._write_facts(facts, locked=True)

    def _write_facts(self, facts: dict, *, locked: bool = False) -> None:
        """settings.json (process.json for a forked child) again. The flusher's tick and the
        process's end both write it: one at a time, so the last one written is the last made."""
        if not locked:
            with self._snapshot_lock:
                return self._write_facts(facts, locked=True)
        try:
            write_json(self.settings_path, facts)
        except OSError:
            pass

    # -- background work (flusher thread) --------------------------------------
    def _tick(self) -> None:
        # The flusher thread and the process's ending both snapshot: one at a time, so
        # an ending (os._exit right after start) waits for a copy already under way.
        with self._snapshot_lock:
            self._update_secrets()
            self._write_set_orders()
            self.code.step()

    # -- endings --------------------------------------------------------------
    def _at_exit(self) -> None:
        self.finish("exit", _normal_exit_status())
        self._start_uploader()

    def _end_process(self, how: str, status: int | None = None, why: str | None = None) -> None:
        """Endings that skip atexit (os._exit, a fatal signal, retrace stopping itself)
        still complete the recording."""
        self.finish(how, status, why)
        self._start_uploader()

    def finish(self, how: str, status: int | None, why: str | None = None) -> None:
        """End the recording: the last snapshot and facts, then the trace's end (also
        RecordedTree.ending_in_exec)."""
        if self.engine.ended:
            return
        if self._finishing:  # a fatal signal in the middle of finishing: just end the trace
            self._engine_end_process(how, status, why)
            return
        self._finishing = True
        with untraced():
            self._tick()
            facts = self.settings if self.process_facts is None else self.process_facts
            facts["distributions"] = imported_distributions()
            facts["end_time"] = time.time()
            facts["resources"] = resource_usage()
            self._write_facts(facts)
        self.closing = True  # a fatal signal now must not cut the trace's last chunk short
        try:
            self._engine_end_process(how, status, why)
        finally:
            self.closing = False
        if self.secrets is not None and self.secrets.final(facts):  # (the trace written: its exact count)
            with untraced():
                self._write_facts(facts)
        if self.config.get("announce"):
            say(f"recording saved to {self.recording.path}")

    def _start_uploader(self) -> None:
        """RETRACE_UPLOAD: the root process, ending, ships the recording (production.py)."""
        url = self.upload_url
        if not url or self.process_id != ROOT_PROCESS or self.process_facts is not None:
            return
        self.upload_url = None
        start_uploader(self.recording.path, url)

    def _after_fork_in_child(self) -> None:
        # The flusher thread may have been snapshotting as the fork happened: its lock
        # stays held in the child, where that thread does not exist.
        self._snapshot_lock = _allocate_lock()
        self._set_orders = []  # (the parent's, for its own settings.json)
        child = self.tree.forking
        self.engine.output.forked(recorded=child is not None)
        if child is None:  # forked by C code (not os.fork): not recorded
            self.engine.after_fork_in_child()
            return
        try:
            with untraced():
                self._start_child(child)
        except OSError as exc:
            self.engine.after_fork_in_child()
            warn(f"cannot record child process {child} ({exc.strerror or exc}); it runs unrecorded")
            return

    def _start_child(self, child: str) -> None:
        """The forked child records on into processes/<child>/, linked to its parent."""
        parent, parent_events = self.tree.process_id, self.engine.writer.events_so_far(locked=False)
        directory = self.recording.process_dir(child)
        make_private_dirs(directory)
        self.tree.process_id, self.tree.forks = child, 0
        self.process_id = child
        self.code.root = False
        exits.ExitRequest.requested = False  # the parent's caught sys.exit is not the child's
        self.config = dict(self.config, announce=False)  # the root says where the recording is
        now = time.time()
        header = {"format": fmt.FORMAT_VERSION, "tool": retrace.__version__,
                  "python": list(sys.version_info[:3]), "pid": posix.getpid(), "created": now,
                  "process": child, "parent": parent}
        self.process_facts = {"settings_version": SETTINGS_VERSION, "process": child, "parent": parent,
                              "parent_event": parent_events, "how": "fork", "pid": posix.getpid(),
                              "ppid": posix.getppid(), "start_time": now}
        self.settings_path = os.path.join(directory, layout.PROCESS_FILE)
        # The link before the trace: a child killed as it starts (a pool's terminate) must
        # not leave a trace that says nothing of where it belongs.
        write_json(self.settings_path, self.process_facts)
        self.engine.start_child(os.path.join(directory, layout.TRACE_FILE), header)
        if self.secrets is not None:
            self.secrets.after_fork()


def start(config: dict) -> RecordSession | None:
    session = RecordSession(config)
    return session if session.start() else None
