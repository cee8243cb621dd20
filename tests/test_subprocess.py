"""Subprocesses replay from the recording: the command is not run again.

Each end-to-end test records a program that runs commands of its own (shell
scripts in a ``bin`` directory put on PATH for the recording). Every run of a
tool appends a line to a log file and prints how many runs came before it, so
(a) a plain second run prints something else (the output really comes from the
command), and (b) after a replay the log has no new line (replay ran nothing).
Before replay the tools are deleted or replaced: a replay that ran a command
would fail or print something else.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time

import pytest

from conftest import PYTHON, assert_same_run, run
from fakes import script_env

from retrace.trace.model import Event, iter_events
from retrace.trace.reader import TraceReader

# A tool: logs its run, prints its run number, its arguments, some of its
# environment and its working directory, writes to stderr, exits with $EXIT.
MYTOOL = r"""#!/bin/sh
n=$(cat "$TOOLLOG" 2>/dev/null | wc -l | tr -d ' ')
echo "mytool $*" >> "$TOOLLOG"
echo "mytool run $n: $*"
if [ -n "$SHOWENV" ]; then echo "GREETING=$GREETING cwd=$(pwd)"; fi
if [ -n "$TOERR" ]; then echo "to stderr $n" >&2; fi
if [ -n "$LATIN" ]; then printf 'caf\351 line1\r\nline2\r\n'; fi
exit ${EXIT:-0}
"""

# A slow tool: logs its start, then becomes `sleep` (so a kill reaches the sleeper).
SLOWTOOL = r"""#!/bin/sh
echo "slowtool $*" >> "$TOOLLOG"
exec sleep "${1:-5}"
"""

# Reads stdin, answers with what it read and its run number.
UPPER = r"""#!/bin/sh
n=$(cat "$TOOLLOG" 2>/dev/null | wc -l | tr -d ' ')
echo "upper" >> "$TOOLLOG"
echo "upper run $n"
tr a-z A-Z
echo "to stderr $n" >&2
"""

REPLACEMENT = """#!/bin/sh
echo "REPLACED TOOL RAN"
echo replaced >> "$TOOLLOG"
exit 42
"""


class Tools:
    def __init__(self, root) -> None:
        self.bin = root / "bin"
        self.bin.mkdir()
        self.log = root / "tool.log"
        for name, text in (("mytool", MYTOOL), ("slowtool", SLOWTOOL), ("upper", UPPER)):
            path = self.bin / name
            path.write_text(text)
            path.chmod(0o755)
        self.env = {"PATH": f"{self.bin}{os.pathsep}{os.environ['PATH']}", "TOOLLOG": str(self.log)}

    def runs(self) -> list[str]:
        return self.log.read_text().splitlines() if self.log.exists() else []

    def replace(self) -> None:
        """The world changes: every tool now does something else."""
        for path in self.bin.iterdir():
            path.write_text(REPLACEMENT)

    def remove(self) -> None:
        for path in self.bin.iterdir():
            path.unlink()
        self.bin.rmdir()


@pytest.fixture
def tools(tmp_path):
    return Tools(tmp_path)


def events(recording) -> list[str]:
    return [e.boundary for e in iter_events(TraceReader(str(recording / "trace.bin"))) if isinstance(e, Event)]


def record_ok(app, tools, **kwargs):
    recorded = app.record(env=tools.env, **kwargs)
    assert recorded.returncode == 0, recorded.stderr
    return recorded


def check_replays(app, tools, recorded, *, times=2):
    """Replay (twice) with the tools gone: same run, and no tool ran."""
    before = tools.runs()
    for _ in range(times):
        assert_same_run(recorded, app.replay())
    assert tools.runs() == before


# -- run, check_output, errors, shell, text, env, cwd ------------------------------------
BASICS = """
    import os, subprocess, sys
    r = subprocess.run(["mytool", "run"], stdout=subprocess.PIPE)
    print("run:", r.returncode, r.stdout, r.args)
    print("check_output:", subprocess.check_output(["mytool", "co", "x y"]))
    try:
        subprocess.check_output(["mytool", "fails"], env={**os.environ, "EXIT": "3"})
    except subprocess.CalledProcessError as e:
        print("CalledProcessError:", e.returncode, e.output, e.cmd, str(e))
    print("call:", subprocess.call(["mytool", "call"], stdout=subprocess.DEVNULL, env={**os.environ, "EXIT": "5"}))
    try:
        subprocess.check_call(["mytool", "check_call"], stdout=subprocess.DEVNULL, env={**os.environ, "EXIT": "1"})
    except subprocess.CalledProcessError as e:
        print("check_call:", e)
    print("shell:", repr(subprocess.check_output("mytool shell | tr a-z A-Z; echo $((6*7))", shell=True, text=True)))
    print("stderr=STDOUT:", subprocess.run(["mytool", "both"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                          env={**os.environ, "TOERR": "1"}).stdout)
    print("text:", repr(subprocess.check_output(["mytool", "text"], text=True, env={**os.environ, "LATIN": "1"},
                                                encoding="latin-1")))
    print("bytes:", subprocess.check_output(["mytool", "bytes"], env={**os.environ, "LATIN": "1"}))
    os.mkdir("workdir")
    out = subprocess.check_output(["mytool", "env"], cwd="workdir", text=True,
                                  env={**os.environ, "SHOWENV": "1", "GREETING": "hello there"})
    print("env and cwd:", out.replace(os.getcwd(), "<cwd>"))
    print("getoutput:", subprocess.getstatusoutput("mytool status; exit 4"))
    try:
        subprocess.run(["no-such-command-here", "arg"])
    except FileNotFoundError as e:
        print("missing:", type(e).__name__, e.errno, e.filename, e)
    try:
        subprocess.run(["mytool"], cwd="no-such-dir")
    except FileNotFoundError as e:
        print("missing cwd:", e)
    with subprocess.Popen(["mytool", "popen"], stdout=subprocess.PIPE) as p:
        print("popen pid is int:", type(p.pid) is int, "lines:", p.stdout.readlines(), "wait:", p.wait())
    p = subprocess.Popen(["mytool", "communicate"], stdout=subprocess.PIPE)
    print("communicate:", p.communicate(), p.returncode, p.poll())
"""


def test_run_check_output_errors_shell_text_env_cwd(program, tools):
    app = program(BASICS)
    recorded = record_ok(app, tools)
    out = recorded.stdout
    assert "run: 0 b'mytool run 0: run\\n' ['mytool', 'run']" in out
    assert "CalledProcessError: 3 b'mytool run 2: fails\\n'" in out
    assert "call: 5" in out and "check_call: Command '['mytool', 'check_call']' returned non-zero exit status 1." in out
    assert "shell: 'MYTOOL RUN 5: SHELL\\n42\\n'" in out
    assert "stderr=STDOUT: b'mytool run 6: both\\nto stderr 6\\n'" in out
    assert "text: 'mytool run 7: text\\ncaf\u00e9 line1\\nline2\\n'" in out  # universal newlines, latin-1
    assert "bytes: b'mytool run 8: bytes\\ncaf\\xe9 line1\\r\\nline2\\r\\n'" in out
    assert "env and cwd: mytool run 9: env\nGREETING=hello there cwd=<cwd>/workdir\n" in out
    assert "getoutput: (4, 'mytool run 10: status')" in out
    assert "missing: FileNotFoundError 2 no-such-command-here [Errno 2] No such file or directory: " in out
    assert "missing cwd: [Errno 2] No such file or directory: 'no-such-dir'" in out
    assert "popen pid is int: True lines: [b'mytool run 11: popen\\n'] wait: 0" in out
    assert "communicate: (b'mytool run 12: communicate\\n', None) 0 0" in out
    assert len(tools.runs()) == 13
    # A plain second run sees the world as it is now: other output.
    os.rmdir(app.dir / "workdir")
    plain = run([PYTHON, str(app.script)], cwd=app.dir, env=tools.env)
    assert plain.returncode == 0 and plain.stdout != out
    assert len(tools.runs()) == 26
    # Replay with the commands and the working directories gone.
    os.rmdir(app.dir / "workdir")
    tools.remove()
    check_replays(app, tools, recorded)
    names = events(app.recording)
    # 13 runs, the missing command and cwd: by fork_exec, or (Python 3.13, where it can)
    # posix_spawn
    assert names.count("_posixsubprocess.fork_exec") + names.count("os.posix_spawn") == 15
    assert "os.waitpid" in names


def test_replaced_commands_do_not_run_on_replay(program, tools):
    app = program("""
        import subprocess
        print(subprocess.check_output(["mytool", "a"]))
        print(subprocess.run("mytool b", shell=True, stdout=subprocess.PIPE))
    """)
    recorded = record_ok(app, tools)
    tools.replace()
    plain = run([PYTHON, str(app.script)], cwd=app.dir, env=tools.env)
    assert "returned non-zero exit status 42" in plain.stderr and tools.runs()[-1] == "replaced"
    check_replays(app, tools, recorded)
    assert "REPLACED" not in recorded.stdout


def test_date_output_is_the_recorded_one(program):
    app = program("""
        import subprocess
        first = subprocess.check_output(["date", "+%s.%N"], text=True)
        print(first)
    """)
    recorded = app.record()
    assert recorded.returncode == 0, recorded.stderr
    again = run([PYTHON, str(app.script)], cwd=app.dir)
    assert again.stdout != recorded.stdout  # `date` really answers something new each time
    assert_same_run(recorded, app.replay())


# -- os.system, os.popen, posix_spawn ---------------------------------------------------
def test_os_system_and_os_popen(program, tools):
    app = program("""
        import os, subprocess
        print("system:", os.system("mytool sys >/dev/null"))
        os.environ["EXIT"] = "3"
        status = os.system("mytool sys-fails >/dev/null")
        print("system status:", status, os.waitstatus_to_exitcode(status))
        del os.environ["EXIT"]
        with os.popen("mytool popen-read; echo second line") as f:
            print("popen:", f.readlines())
        f = os.popen("mytool popen-exit; exit 7")
        print("popen read:", repr(f.read()), "close:", f.close())
        w = os.popen("upper > upper.out 2>&1", "w")
        w.write("written to the pipe\\n")
        print("popen write close:", w.close())
        print("file written by the child:", open("upper.out").read().splitlines())
        quiet = [(os.POSIX_SPAWN_OPEN, 1, "/dev/null", os.O_WRONLY, 0)]
        pid = os.posix_spawnp("mytool", ["mytool", "spawnp"], os.environ, file_actions=quiet)
        print("spawned:", os.waitpid(pid, 0)[1])
    """)
    recorded = record_ok(app, tools)
    out = recorded.stdout
    assert "system: 0\nsystem status: 768 3\n" in out
    assert "popen: ['mytool run 2: popen-read\\n', 'second line\\n']" in out
    assert "popen read: 'mytool run 3: popen-exit\\n' close: 1792" in out
    assert "popen write close: None" in out
    assert "file written by the child: ['upper run 4', 'WRITTEN TO THE PIPE', 'to stderr 4']" in out
    assert "spawned: 0" in out
    assert len(tools.runs()) == 6
    plain = run([PYTHON, str(app.script)], cwd=app.dir, env=tools.env)
    assert plain.returncode == 0 and plain.stdout != out
    (app.dir / "upper.out").unlink()
    tools.remove()
    check_replays(app, tools, recorded)
    assert not (app.dir / "upper.out").exists()
    names = events(app.recording)
    assert names.count("os.system") == 2 and names.count("os.posix_spawnp") == 1


def test_the_wait_family(program, tools):
    app = program("""
        import os
        quiet = [(os.POSIX_SPAWN_OPEN, 1, "/dev/null", os.O_WRONLY, 0)]
        def spawn(code):
            return os.posix_spawnp("mytool", ["mytool", str(code)], {**os.environ, "EXIT": str(code)},
                                   file_actions=quiet)
        pid = spawn(1); r = os.wait4(pid, 0)
        print("wait4", r[0] == pid, r[1], type(r[2]).__name__, r[2].ru_maxrss > 0)
        pid = spawn(2); r = os.waitid(os.P_PID, pid, os.WEXITED)
        print("waitid", r.si_pid == pid, r.si_status, r.si_code == os.CLD_EXITED, type(r).__name__)
        pid = spawn(3); r = os.wait3(0); print("wait3", r[0] == pid, r[1], type(r[2]).__name__)
        pid = spawn(4); r = os.wait(); print("wait", r[0] == pid, r[1])
        try:
            os.wait()
        except ChildProcessError as e:
            print("no child:", e)
        if hasattr(os, "pidfd_open"):
            import signal, subprocess
            p = subprocess.Popen(["slowtool", "5"])
            fd = os.pidfd_open(p.pid)
            signal.pidfd_send_signal(fd, signal.SIGTERM)
            print("pidfd:", os.waitid(os.P_PIDFD, fd, os.WEXITED).si_status, p.wait())
            os.close(fd)
    """)
    recorded = record_ok(app, tools)
    assert recorded.stdout.startswith(
        "wait4 True 256 struct_rusage True\nwaitid True 2 True waitid_result\n"
        "wait3 True 768 struct_rusage\nwait True 1024\nno child: [Errno 10] No child processes\n")
    if hasattr(os, "pidfd_open"):
        assert recorded.stdout.endswith("pidfd: 15 0\n")
    tools.remove()
    check_replays(app, tools, recorded)


def test_os_system_output_to_the_terminal_is_not_replayed(program, tools):
    """Known limit: a child writing to an inherited descriptor wrote while recording only."""
    app = program("""
        import os, sys
        print("status", os.system("mytool to-terminal"), flush=True)
    """)
    recorded = record_ok(app, tools)
    assert recorded.stdout == "mytool run 0: to-terminal\nstatus 0\n"
    tools.remove()
    replayed = app.replay()
    assert replayed.returncode == 0 and replayed.stdout == "status 0\n"


def test_popen_through_posix_spawn(program, tools):
    """An absolute executable with close_fds=False: Popen takes the posix_spawn path."""
    app = program(f"""
        import subprocess
        print("spawn path:", subprocess._USE_POSIX_SPAWN)
        p = subprocess.Popen([{str(tools.bin / "mytool")!r}, "spawned"], close_fds=False, stdout=subprocess.PIPE)
        print(p.stdout.read(), p.wait())
        try:
            subprocess.Popen(["/no/such/tool"], close_fds=False)
        except FileNotFoundError as e:
            print("missing:", e)
    """)
    recorded = record_ok(app, tools)
    assert "b'mytool run 0: spawned\\n' 0" in recorded.stdout
    tools.remove()
    check_replays(app, tools, recorded)
    if "spawn path: True" in recorded.stdout:
        assert events(app.recording).count("os.posix_spawn") == 2


# -- input through a single pipe ------------------------------------------------------------
def test_input_through_stdin_pipe_only(program, tools):
    """Popen(stdin=PIPE) alone: communicate() writes the input without a selector."""
    app = program("""
        import subprocess
        with open("out.txt", "wb") as out:
            p = subprocess.Popen(["upper"], stdin=subprocess.PIPE, stdout=out, stderr=subprocess.STDOUT)
            print("communicate:", p.communicate(b"hello input\\n"), p.returncode)
        p = subprocess.Popen(["upper"], stdin=subprocess.PIPE, stdout=open("out2.txt", "w"), stderr=subprocess.DEVNULL,
                         text=True)
        p.stdin.write("line by line\\n")
        p.stdin.close()
        print("wait:", p.wait())
        print(open("out.txt").read(), open("out2.txt").read())
    """)
    recorded = record_ok(app, tools)
    assert "upper run 0\nHELLO INPUT\nto stderr 0\n" in recorded.stdout
    assert "upper run 1\nLINE BY LINE\n" in recorded.stdout
    (app.dir / "out.txt").unlink()
    (app.dir / "out2.txt").unlink()
    tools.remove()
    check_replays(app, tools, recorded)
    assert not (app.dir / "out.txt").exists()


# -- waiting, timeouts, signals --------------------------------------------------------------
TIMEOUTS = """
    import os, signal, subprocess, sys, time
    start = time.monotonic()
    p = subprocess.Popen(["slowtool", "5"])
    try:
        p.wait(timeout=0.2)
    except subprocess.TimeoutExpired as e:
        print("TimeoutExpired:", e)
    print("poll while running:", p.poll())
    p.kill()
    print("after kill:", p.wait(), p.returncode == -signal.SIGKILL)
    p = subprocess.Popen(["slowtool", "5"])
    p.terminate()
    print("after terminate:", p.wait())
    p = subprocess.Popen(["slowtool", "5"])
    p.send_signal(signal.SIGUSR1)
    print("after SIGUSR1:", p.wait())
    p.send_signal(signal.SIGUSR1)  # already reaped: nothing is sent
    try:
        subprocess.run(["slowtool", "5"], timeout=0.1)
    except subprocess.TimeoutExpired as e:
        print("run timeout:", e.cmd, round(e.timeout, 1))
    p = subprocess.Popen(["slowtool", "0.2"])
    polls = 0
    while p.poll() is None:
        polls += 1
        time.sleep(0.01)
    print("poll loop:", p.returncode, "polled", polls, "times")
    try:
        os.kill(p.pid, signal.SIGTERM)  # reaped: no such process
    except ProcessLookupError as e:
        print("kill reaped:", type(e).__name__)
    print("elapsed", round(time.monotonic() - start, 3))
"""


def test_timeouts_kill_terminate_and_poll_loops(program, tools):
    app = program(TIMEOUTS)
    recorded = record_ok(app, tools)
    out = recorded.stdout
    assert "TimeoutExpired: Command '['slowtool', '5']' timed out after 0.2 seconds" in out
    assert "poll while running: None\nafter kill: -9 True\nafter terminate: -15\nafter SIGUSR1: -10\n" in out
    assert "run timeout: ['slowtool', '5'] 0.1" in out
    assert "poll loop: 0 polled" in out and "kill reaped: ProcessLookupError" in out
    assert len(tools.runs()) >= 3  # (a terminate() may come before the shell logged its start)
    elapsed = float(out.rpartition("elapsed ")[2])
    assert elapsed >= 0.5
    tools.remove()
    before = tools.runs()
    started = time.monotonic()
    replayed = app.replay()
    replay_seconds = time.monotonic() - started
    assert_same_run(recorded, replayed)
    assert tools.runs() == before
    assert replay_seconds < elapsed  # waits and sleeps are instant on replay
    names = events(app.recording)
    assert names.count("os.kill") >= 4 and "time.sleep" in names


def test_signals_to_the_process_itself_are_delivered_on_replay(program, tools):
    app = program("""
        import os, signal, subprocess
        seen = []
        signal.signal(signal.SIGUSR1, lambda signum, frame: seen.append(signum))
        os.kill(os.getpid(), signal.SIGUSR1)
        print("after kill to self:", seen)
        os.setpgid(0, 0)  # a group of our own: the signal must not reach whoever started us
        os.killpg(os.getpgrp(), signal.SIGUSR1)
        print("after killpg to own group:", seen)
        p = subprocess.Popen(["slowtool", "5"])
        os.kill(p.pid, signal.SIGKILL)
        print("child:", p.wait(), "seen", seen)
    """)
    recorded = record_ok(app, tools, python_args=())
    assert "after kill to self: [10]\nafter killpg to own group: [10, 10]\nchild: -9 seen [10, 10]\n" in recorded.stdout
    tools.remove()
    check_replays(app, tools, recorded)


def test_children_left_running_at_exit_and_dropped_popens(program, tools):
    """A Popen dropped at once polls its child in ``__del__`` (an event, at the same point
    on replay); one still alive at exit polls it during shutdown, after the recorded end."""
    app = program("""
        import subprocess, sys
        subprocess.Popen(["slowtool", "0.3"])  # dropped: __del__ polls the running child
        kept = subprocess.Popen(["slowtool", "0.3"], stdout=subprocess.PIPE)
        print("started", len(subprocess._active))
    """)
    recorded = record_ok(app, tools)
    assert recorded.stdout == "started 1\n" and recorded.stderr == ""
    tools.remove()
    check_replays(app, tools, recorded)
    assert events(app.recording).count("os.waitpid") == 2  # __del__, then _cleanup() in the next Popen


# -- pipes on both ends: communicate() waits with selectors (the readiness family) ------------
TWO_PIPES = """
    import os, subprocess
    p = subprocess.Popen(["upper"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    print("communicate:", p.communicate(b"some input\\n"), p.returncode)
    r = subprocess.run(["mytool", "captured"], capture_output=True, text=True, env={**os.environ, "TOERR": "1"})
    print("capture_output:", r.stdout, r.stderr, r.returncode)
    print("input:", subprocess.run(["upper"], input="abc", capture_output=True, text=True).stdout)
    print("check_output with input:", subprocess.check_output(["upper"], input=b"xyz", stderr=subprocess.DEVNULL))
    print("check_output with timeout:", subprocess.check_output(["mytool", "t"], timeout=5))
    try:
        subprocess.run(["slowtool", "5"], capture_output=True, timeout=0.2)
    except subprocess.TimeoutExpired as e:
        print("TimeoutExpired with pipes:", e.output, e.stderr)
"""


def test_communicate_with_several_pipes(program, tools):
    app = program(TWO_PIPES)
    recorded = record_ok(app, tools)
    out = recorded.stdout
    assert "communicate: (b'upper run 0\\nSOME INPUT\\n', b'to stderr 0\\n') 0" in out
    assert "capture_output: mytool run 1: captured\n to stderr 1\n 0" in out
    assert "input: upper run 2\nABC" in out
    assert "check_output with input: b'upper run 3\\nXYZ'" in out
    assert "check_output with timeout: b'mytool run 4: t\\n'" in out
    assert "TimeoutExpired with pipes: None None" in out or "TimeoutExpired with pipes: b''" in out
    tools.remove()
    check_replays(app, tools, recorded)


# -- the alias sweep and import order ------------------------------------------------------------
_LOGGING_ENGINE = """
    from retrace.engine import Engine
    from retrace.boundaries import families
    from retrace.bootstrap.install import Installer

    from fakes import LoggingEngine as Logging

    engine = Logging()
    installer = Installer(engine, [f for f in families() if f.name in ("subprocesses", "clock")])
"""

_CHECK_ALIASES = """
    import os, time, _posixsubprocess
    Popen = subprocess.Popen
    poll_defaults = Popen._internal_poll.__defaults__
    held = getattr(subprocess, "_del_safe", None)  # (Python 3.13: a class holds what _internal_poll calls)
    assert os.waitpid.__name__ == "wrapper" and (
        os.waitpid in poll_defaults if held is None else held.waitpid is os.waitpid), poll_defaults
    assert getattr(subprocess, "_waitpid", os.waitpid) is os.waitpid  # (gone in 3.13)
    assert subprocess._fork_exec is _posixsubprocess.fork_exec and _posixsubprocess.fork_exec.__name__ == "fork_exec"
    assert subprocess._time is time.monotonic
    p = subprocess.Popen(["sleep", "0.3"])
    while p.poll() is None:
        time.sleep(0.02)
    p = subprocess.Popen(["sleep", "5"])
    p.kill()
    p.wait()
    log = engine.log
    assert log[0] == "_posixsubprocess.fork_exec", log
    assert log.count("os.waitpid") >= 3 and "time.sleep" in log and "os.kill" in log, log
    installer.uninstall()
    assert Popen._internal_poll.__defaults__ == poll_defaults_before
    assert subprocess._fork_exec is _posixsubprocess.fork_exec is fork_exec_before
    print("ok")
"""


def _run_script(source: str) -> None:
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(source)], capture_output=True, text=True,
                          timeout=30, env=script_env())
    assert done.returncode == 0, done.stderr
    assert done.stdout == "ok\n"


def test_subprocess_imported_before_install_is_covered():
    _run_script(
        "import subprocess, sys\n"
        "poll_defaults_before = subprocess.Popen._internal_poll.__defaults__\n"
        "fork_exec_before = subprocess._fork_exec\n"
        + textwrap.dedent(_LOGGING_ENGINE) + "installer.install()\n" + textwrap.dedent(_CHECK_ALIASES))


def test_subprocess_imported_after_install_is_covered():
    _run_script(
        "import sys\n"
        "assert 'subprocess' not in sys.modules and '_posixsubprocess' not in sys.modules\n"
        + textwrap.dedent(_LOGGING_ENGINE) + "installer.install()\n"
        "import subprocess\n"
        "import _posixsubprocess\n"
        "poll_defaults_before = None\n"
        "fork_exec_before = _posixsubprocess.fork_exec.__wrapped__\n"
        + textwrap.dedent(_CHECK_ALIASES).replace(
            "assert Popen._internal_poll.__defaults__ == poll_defaults_before\n",
            "").replace("assert subprocess._fork_exec is _posixsubprocess.fork_exec is fork_exec_before\n",
                        "assert _posixsubprocess.fork_exec is fork_exec_before\n"))
