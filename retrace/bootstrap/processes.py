"""The process tree: this process's place in it, and the names and replays of its children.

Each session puts one tree on its engine (``engine.process_tree``): a
``RecordedTree`` while recording (bootstrap/record.py), a ``ReplayedTree`` on
replay (bootstrap/replay.py). The boundaries that start processes talk to it
through ``ProcessTree``'s protocol, below: boundaries/forks.py (``os.fork``) and
boundaries/subprocesses.py (``fork_exec``, ``posix_spawn``, ``os.exec*``,
``os.waitpid``). docs/processes.md tells the whole story.
"""

from __future__ import annotations

import _signal
import posix
import time

from retrace.bootstrap import children
from retrace.messages import warn
from retrace.engine.state import untraced
from retrace.errors import EXIT_BAD_RECORDING, EXIT_DIVERGED, EXIT_RECORDING_ENDS, RecordingError, RetraceError
from retrace.launch import replay_command
from retrace.recording import ROOT_PROCESS, SETTINGS_VERSION, make_private_dirs, write_json

# Exit statuses of a replay that failed (a child's makes its parent's replay fail too).
_REPLAY_FAILURES = frozenset({EXIT_DIVERGED, EXIT_BAD_RECORDING, EXIT_RECORDING_ENDS})


class ProcessTree:
    """What the boundaries that start processes ask of the tree, in either mode.

    Both modes:

    - ``process_id``: this process's name, ``"0"`` for the root, ``"0.1"`` for its first
      child, ``"0.1.2"`` for that child's second; the session changes it when this
      process becomes a child (a fork's child, an exec child named by its parent).
    - ``forks``: how many children this process has named: the number of the last.
    - ``forking``: the name of the child ``os.fork`` is making right now, else None.
      forks.py sets it around the real fork; the session's fork hook, in the child,
      reads it to follow that child (None there: forked by C code, not recorded).
    - ``next_child()``: forks.py, and a recording's ``python_child``: the next child's
      name; from now on this process is part of a tree (engine/outputorder.py).
    - ``child_started(child, pid, stdio)``: subprocesses.py, right after the event of a
      ``fork_exec``/``posix_spawn`` that started ``pid`` (``child``: what
      ``python_child`` said, None on replay). Recording links the child's recording to
      that event; replay starts the child's replay if it recorded.

    Recording only (``RecordedTree``; subprocesses.py calls them when
    ``engine.recording``): ``python_child(argv, executables, env, how)``, a
    ``PythonChild`` for a command that is a Python program able to record, else
    None; ``ending_in_exec(child)``, this process's recording ends in an ``os.exec*``.

    Replay only (``ReplayedTree``): ``follows(child)``, whether the replay goes into
    that child (``--process`` may name a process elsewhere); ``on_the_way`` and
    ``hand_over_to(real_pid)``, an ancestor forked on the way to the ``--process``
    one; ``replayed_children``, recorded pid -> real pid of its replay (forks.py fills
    it, subprocesses.py's ``os.waitpid`` takes from it); ``wait_for_child(pid, real,
    recorded)``; ``replace_by_replay()``, a recorded ``os.exec*``.
    """

    def __init__(self, session) -> None:
        self.session = session
        self.process_id = ROOT_PROCESS
        self.forks = 0
        self.forking = None  # the child being forked right now (os.fork under way)

    def next_child(self) -> str:
        self.forks += 1
        self.session.engine.output.enter_tree()  # (engine/outputorder.py)
        return f"{self.process_id}.{self.forks}"

    def child_started(self, child, pid, stdio) -> None:
        raise NotImplementedError


class RecordedTree(ProcessTree):
    """A recording's tree: it names the children, forks (boundaries/forks.py) and Python
    programs it starts (bootstrap/children.py), and links their recordings to its own."""

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
        self.session.finish("exec", None)


class PythonChild:
    """A Python program being started by exec; it records as ``process_id``."""

    def __init__(self, session, process_id: str, command: list[str], how: str) -> None:
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


class ReplayedTree(ProcessTree):
    """A replay's tree: forks follow the children's recordings, recorded Python children
    are started as replays of theirs. ``fail`` ends the replay (bootstrap/replay.py)."""

    def __init__(self, session, fail) -> None:
        super().__init__(session)
        self.fail = fail
        self.replayed_children: dict = {}  # recorded pid -> pid of the real replayed child
        self._exec_children: dict | None = None  # recorded pid -> names of Python children started by exec
        # --process ID: the one process to replay, alone. Until the replay reaches it, its
        # ancestors replay silently (stdout and stderr to /dev/null), forking only on the
        # way to it; once there, its own children are not run (their effects come from
        # its recording, as for any command).
        self.target: str | None = None
        self.reached = False
        self._muted: tuple[int, int] | None = None
        self.failed_children: list[tuple[int, int]] = []  # (recorded pid, exit code of its replay)

    def wait_for_child(self, pid: int, real: int, recorded=None) -> None:
        """Wait for the replay of child ``pid`` (its real pid: ``real``). A replay failure
        of its own (it diverged, its recording is unusable or cut short) that the
        recorded child did not end with fails this replay too, at its end
        (``_at_exit``): the report is the child's, on the shared stderr."""
        try:
            _, status = posix.waitpid(real, 0)
        except ChildProcessError:
            return
        if not posix.WIFEXITED(status):
            return
        code = posix.WEXITSTATUS(status)
        was = recorded[1] if type(recorded) is tuple and len(recorded) == 2 else None
        recorded_code = posix.WEXITSTATUS(was) if type(was) is int and posix.WIFEXITED(was) else None
        if code in _REPLAY_FAILURES and code != recorded_code:
            self.failed_children.append((pid, code))

    def set_target(self, target: str | None) -> None:
        self.target = target
        if target is not None and target != self.process_id:
            self.mute()
        self.reached = target == self.process_id

    @property
    def on_the_way(self) -> bool:
        return self.target is not None and not self.reached

    def follows(self, child: str) -> bool:
        """Does the replay go into this child (always, unless --process names a process)?"""
        if self.target is None:
            return True
        return not self.reached and (self.target == child or self.target.startswith(child + "."))

    def mute(self) -> None:
        null = posix.open("/dev/null", posix.O_WRONLY | posix.O_CLOEXEC)
        self._muted = (posix.dup(1), posix.dup(2))
        posix.dup2(null, 1)
        posix.dup2(null, 2)
        posix.close(null)

    def _unmute(self) -> None:
        if self._muted is not None:
            for target, saved in zip((1, 2), self._muted):
                posix.dup2(saved, target)
                posix.close(saved)
            self._muted = None

    def hand_over_to(self, real_pid: int) -> None:
        """--process: an ancestor of the replayed process, now forked on the way to it,
        has nothing more to do; it ends as that child ends. Untraced: its calls here are
        retrace's, not the program's (``_signal.signal`` is the signals family's, which
        would ask the recording for a ``signal.getsignal`` the program never made: a
        divergence, exit 86, when the child died of a signal, as a pool's workers do)."""
        with untraced():
            try:
                _, status = posix.waitpid(real_pid, 0)
            except ChildProcessError:
                posix._exit(0)
            code = posix.waitstatus_to_exitcode(status)
            if code < 0:  # killed by a signal: so is this process
                try:
                    _signal.signal(-code, _signal.SIG_DFL)
                    posix.kill(posix.getpid(), -code)
                except (OSError, ValueError):  # (ValueError: forked from a thread other than the main one)
                    pass
                code = 128 - code
            posix._exit(code)

    def child_started(self, child, pid, stdio) -> None:
        """A recorded command started (subprocesses.py): if it was a Python child that
        recorded, start its replay; the recorded pid stands for it from now on."""
        with untraced():
            process_id = self._exec_child_named(pid)
            if process_id is None:
                return
            self.session.engine.output.enter_tree()  # (engine/outputorder.py)
            self.forks = max(self.forks, int(process_id.rpartition(".")[2]))  # later forks keep their names
            if not self.follows(process_id):
                return  # --process names a process elsewhere in the tree
            recording = self.session.recording
            if not children.has_recording(recording, process_id):
                return  # it did not record (it failed to start, say): the recording has its effects
            try:
                self.replayed_children[pid] = children.start_replay(recording, process_id, stdio,
                                                                    self.session.order_config())
            except (OSError, RetraceError) as error:
                self.fail(RecordingError(f"cannot replay child process {process_id}: {error}"))

    def replace_by_replay(self) -> None:
        """A recorded os.exec*: the replay of the Python program that took this process's
        place takes it again; with none (another program, or --process naming this one),
        the replay ends here, where the recording does."""
        with untraced():
            recording = self.session.recording
            for link in self.session.child_links(self.process_id):
                process_id = link.get("process")
                if link.get("how") == "exec" and self.follows(process_id) and children.has_recording(
                        recording, process_id):
                    try:
                        argv, env = replay_command(recording.path, process_id, alone=False,
                                                   extra=self.session.order_config())
                        posix.execve(argv[0], argv, env)
                    except (OSError, RetraceError) as error:
                        self.fail(RecordingError(f"cannot replay process {process_id}: {error}"))
            self.session.engine.check_end()
            posix._exit(0)

    def _exec_child_named(self, pid) -> str | None:
        """Which of this process's Python children was started with ``pid`` (in the order
        they started: a pid may come round again)."""
        if self._exec_children is None:
            self._exec_children = {}
            for link in self.session.child_links(self.process_id):
                if link.get("how") not in ("fork", "exec") and type(link.get("pid")) is int:
                    self._exec_children.setdefault(link["pid"], []).append(link["process"])
        named = self._exec_children.get(pid)
        return named.pop(0) if named else None

    def became(self, child: str) -> None:
        """This process is now the replay of ``child``, a replayed fork's real child (the
        session has switched its engine to the child's recording)."""
        self.process_id, self.forks, self.replayed_children, self._exec_children = child, 0, {}, None
        if self.target == child:
            self.reached = True
            self._unmute()
