"""Start recording this process (called from the start-up hook, before user code).

Order matters: everything retrace needs is imported before the boundaries are
installed, so replay (which does the same) reaches user code with the same
modules patched at the same points.
"""

from __future__ import annotations

import _signal
import atexit
import os
import posix
import resource
import sys
import time

import retrace
from retrace import originals, pycmdline
from retrace.bootstrap import children
from retrace.bootstrap.install import Installer
from retrace.bootstrap.secrets import RecordingSecrets
from retrace.bootstrap.snapshot import Snapshot
from retrace.boundaries import declared, exits, families
from retrace.boundaries import signals as signals_family
from retrace.engine.outputorder import WriteLog
from retrace.engine.recorder import Recorder
from retrace.engine.state import untraced
from retrace.launch import CONFIG_VAR, config_json
from retrace.layout import ORDER_FILE
from retrace.recording import (
    ROOT_PROCESS,
    SETTINGS_VERSION,
    Recording,
    make_private_dirs,
    write_json,
)
from retrace.trace import format as fmt

# Before the signals family patches _signal (retrace's own handlers are no program's).
_real_signal = originals.signal
_real_getsignal = originals.getsignal
_real_sigmask = originals.pthread_sigmask
_allocate_lock = originals.allocate_lock
# Default action "terminate": flushed and marked as the recording's end (crash safety).
_FLUSHED_SIGNALS = (_signal.SIGTERM, _signal.SIGHUP, _signal.SIGALRM, _signal.SIGUSR1, _signal.SIGUSR2)


MAX_SIZE_VAR = "RETRACE_MAX_SIZE"
_SIZE_UNITS = {"": 1, "b": 1, "k": 1 << 10, "kb": 1 << 10, "kib": 1 << 10, "m": 1 << 20, "mb": 1 << 20,
               "mib": 1 << 20, "g": 1 << 30, "gb": 1 << 30, "gib": 1 << 30, "t": 1 << 40, "tb": 1 << 40,
               "tib": 1 << 40}


def max_size(text: str | None) -> int | None:
    """RETRACE_MAX_SIZE ("500MB", "2G", "1048576"; units of 1024) in bytes; None if unset.
    A value that means nothing is warned about and ignored: the program must run."""
    text = (text or "").strip()
    if not text:
        return None
    number = text.rstrip("KMGTBIkmgtbi ")
    unit = text[len(number):].strip().lower()
    try:
        size = int(float(number) * _SIZE_UNITS[unit])
    except (KeyError, ValueError):
        size = 0
    if size <= 0:
        warn(f"{MAX_SIZE_VAR}={text!r} is not a size (such as 500MB or 2G); recording without a cap")
        return None
    return size


def warn(message: str) -> None:
    try:
        posix.write(2, f"retrace: warning: {message}\n".encode(errors="replace"))
    except OSError:
        pass


def our_site_dirs() -> list[str]:
    """sys.path entries that hold our start-up hook (the launcher's PYTHONPATH entry).

    Plain ``python`` has no such entry, so the program must not see it either;
    children still find the hook through the inherited PYTHONPATH.
    """
    hook = sys.modules.get("sitecustomize")
    path = getattr(hook, "__file__", None)
    if not path or not hasattr(hook, "_start_retrace"):
        return []
    here = os.path.dirname(os.path.abspath(path))
    return [entry for entry in sys.path if entry and os.path.abspath(entry) == here]


def describe_main(orig_argv: list[str]) -> dict:
    """What the interpreter is about to run, and the argv/sys.path it will show."""
    cmd = pycmdline.parse(orig_argv[1:])
    safe_path = bool(cmd.flags & {"P", "I"})
    main = {"kind": cmd.kind, "target": cmd.target, "options": cmd.options}
    if cmd.kind == "script":
        main["argv"] = [cmd.target, *cmd.args]
        # python's absolute form: joined to the cwd, not normalised (`./app.py` stays so
        # in __file__ and in tracebacks).
        given = cmd.target if os.path.isabs(cmd.target) else os.path.join(os.getcwd(), cmd.target)
        if os.path.isdir(cmd.target):  # python runs DIR/__main__.py as module __main__
            main["kind"] = "directory"
            path0 = given
            main["code_root"] = os.path.realpath(cmd.target)
        else:
            main["file"] = given
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
    ours = our_site_dirs()
    main["sys_path"] = ([] if safe_path else [path0]) + [p for p in sys.path if p not in ours]
    return main


def _normalize(name: str) -> str:
    return name.lower().replace("-", "_").replace(".", "_")


def _imported_distributions() -> dict[str, str]:
    """Versions of the distributions the program imported, cheaply.

    For each imported top-level module that lives in a site-packages directory,
    the ``NAME-VERSION.dist-info`` folder beside it names its version (one
    directory listing per site-packages, no metadata files read); a module's own
    ``__version__`` fills in where names differ (``yaml`` from PyYAML).
    """
    found: dict[str, str] = {}
    listings: dict[str, dict[str, tuple[str, str]]] = {}
    for name, module in list(sys.modules.items()):
        if "." in name or module is None:
            continue
        path = getattr(module, "__file__", None) or ""
        if "-packages" + os.sep not in path:
            continue
        root = path[: path.index("-packages" + os.sep) + len("-packages")]
        dists = listings.get(root)
        if dists is None:
            dists = listings[root] = {}
            try:
                entries = posix.listdir(root)
            except OSError:
                entries = []
            for entry in entries:
                if entry.endswith(".dist-info") and "-" in entry:
                    dist, _, version = entry[: -len(".dist-info")].partition("-")
                    dists[_normalize(dist)] = (dist, version)
        match = dists.get(_normalize(name))
        if match is not None:
            found[match[0]] = match[1]
        elif isinstance(getattr(module, "__version__", None), str):
            found[name] = module.__version__
    return dict(sorted(found.items()))


def _normal_exit_status() -> int:
    """The exit status of a process ending through atexit: an uncaught exception's 1 (or
    death by SIGINT for KeyboardInterrupt), else the last sys.exit code, else 0."""
    uncaught = getattr(sys, "last_value", None)
    if isinstance(uncaught, KeyboardInterrupt):
        return -_signal.SIGINT
    if uncaught is not None and not isinstance(uncaught, SystemExit):
        return 1
    return exits.exit_status(exits.ExitRequest.code) if exits.ExitRequest.requested else 0


def _resource_usage() -> dict:
    """CPU seconds and peak memory of this process so far, for ``inspect``."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {"user_seconds": round(usage.ru_utime, 3), "system_seconds": round(usage.ru_stime, 3),
            "max_rss_kib": usage.ru_maxrss}


class RecordedTree:
    """This process's place in the process tree, and the names of its children: forks
    (boundaries/forks.py) and Python programs it starts (bootstrap/children.py)."""

    def __init__(self, session: "RecordSession") -> None:
        self.session = session
        self.process_id = ROOT_PROCESS
        self.forks = 0
        self.forking = None  # the child being forked right now (os.fork under way)

    def next_child(self) -> str:
        self.forks += 1
        self.session.engine.output.enter_tree()  # (engine/outputorder.py)
        return f"{self.process_id}.{self.forks}"

    def python_child(self, argv, executables, env, how: str | None = None) -> "PythonChild | None":
        """A command about to start: if it is a Python program that can record, its name."""
        try:
            with untraced():
                command = children.python_argv(argv, executables, children.env_dict(env))
        except Exception as exc:  # a bug of ours must not fail the program's command
            warn(f"cannot tell whether a command is a Python program ({type(exc).__name__}: {exc}); "
                 "it runs unrecorded")
            return None
        if command is None:
            return None
        how = how or ("spawn" if any("multiprocessing" in arg for arg in command) else "subprocess")
        return PythonChild(self.session, self.next_child(), command, how)

    def child_started(self, child: "PythonChild | None", pid, stdio) -> None:
        """The parent's half of the link: processes/<id>/process.json, after the event
        that started the child (its index is known only then)."""
        if child is None or type(pid) is not int:
            return
        writer = self.session.engine.writer
        with untraced():
            link = {"settings_version": SETTINGS_VERSION, "process": child.process_id, "parent": self.process_id,
                    "parent_event": writer.events_so_far() - 1, "how": child.how, "pid": pid,
                    "argv": child.command, "start_time": time.time()}
            try:
                make_private_dirs(self.session.recording.process_dir(child.process_id))
                write_json(self.session.recording.link_path(child.process_id), link)
            except OSError as exc:
                warn(f"cannot link child process {child.process_id} into the recording ({exc.strerror or exc})")


    def ending_in_exec(self, child: "PythonChild | None") -> None:
        """os.exec*: this process's recording ends here; a Python program taking its place
        records as ``child`` (same pid), linked to this last event."""
        self.child_started(child, posix.getpid(), stdio=None)
        self.session._finish("exec", None)


def _user_site() -> list | None:
    """What ``site`` worked out at start-up of the user's site-packages (from HOME, or
    the user database): on replay the program sees these, not the replaying user's."""
    module = sys.modules.get("site")  # (python -S: not imported, and not ours to import)
    if module is None:
        return None
    return [module.ENABLE_USER_SITE, module.USER_BASE, module.USER_SITE]


class PythonChild:
    """A Python program being started by exec; it records as ``process_id``."""

    def __init__(self, session: "RecordSession", process_id: str, command: list[str], how: str) -> None:
        self.session = session
        self.process_id = process_id
        self.command = command
        self.how = how

    def environment(self, env, *, as_list: bool = False):
        """The child's environment (given as a fork_exec list, a mapping, or None for this
        process's), with what makes it record as this child: a ``KEY=value`` list for
        fork_exec (``as_list``), else a dict."""
        config = {"mode": "record", "recording": self.session.recording.path, "process": self.process_id,
                  "parent": self.session.tree.process_id, "how": self.how,
                  "snapshot_root": self.session.snapshot_root or ""}
        if self.session.secrets is not None:
            config.update(self.session.secrets.for_child())
        recording_env = children.recording_env(children.env_dict(env), config)
        return children.as_env_list(recording_env) if as_list else recording_env


class RecordSession:
    def __init__(self, config: dict) -> None:
        self.config = config
        self.recording = Recording(config["recording"])
        self.tree = RecordedTree(self)
        self.process_id = config.get("process") or ROOT_PROCESS  # a Python child started by exec: its name
        self.settings_path = self.recording.facts_path(self.process_id)
        self.process_facts: dict | None = None  # a forked child's process.json (the root's: settings)
        self._finishing = False
        self._closing = False
        self.engine: Recorder | None = None
        self.installer: Installer | None = None
        self.snapshot: Snapshot | None = None
        self.settings: dict = {}
        self._snapshot_lock = _allocate_lock()  # the code snapshot and settings.json: one writer at a time
        self._workspace_dirs: set[str] = set()  # external code directories the workspace maps
        self.upload_url: str | None = None  # RETRACE_UPLOAD
        self.secrets: RecordingSecrets | None = None  # made with the settings

    def start(self) -> bool:
        # A signal that kills while the recording is being set up (a pool terminating a
        # worker that is still starting) waits until the recording can end properly.
        blocked = _real_sigmask(_signal.SIG_BLOCK, _FLUSHED_SIGNALS)
        try:
            return self._start()
        finally:
            _real_sigmask(_signal.SIG_SETMASK, blocked)

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
            self.settings = self._initial_settings(main)
            sealer = self.secrets.start(self.settings)
            header = {"format": fmt.FORMAT_VERSION, "tool": retrace.__version__,
                      "python": list(sys.version_info[:3]), "pid": posix.getpid(),
                      "created": self.settings["start_time"]}
            if not root:
                self.settings.update(process=self.process_id, parent=self.config.get("parent"),
                                     how=self.config.get("how"), snapshot_root=self.snapshot_root or "")
                header.update(process=self.process_id, parent=self.config.get("parent"))
            write_json(self.settings_path, self.settings)
            if root:
                self._write_workspace()
            self.engine = Recorder(trace_path, header, warn=warn)
            self.engine.processes = self.tree
            self.engine.output = WriteLog(os.path.join(self.recording.path, ORDER_FILE), self.tree)
            self.upload_url = os.environ.get("RETRACE_UPLOAD") or None  # (storage.py)
            self.engine.writer.sealer = sealer
            cap = max_size(os.environ.get(MAX_SIZE_VAR))
            if cap is not None:
                self.engine.limit_size(cap, f"{MAX_SIZE_VAR}={os.environ[MAX_SIZE_VAR]}")
        except OSError as exc:
            warn(f"cannot record into {self.recording.path} ({exc.strerror or exc}); running unrecorded")
            return False
        self.snapshot = Snapshot(self.recording, self.snapshot_root, warn=warn)
        if main.get("file"):  # before any event: a recording killed early still has its script
            self.snapshot.copy_main(main["file"])
        self.engine.writer.on_tick = self._tick
        self._engine_end_process = self.engine.end_process
        self.engine.end_process = self._end_process  # os._exit (exits family) ends through us
        declared.configure_record(self.recording.path, main, self.settings["cwd"])  # before families()
        # Before the families' own fork hooks (randomness reseeds in the child): a child's
        # first events must already go to its own trace.
        os.register_at_fork(before=self.engine.writer.flush, after_in_child=self._after_fork_in_child)
        self.installer = Installer(self.engine, families())
        self.installer.install()
        atexit.register(self._at_exit)
        self._flush_on_fatal_signals()
        self.engine.start()
        return True

    def _become_exec_child(self) -> None:
        """A Python child started by exec: named by its parent. Its own Python children are
        named by it; programs further down that inherit this environment (through a
        shell, say) are not this process and do not record (startup.py)."""
        self.tree.process_id = self.process_id
        self.config = dict(self.config, announce=False)
        os.environ[CONFIG_VAR] = config_json({"mode": "record", "recording": self.recording.path,
                                              "announce": False, "pid": str(posix.getpid())})

    def _initial_settings(self, main: dict) -> dict:
        self.secrets = RecordingSecrets(os.environ, self.config, warn=warn)
        env = self.secrets.environment(dict(os.environ))
        main, orig_argv = self.secrets.command_line(main, list(sys.orig_argv))
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
            "orig_argv": orig_argv,
            "main": main,
            "cwd": os.getcwd(),
            "env": env,
            "hash_seed": os.environ.get("PYTHONHASHSEED"),
            # What a replay under a debugger must not have imported early (bootstrap/debugging.py).
            "modules_at_start": list(sys.modules),
            "user_site": _user_site(),
            "start_time": time.time(),
            "pid": posix.getpid(),
            "ppid": posix.getppid(),
            "distributions": {},
        }

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

    def _write_workspace(self) -> None:
        from retrace.workspace import replay_workspace

        external = set(self.snapshot.external_dirs) if self.snapshot is not None else set()
        self._workspace_dirs = external
        write_json(self.recording.workspace_path,
                   replay_workspace(self.settings, self.snapshot_root, fmt.RUN_DIR, external))

    # -- background work (flusher thread) --------------------------------------
    def _tick(self) -> None:
        # The flusher thread and the process's ending both snapshot: one at a time, so
        # an ending (os._exit right after start) waits for a copy already under way.
        with self._snapshot_lock:
            self._update_secrets()
            self._snapshot_step()

    def _snapshot_step(self) -> None:
        """A forked child copies too: what it imports after the fork (a pre-forking
        server's workers load the application) its parent may never import."""
        try:
            if self.process_id == ROOT_PROCESS and self.snapshot.code_root and not getattr(self, "_tree_done", False):
                self._tree_done = True
                self.snapshot.copy_tree()
                main_file = self.settings["main"].get("file")
                if main_file:
                    self.snapshot.copy_main(main_file)
            if self.settings["main"]["kind"] == "module":
                self._copy_main_module()
            self.snapshot.copy_new_modules()
            if self.process_id == ROOT_PROCESS and self.snapshot.external_dirs != self._workspace_dirs:
                self._write_workspace()  # its path mappings name every directory of code in run/_ext
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

    # -- endings --------------------------------------------------------------
    def _at_exit(self) -> None:
        self._finish("exit", _normal_exit_status())
        self._start_uploader()

    def _end_process(self, how: str, status: int | None = None, why: str | None = None) -> None:
        """Endings that skip atexit (os._exit, a fatal signal, retrace stopping itself)
        still complete the recording."""
        self._finish(how, status, why)
        self._start_uploader()

    def _finish(self, how: str, status: int | None, why: str | None = None) -> None:
        if self.engine.ended:
            return
        if self._finishing:  # a fatal signal in the middle of finishing: just end the trace
            self._engine_end_process(how, status, why)
            return
        self._finishing = True
        with untraced():
            self._tick()
            facts = self.settings if self.process_facts is None else self.process_facts
            facts["distributions"] = _imported_distributions()
            facts["end_time"] = time.time()
            facts["resources"] = _resource_usage()
            self._write_facts(facts)
        self._closing = True  # a fatal signal now must not cut the trace's last chunk short
        try:
            self._engine_end_process(how, status, why)
        finally:
            self._closing = False
        if self.secrets is not None and self.secrets.final(facts):  # (the trace written: its exact count)
            with untraced():
                self._write_facts(facts)
        if self.config.get("announce"):
            try:
                posix.write(2, f"retrace: recording saved to {self.recording.path}\n".encode())
            except OSError:
                pass

    def _start_uploader(self) -> None:
        """RETRACE_UPLOAD: the root process, ending, starts a detached uploader (storage.py)
        that waits for the rest of the tree and ships the recording."""
        url = self.upload_url
        if not url or self.process_id != ROOT_PROCESS or self.process_facts is not None:
            return
        self.upload_url = None
        from retrace.launch import helper_env

        env = helper_env()
        log = os.path.join(self.recording.path, "upload.log")
        try:
            with untraced():
                fd = posix.open(log, posix.O_WRONLY | posix.O_CREAT | posix.O_APPEND | posix.O_CLOEXEC, 0o600)
                try:
                    os.posix_spawn(sys.executable, [sys.executable, "-m", "retrace.storage", "upload",
                                                    self.recording.path, url], env,
                                   file_actions=[(os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
                                                 (os.POSIX_SPAWN_DUP2, fd, 1), (os.POSIX_SPAWN_DUP2, fd, 2)],
                                   setsid=True)
                finally:
                    posix.close(fd)
        except OSError as exc:
            warn(f"cannot start the upload of {self.recording.path} ({exc.strerror or exc})")

    def _after_fork_in_child(self) -> None:
        # The flusher thread may have been snapshotting as the fork happened: its lock
        # stays held in the child, where that thread does not exist.
        self._snapshot_lock = _allocate_lock()
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
        exits.ExitRequest.requested = False  # the parent's caught sys.exit is not the child's
        self.config = dict(self.config, announce=False)  # the root says where the recording is
        now = time.time()
        header = {"format": fmt.FORMAT_VERSION, "tool": retrace.__version__,
                  "python": list(sys.version_info[:3]), "pid": posix.getpid(), "created": now,
                  "process": child, "parent": parent}
        self.process_facts = {"settings_version": SETTINGS_VERSION, "process": child, "parent": parent,
                              "parent_event": parent_events, "how": "fork", "pid": posix.getpid(),
                              "ppid": posix.getppid(), "start_time": now}
        self.settings_path = os.path.join(directory, fmt.PROCESS_FILE)
        # The link before the trace: a child killed as it starts (a pool's terminate) must
        # not leave a trace that says nothing of where it belongs.
        write_json(self.settings_path, self.process_facts)
        self.engine.start_child(os.path.join(directory, fmt.TRACE_FILE), header)
        if self.secrets is not None:
            self.secrets.after_fork()

    def _flush_on_fatal_signals(self) -> None:
        """Signals that kill by default: write what we have, then die of the signal as before.

        The handler stands in for SIG_DFL (boundaries/signals.py): the program still
        sees SIG_DFL and may install a handler of its own, which then runs (recorded)
        instead; setting SIG_DFL again puts this one back. It calls ``_signal``'s
        originals, captured before the signals family patched them.
        """

        def flush_and_die(signum, frame):
            if self._closing:  # the trace is being closed (the process is ending): let it finish
                return
            self.engine.end_process("signal", -signum)
            _real_signal(signum, _signal.SIG_DFL)
            posix.kill(posix.getpid(), signum)

        for signum in _FLUSHED_SIGNALS:
            if _real_getsignal(signum) == _signal.SIG_DFL:
                if not signals_family.stand_in(signum, flush_and_die):
                    _real_signal(signum, flush_and_die)


def start(config: dict) -> RecordSession | None:
    session = RecordSession(config)
    return session if session.start() else None
