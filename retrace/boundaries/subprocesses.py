"""Subprocesses of non-Python programs: the command is not run on replay.

Only the calls that start, wait for and signal a child are patched; the
``subprocess`` module's Python code runs for real in both modes on top of them,
and so do ``os.popen`` (a ``subprocess.Popen`` underneath) and everything built
on ``Popen`` (``run``, ``call``, ``check_call``, ``check_output``,
``getoutput``...):

- ``_posixsubprocess.fork_exec`` forks and executes the child: a leaf returning
  the child's pid. Replay forks nothing and returns the recorded pid.
- ``os.posix_spawn``/``posix_spawnp`` (``Popen`` takes that path for an absolute
  executable with ``close_fds=False``): leaves returning the pid.
- ``os.waitpid``, ``wait``, ``wait3``, ``wait4``, ``waitid``: leaves returning
  the recorded status, so return codes, ``poll()`` loops and ``wait(timeout)``
  replay (their ``time.sleep`` calls are clock leaves: instant on replay).
- ``os.kill``/``killpg`` and ``signal.pidfd_send_signal``: leaves, so
  ``terminate()``/``kill()``/``send_signal()`` signal nothing on replay. A signal
  a process sends *to itself* is not the outside world: it is delivered for real
  in both modes (see ``_make_signaller``), so its handler runs on replay too.
- ``os.system``: a leaf returning the status.

The pipes are the files family's: ``os.pipe``, ``os.read``, ``os.write``,
``os.close``, ``os.dup`` and the file objects ``Popen`` opens over the pipe
descriptors are leaves there, so what the child wrote (and the exec error a
missing command reports through its error pipe) comes from the recording.
``communicate()`` with two or more pipes waits on them with ``selectors``: that
replays through the readiness family.

Keys: ``fork_exec`` is fingerprinted by the argument vector, the executables
tried, the working directory and whether an environment was given -- not by
descriptor numbers nor by the environment's content (a debugger attached to the
replay adds variables of its own).

Known limit: a child that writes to an *inherited* descriptor (``os.system``,
``Popen`` without ``stdout=PIPE``) writes straight to the terminal while
recording; replay runs no child, so that output does not appear on replay.

Children that are Python programs (``sys.executable``, a script whose ``#!`` names
it, multiprocessing's spawn workers) record too, into a recording of their own
(bootstrap/children.py): the parent names the child and passes the name in its
environment; on replay it takes the recorded pid and starts the child as a replay
of that recording. The decision is made once, while recording: replay follows what
the recording says (``processes/<id>/process.json``), wherever it runs.
"""

from __future__ import annotations

import posix

from retrace.boundaries.spec import Family, Patch, all_args, replacing
from retrace.engine.state import state


# -- keys: the arguments that matter, cheap and never raising -------------------------
def _fs(value):
    kind = type(value)
    if kind is str or kind is bytes or value is None:
        return value
    try:
        return posix.fspath(value)
    except TypeError:
        return kind.__name__


def _fs_list(values):
    if values is None:
        return None
    try:
        return tuple(_fs(item) for item in values)
    except TypeError:
        return type(values).__name__


def _fork_exec_key(argv, executables, close_fds, pass_fds, cwd, env, *rest):
    return (_fs_list(argv), _fs_list(executables), _fs(cwd), env is None)


def _spawn_key(path, argv, env=None, *args, **kwargs):
    return (_fs(path), _fs_list(argv))


# -- starting a child ----------------------------------------------------------------
# The child's name (a Python child that records, else None) rides along as the last
# argument of the leaf: the key ignores it, the real call takes it off.
def _make_fork_exec(engine, original, name):
    def start(*args):
        *args, child = args
        if child is not None:
            args[5] = child.environment(args[5], as_list=True)
        return original(*args)

    leaf = engine.leaf(name, replacing(start, original), key=_fork_exec_key, depth=2)

    def fork_exec(*args):
        if state.busy:  # retrace's own work, or inside another boundary
            return original(*args)
        tree = engine.process_tree
        if tree is None or len(args) < 12:
            return leaf(*args, None)
        child = tree.python_child(args[0], args[1], args[5]) if engine.recording else None
        pid = leaf(*args, child)
        tree.child_started(child, pid, stdio=(args[6], args[9], args[11]))
        return pid

    return replacing(fork_exec, original)


def _spawn_stdio(file_actions) -> tuple:
    """Which standard streams a posix_spawn child gets from elsewhere (-1: inherited)."""
    stdio = [-1, -1, -1]
    for action in file_actions or ():
        target = action[1] if action[0] != posix.POSIX_SPAWN_DUP2 else action[2]
        if type(target) is int and 0 <= target <= 2:
            stdio[target] = 3  # not one of the parent's standard streams
    return tuple(stdio)


def _make_spawn(engine, original, name):
    def start(path, argv, env, *rest, **kwargs):
        *rest, child = rest
        if child is not None:
            env = child.environment(env)
        return original(path, argv, env, *rest, **kwargs)

    leaf = engine.leaf(name, replacing(start, original), key=_spawn_key, depth=2)

    def posix_spawn(path, argv, env, **kwargs):
        if state.busy:
            return original(path, argv, env, **kwargs)
        tree = engine.process_tree
        if tree is None:
            return leaf(path, argv, env, None, **kwargs)
        child = tree.python_child(argv, (path,), env) if engine.recording else None
        pid = leaf(path, argv, env, child, **kwargs)
        tree.child_started(child, pid, stdio=_spawn_stdio(kwargs.get("file_actions")))
        return pid

    return replacing(posix_spawn, original)


# -- replacing this process's program ----------------------------------------------------
def _exec_key(path, argv, env=None):
    return (_fs(path), _fs_list(argv))


def _make_exec(engine, original, name):
    """``os.execv``/``execve`` (the other ``os.exec*`` call them): the process's recording
    ends here (its end says "exec"); a Python program taking its place records as this
    process's child, with the same pid, and replays in its place."""
    announce = engine.leaf(name, lambda path, argv, env=None: None, key=_exec_key, depth=2)

    def execute(path, argv, *env):
        tree = engine.process_tree
        if state.busy or tree is None:
            return original(path, argv, *env)
        environment = env[0] if env else None
        child = tree.python_child(argv, (path,), environment, how="exec") if engine.recording else None
        announce(path, argv, *env)
        if not engine.recording:
            return tree.replace_by_replay()
        tree.ending_in_exec(child)
        if child is None:
            return original(path, argv, *env)
        return posix.execve(path, argv, child.environment(environment))

    return replacing(execute, original)


# -- waiting ---------------------------------------------------------------------------
def _after_the_end(stored, args, kwargs):
    """os.waitpid on replay; ``None`` comes back only for a call after the recorded end.

    That is a ``Popen`` finalizer at interpreter shutdown (``__del__`` polls its
    child), which replay cannot answer from the recording: say "still running" to a
    poll and "exited" to a blocking wait, so that no loop waits for ever."""
    if stored is not None:
        return stored
    pid = args[0] if args else kwargs.get("pid", 0)
    options = args[1] if len(args) > 1 else kwargs.get("options", 0)
    if type(options) is int and options & posix.WNOHANG or type(pid) is not int or pid <= 0:
        return (0, 0)
    return (pid, 0)


def _make_waitpid(engine, original, name):
    if engine.recording:
        return engine.leaf(name, original, key=all_args)
    def load(stored, args, kwargs):
        """A replayed child (forks.py, children.py) runs for real: wait for it where the
        recording saw it end (a blocking wait, or a poll that found it gone)."""
        recorded = _after_the_end(stored, args, kwargs)
        tree = engine.process_tree
        pid = args[0] if args else kwargs.get("pid")
        real = None if tree is None else tree.replayed_children.get(pid)
        if real is not None and type(recorded) is tuple and recorded and recorded[0] == pid:
            tree.replayed_children.pop(pid, None)
            tree.wait_for_child(pid, real, recorded)
        return recorded

    return engine.leaf(name, original, key=all_args, load=load)


# -- signalling: others through a leaf, ourselves for real ------------------------------
_SELF = "self"  # what the leaf records when the signal reaches this process


def _kill_reaches_self(pid) -> bool:
    if type(pid) is not int:
        return False
    return pid == posix.getpid() or pid == 0 or pid == -1 or (pid < -1 and -pid == posix.getpgrp())


def _killpg_reaches_self(pgid) -> bool:
    return type(pgid) is int and (pgid == 0 or pgid == posix.getpgrp())


def _make_signaller(reaches_self):
    def make(engine, original, name):
        """``os.kill``/``killpg``: a leaf for other processes; a signal to this process
        is delivered for real in both modes.

        The leaf decides (recording: the real pid and process group; replay: the
        recording) and, for another process, sends the signal while recording. For
        this process it only records ``"self"``; the signal is then sent *after* the
        leaf's event, in both modes, so the handler runs at the same point. On replay
        it goes to the replaying process alone (never a process group: that would
        reach whoever started the replay)."""

        def send(target, sig):
            if reaches_self(target):
                return _SELF
            return original(target, sig)

        send.__name__ = original.__name__
        leaf = engine.leaf(name, send, key=all_args, depth=2)
        replaying = not engine.recording
        real_kill = posix.kill

        def signal_process(target, sig, /):
            if state.busy:
                return original(target, sig)
            if leaf(target, sig) == _SELF:
                if replaying:
                    real_kill(posix.getpid(), sig)
                else:
                    original(target, sig)
            return None

        return replacing(signal_process, original)

    return make


# -- the family -------------------------------------------------------------------------
FAMILY = Family(
    name="subprocesses",
    doc=__doc__,
    patches=(
        Patch("_posixsubprocess", "fork_exec", why="forks and executes a child (subprocess.Popen)",
              make=_make_fork_exec),
        Patch("os", "posix_spawn", why="starts a child", make=_make_spawn, optional=True),
        Patch("os", "posix_spawnp", why="starts a child", make=_make_spawn, optional=True),
        Patch("os", "system", why="runs a command in a shell", key=all_args),
        Patch("os", "execv", why="replaces this process's program", make=_make_exec),
        Patch("os", "execve", why="replaces this process's program", make=_make_exec),
        Patch("os", "waitpid", why="a child's exit status", make=_make_waitpid),
        Patch("os", "wait", why="a child's exit status"),
        Patch("os", "wait3", why="a child's exit status and resource usage", key=all_args, optional=True),
        Patch("os", "wait4", why="a child's exit status and resource usage", key=all_args, optional=True),
        Patch("os", "waitid", why="a child's state", key=all_args, optional=True),
        Patch("os", "kill", why="signals another process", make=_make_signaller(_kill_reaches_self)),
        Patch("os", "killpg", why="signals a process group", make=_make_signaller(_killpg_reaches_self)),
        Patch("os", "pidfd_open", why="a descriptor for a process", key=all_args, optional=True),
        Patch("signal", "pidfd_send_signal", why="signals a process through its descriptor", key=all_args,
              optional=True),
    ),
)
