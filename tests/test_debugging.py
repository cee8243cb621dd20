"""Debugging a replay (issue #7): an IDE attached to the replay sees the recorded state.

A real Debug Adapter Protocol client (tests/dapclient.py) talks to debugpy as VS
Code does: it attaches to ``retrace-python --replay DIR --debug --wait``, or
launches the "Replay recording" configuration of ``DIR/replay.code-workspace``
through debugpy's adapter (F5, with the IDE's ``runInTerminal``). At each
breakpoint the variables must hold what the recorded run printed; expressions
the user evaluates (which read the clock and the entropy pool for real) must not
take the replay's events; the replay's output and exit code stay those of the
recording. The world (the original script) is gone before each replay.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import textwrap

import pytest

from conftest import LAUNCHER, PYTHON, _clean_env, run
from dapclient import DAPClient

SOURCE = """\
import logging, os, random, threading, time

def compute(n):
    stamp = time.time()
    token = os.urandom(4).hex()
    total = sum(random.randint(1, 100) for _ in range(n))
    print("computed", n, total, token, stamp)  # BREAK compute
    return total

def worker(k, out):
    value = random.random() + k
    out.append(value)
    print("worker", k, value)  # BREAK worker

logging.basicConfig(level=logging.INFO, format="%(created)f %(message)s")
results = [compute(n) for n in (3, 5, 8)]
out = []
threads = [threading.Thread(target=worker, args=(k, out)) for k in range(2)]
for t in threads:
    t.start()
for t in threads:
    t.join()
logging.info("done %s", results)
print("final", results, sorted(out))
"""


def line_of(marker: str) -> int:
    return next(number for number, text in enumerate(SOURCE.splitlines(), 1) if f"# BREAK {marker}" in text)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def recorded(program):
    app = program(SOURCE)
    result = app.record()
    assert result.returncode == 0, result.stderr
    app.script.unlink()  # the world is gone: replay reads run/
    return app, result


def recorded_stops(stdout: str) -> list[tuple[str, dict]]:
    """What each breakpoint must show, from the recorded run's own output."""
    stops = []
    for line in stdout.splitlines():
        if line.startswith("computed "):
            _, n, total, token, stamp = line.split()
            stops.append(("compute", {"n": n, "total": total, "token": repr(token), "stamp": stamp}))
        elif line.startswith("worker "):
            _, k, value = line.split()
            stops.append(("worker", {"k": k, "value": value}))
    return stops


def debug_session(client: DAPClient, source_path: str, expected: list, evaluate: bool = True) -> None:
    """Breakpoints on both marked lines; at each stop, compare the top frame's locals with
    what the recording printed there; evaluate boundary-calling expressions at the first."""
    for index, (function, values) in enumerate(expected):
        stopped = client.wait_event("stopped")
        assert stopped["reason"] == "breakpoint", stopped
        top, local = client.locals_at_top(stopped["threadId"])
        assert top["name"] == function
        assert top["line"] == line_of(function)
        assert top["source"]["path"] == source_path
        assert {name: local.get(name) for name in values} == values
        if evaluate and index == 0:
            for expression in ("time.time()", "os.urandom(8).hex()", "os.getpid()", "os.listdir('.')"):
                client.request("evaluate", expression=expression, frameId=top["id"], context="repl")
        client.request("continue", threadId=stopped["threadId"])
    client.wait_event("terminated")


class DebuggedReplay:
    """``retrace-python --replay ... --debug --listen`` in a subprocess, and a DAP client
    attached to it as an IDE attaches (``breakpoints`` set before configurationDone).
    Both are ended (by pid) on the way out."""

    def __init__(self, argv: list[str], cwd) -> None:
        self.port = free_port()
        self.process = subprocess.Popen([LAUNCHER, *argv, "--debug", "--listen", f"127.0.0.1:{self.port}"],
                                         cwd=cwd, env=_clean_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                         text=True)
        self.client = None

    def __enter__(self):
        return self

    def attach(self, breakpoints=None) -> DAPClient:
        client = self.client = DAPClient("127.0.0.1", self.port)
        client.request("initialize", clientID="test", adapterID="debugpy", pathFormat="path",
                       linesStartAt1=True, columnsStartAt1=True)
        attach = client.send_request("attach", justMyCode=True)
        client.wait_event("initialized")
        if breakpoints is not None:
            breakpoints(client)
        client.request("configurationDone")
        client.response(attach)
        return client

    def finish(self) -> tuple[str, str]:
        """After the session: the replay's output (debugpy's adapter process, which shares
        its pipes, ends with its client)."""
        self.client.close()
        return self.process.communicate(timeout=60)

    def __exit__(self, *exc_info) -> None:
        if self.client is not None:
            self.client.close()
        if self.process.poll() is None:
            self.process.kill()
            self.process.communicate()


def set_breakpoints(client: DAPClient, path: str, verified: bool = True) -> None:
    body = client.request("setBreakpoints", source={"path": path},
                          breakpoints=[{"line": line_of("compute")}, {"line": line_of("worker")}])
    if verified:
        assert all(bp["verified"] for bp in body["breakpoints"]), body


def test_attach_to_replay_debug_sees_the_recorded_values(recorded):
    app, result = recorded
    expected = recorded_stops(result.stdout)
    assert [name for name, _ in expected] == ["compute"] * 3 + ["worker"] * 2
    with DebuggedReplay(["--replay", str(app.recording), "--wait"], app.root) as replay:
        client = replay.attach(lambda c: set_breakpoints(c, str(app.script)))  # the path it had when recorded
        debug_session(client, str(app.script), expected)
        out, err = replay.finish()
    port = replay.port
    assert replay.process.returncode == 0, err
    assert out == result.stdout
    assert f"retrace: replay waiting for a debugger to attach at 127.0.0.1:{port}\n" in err
    assert err.replace(f"retrace: replay waiting for a debugger to attach at 127.0.0.1:{port}\n", "") == result.stderr


def workspace_launch(recording) -> tuple[dict, str]:
    """The workspace's "Replay recording" configuration, as VS Code sends it: variables
    substituted, the selected interpreter added."""
    workspace = json.loads((recording / "replay.code-workspace").read_text())
    folder = str(recording / workspace["folders"][0]["path"])
    configuration = next(c for c in workspace["launch"]["configurations"] if c["name"] == "Replay recording")
    text = json.dumps(configuration).replace("${workspaceFolder}", folder)
    configuration = json.loads(text)
    configuration["python"] = [PYTHON]
    return configuration, folder


def test_workspace_replay_configuration_works_on_f5(recorded):
    """VS Code's F5 on the workspace: debugpy's adapter launches the configuration as it
    stands (no edits), breakpoints set on the run/ copies VS Code shows."""
    app, result = recorded
    configuration, folder = workspace_launch(app.recording)
    run_copy = os.path.join(folder, app.script.name)
    assert os.path.isfile(run_copy)
    port = free_port()
    adapter = subprocess.Popen([PYTHON, "-m", "debugpy.adapter", "--host", "127.0.0.1", "--port", str(port)],
                               env=_clean_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    client = None
    try:
        client = DAPClient("127.0.0.1", port)
        client.request("initialize", clientID="vscode", adapterID="debugpy", pathFormat="path",
                       linesStartAt1=True, columnsStartAt1=True, supportsRunInTerminalRequest=True)
        launch = client.send_request("launch", **configuration)
        client.wait_event("initialized")
        # (set before the replay starts, when debugpy cannot know the recorded file yet: the
        # replay has them taken again)
        set_breakpoints(client, run_copy, verified=False)
        client.request("configurationDone")
        client.response(launch)
        debug_session(client, run_copy, recorded_stops(result.stdout))
        out, err = client.terminal.communicate(timeout=60)
        assert client.terminal.returncode == 0, err
    finally:
        if client is not None:
            client.close()
        adapter.kill()
        adapter.wait()
    assert out == result.stdout
    assert err == result.stderr


def test_python_m_retrace_under_a_debugger_replays_in_its_interpreter(recorded):
    """debugpy started first (as an IDE's launch does), no client attached: the replay runs
    in that interpreter, with the debugger's imports kept out of it; the recorded hash
    seed is required."""
    app, result = recorded
    settings = json.loads((app.recording / "settings.json").read_text())
    argv = [PYTHON, "-m", "debugpy", "--listen", f"127.0.0.1:{free_port()}", "-m", "retrace",
            "--recording", str(app.recording)]
    env = {"PYDEVD_DISABLE_FILE_VALIDATION": "1"}
    wrong = run(argv, cwd=app.root, env=dict(env, PYTHONHASHSEED="12345"), timeout=60)
    assert wrong.returncode == 2
    assert re.fullmatch(r"retrace: under a debugger the replay runs in the debugger's interpreter, which must "
                        rf"start with PYTHONHASHSEED={settings['hash_seed']} \(it has 12345\); .*\n", wrong.stderr)
    replayed = run(argv, cwd=app.root, env=dict(env, PYTHONHASHSEED=settings["hash_seed"]), timeout=60)
    assert replayed.returncode == 0, replayed.stderr
    assert replayed.stdout == result.stdout
    assert replayed.stderr == result.stderr


def test_workspace_maps_code_from_outside_the_main_tree(program):
    app = program("""
        import sys
        sys.path.insert(0, sys.argv[1])
        import helper
        print(helper.twice(21))
    """)
    lib = app.root / "lib"
    lib.mkdir()
    (lib / "helper.py").write_text("def twice(x):\n    return 2 * x\n")
    assert app.record(str(lib)).returncode == 0
    workspace = json.loads((app.recording / "replay.code-workspace").read_text())
    for configuration in workspace["launch"]["configurations"]:
        assert configuration["pathMappings"] == [
            {"localRoot": f"${{workspaceFolder}}/_ext{lib}", "remoteRoot": str(lib)},
            {"localRoot": "${workspaceFolder}", "remoteRoot": str(app.dir)},
        ]
    assert (app.recording / "run" / "_ext" / str(lib).lstrip("/") / "helper.py").is_file()


@pytest.mark.parametrize("argv, message", [
    (["--replay", "R", "--wait"], "--wait goes with --debug or --listen"),
    (["--replay", "R", "--listen", "nowhere"], "--listen needs HOST:PORT (or :PORT), not 'nowhere'"),
    (["--debug", "app.py"], "--debug, --listen, --wait, --list-hits, --break, --post-mortem, --key-file and --strict-secrets go with --replay DIR"),
])
def test_debug_options_misused(tmp_path, argv, message):
    result = run([LAUNCHER, *argv], cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr == f"retrace: {message}\n"
    assert "Traceback" not in result.stderr


def test_workspace_configurations_are_complete(recorded):
    app, _ = recorded
    settings = json.loads((app.recording / "settings.json").read_text())
    workspace = json.loads((app.recording / "replay.code-workspace").read_text())
    launch, attach = workspace["launch"]["configurations"]
    assert launch["env"]["PYTHONHASHSEED"] == settings["hash_seed"]
    assert "PYTHONPATH" not in launch["env"]
    assert launch["module"] == "retrace" and launch["args"] == ["--recording", "${workspaceFolder}/.."]
    assert attach["request"] == "attach" and attach["connect"] == {"host": "127.0.0.1", "port": 5678}
    assert textwrap.dedent(SOURCE) == (app.recording / "run" / "app.py").read_text()


# -- time travel by re-execution ------------------------------------------------------------
def test_list_hits_prints_each_run_of_a_line(recorded):
    app, result = recorded
    replayed = run([LAUNCHER, "--replay", str(app.recording), "--list-hits", f"app.py:{line_of('compute')}"],
                   cwd=app.root, no_network=True)
    assert replayed.returncode == 0, replayed.stderr
    assert replayed.stdout == result.stdout
    hits = re.findall(rf"retrace: hit (\d) of app.py:{line_of('compute')}: thread (\d), after event #(\d+)\n",
                      replayed.stderr)
    assert [(n, thread) for n, thread, _ in hits] == [("1", "0"), ("2", "0"), ("3", "0")]
    events = [int(e) for _, _, e in hits]
    assert events == sorted(events) and len(set(events)) == 3  # each hit after its own clock and entropy reads
    assert f"retrace: app.py:{line_of('compute')} ran 3 times\n" in replayed.stderr
    # the same numbers every time: the replay is deterministic
    again = run([LAUNCHER, "--replay", str(app.recording), "--list-hits", f"app.py:{line_of('compute')}"],
                cwd=app.root, no_network=True)
    assert again.stderr == replayed.stderr
    # threads have their logical ids; a run/ path names the recorded file
    worker = run([LAUNCHER, "--replay", str(app.recording), "--list-hits",
                  f"{app.recording}/run/app.py:{line_of('worker')}"], cwd=app.root, no_network=True)
    assert re.findall(r"hit (\d) of .*: thread (\d)", worker.stderr) == [("1", "1"), ("2", "2")]
    never = run([LAUNCHER, "--replay", str(app.recording), "--list-hits", "nothing.py:3"], cwd=app.root,
                no_network=True)
    assert never.returncode == 0
    assert never.stderr.endswith("retrace: nothing.py:3 never ran: no code from a file 'nothing.py' ran\n")


def test_break_stops_at_the_hit_in_pdb_with_the_terminal_as_input(recorded):
    app, result = recorded
    expected = recorded_stops(result.stdout)[1][1]  # the second run of compute's print line
    commands = "p n, total, token\nnext\np stamp\ncontinue\n"
    replayed = run([LAUNCHER, "--replay", str(app.recording), "--break", f"app.py:{line_of('compute')}:2"],
                   cwd=app.root, stdin=commands, no_network=True)
    assert replayed.returncode == 0, replayed.stderr
    assert f"retrace: stopped at hit 2 of app.py:{line_of('compute')}" in replayed.stderr
    assert f"({expected['n']}, {expected['total']}, {expected['token']})" in replayed.stdout
    assert f"-> return total\n(Pdb) {expected['stamp']}\n" in replayed.stdout  # `next` stepped one line
    # the program's own output around pdb's is the recording's
    lines = replayed.stdout.replace("(Pdb) ", "").splitlines()  # (pdb's prompt has no newline)
    program_output = [line for line in lines if re.match(r"(computed|worker|final) ", line)]
    assert program_output == result.stdout.splitlines()


def test_break_then_quit_ends_the_replay_there(recorded):
    app, result = recorded
    replayed = run([LAUNCHER, "--replay", str(app.recording), "--break", f"app.py:{line_of('worker')}"],
                   cwd=app.root, stdin="q\n", no_network=True)
    assert replayed.returncode == 0, replayed.stderr
    assert "final" not in replayed.stdout and "computed 8" in replayed.stdout


def test_break_under_debugpy_stops_at_the_hit(recorded):
    app, result = recorded
    expected = recorded_stops(result.stdout)[2][1]
    with DebuggedReplay(["--replay", str(app.recording), "--break", f"app.py:{line_of('compute')}:3"],
                        app.root) as replay:
        client = replay.attach()
        stopped = client.wait_event("stopped")
        top, local = client.locals_at_top(stopped["threadId"])
        assert (top["name"], top["line"]) == ("compute", line_of("compute"))
        assert {name: local.get(name) for name in expected} == expected
        client.request("continue", threadId=stopped["threadId"])
        client.wait_event("terminated")
        out, err = replay.finish()
    assert replay.process.returncode == 0, err
    assert out == result.stdout


CRASH = """\
import os, time

def parse(items):
    stamp = time.time()
    token = os.urandom(2).hex()
    return [int(x) for x in items]

print("start")
parse(["1", "2", "x3"])
"""


# The failing line is a list comprehension: its own frame up to Python 3.11, inlined into
# the function's from 3.12 (PEP 709).
LEAVE_THE_COMPREHENSION = "up\n" if sys.version_info < (3, 12) else ""


def test_post_mortem_opens_pdb_at_the_recorded_exception(program):
    app = program(CRASH)
    recorded = app.record()
    assert recorded.returncode == 1 and "ValueError" in recorded.stderr
    replayed = run([LAUNCHER, "--replay", str(app.recording), "--post-mortem"], cwd=app.root,
                   stdin=LEAVE_THE_COMPREHENSION + "p items, token\nquit\n", no_network=True)
    assert replayed.returncode == 1, replayed.stderr  # the recorded run's exit status
    assert replayed.stderr.startswith(recorded.stderr)  # its traceback first
    assert "retrace: post-mortem: ValueError (pdb; `q` ends the replay)" in replayed.stderr
    assert "-> return [int(x) for x in items]" in replayed.stdout
    assert re.search(r"\(\['1', '2', 'x3'\], '[0-9a-f]{4}'\)", replayed.stdout), replayed.stdout
    calm = app.replay()
    assert calm.returncode == 1 and calm.stderr == recorded.stderr


@pytest.mark.parametrize("argv, message", [
    (["--list-hits", "app.py"], "'app.py' is not FILE:LINE"),
    (["--break", "app.py:x"], "'app.py:x' is not FILE:LINE[:HIT]"),
    (["--break", "app.py:0"], "'app.py:0': lines and hits count from 1"),
    (["--break", "app.py:3", "--post-mortem"], "--post-mortem and --break: one pdb session at a time"),
])
def test_time_travel_options_misused(tmp_path, argv, message):
    result = run([LAUNCHER, "--replay", str(tmp_path), *argv], cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr == f"retrace: {message}\n"


PARENT = """\
import subprocess, sys
out = subprocess.run([sys.executable, "child.py", "7"], capture_output=True, text=True).stdout
print("child said", out.strip())
"""
CHILD = """\
import os, sys
n = int(sys.argv[1])
token = os.urandom(3).hex()
print("child", n, token)  # BREAK child
"""


def test_a_python_child_replayed_alone_can_be_debugged(program):
    app = program(PARENT, name="parent.py")
    child = app.write("child.py", CHILD)
    recorded = app.record()
    assert recorded.returncode == 0, recorded.stderr
    token = recorded.stdout.split()[-1]
    line = next(n for n, text in enumerate(CHILD.splitlines(), 1) if "BREAK child" in text)

    def breakpoint_in_child(client):
        body = client.request("setBreakpoints", source={"path": str(child)}, breakpoints=[{"line": line}])
        assert body["breakpoints"][0]["verified"], body

    with DebuggedReplay(["--replay", str(app.recording), "--process", "0.1", "--wait"], app.root) as replay:
        client = replay.attach(breakpoint_in_child)
        stopped = client.wait_event("stopped")
        top, local = client.locals_at_top(stopped["threadId"])
        assert (top["line"], local["n"], local["token"]) == (line, "7", repr(token))
        client.request("continue", threadId=stopped["threadId"])
        client.wait_event("terminated")
        out, err = replay.finish()
    assert replay.process.returncode == 0, err
    assert out == f"child 7 {token}\n"
