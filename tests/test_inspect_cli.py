"""``retrace-python inspect`` and ``events``: looking at a recording without replaying it.

Programs are recorded through the real launcher; the commands run as subprocesses
too. What they print is checked against the trace read directly (``iter_events``),
so a filter that drops or invents events fails here.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time

import cbor2
import pytest
from conftest import LAUNCHER, PYTHON, Program, _clean_env, run

from retrace.errors import EXIT_BAD_RECORDING, EXIT_USAGE
from retrace.trace import format as fmt
from retrace.trace.framing import split_frames
from retrace.trace.model import Event, iter_events
from retrace.trace.reader import TraceReader

MAIN = """\
import os, random, threading, time
print("start", time.time(), flush=True)
print("urandom", len(os.urandom(8)), random.SystemRandom().random() < 1)
with open("data.txt") as handle:
    print(handle.read())
try:
    open("missing.txt")
except FileNotFoundError as exc:
    print("missing", exc.errno)

def work():
    for _ in range(3):
        time.time()

worker = threading.Thread(target=work)
worker.start()
worker.join()
time.sleep(0.07)  # longer than the flush interval: the trace gets several chunks
pid = os.fork()
if pid == 0:
    print("child", time.time(), flush=True)
    os._exit(3)
_, status = os.waitpid(pid, 0)
print("child status", os.waitstatus_to_exitcode(status))
"""

INSPECT_KEYS = {"schema", "path", "tool", "python", "hostname", "cwd", "code_root", "start_time", "end_time",
                "state", "processes"}
PROCESS_KEYS = {"id", "parent", "parent_event", "how", "pid", "ppid", "argv", "start_time", "end_time",
                "duration", "state", "status", "ending", "events", "size", "cpu_seconds", "peak_rss_kib",
                "resources", "problem"}
EVENT_KEYS = {"index", "thread", "boundary", "site", "summary"}
NUMBER = (int, float)


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    """MAIN recorded once: a root with two threads and a forked child that ends with os._exit(3)."""
    app = Program(tmp_path_factory.mktemp("inspect"), MAIN)
    app.write("data.txt", "some data")
    result = app.record()
    assert result.returncode == 0, result.stderr
    assert "child status 3" in result.stdout
    return app


def cli(*args, timeout: float = 30):
    return run([LAUNCHER, *map(str, args)], timeout=timeout)


def trace_events(recording, process: str = "0") -> list[Event]:
    path = recording / "trace.bin" if process == "0" else recording / "processes" / process / "trace.bin"
    return [item for item in iter_events(TraceReader(str(path))) if isinstance(item, Event)]


def event_lines(result) -> list[list[str]]:
    """Each line of ``events`` text output, split: index, thread, boundary, rest."""
    return [line.split(None, 3) for line in result.stdout.splitlines()]


def assert_one_line_error(result, code: int, *words: str) -> None:
    assert result.returncode == code, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("retrace: "), result.stderr
    for word in words:
        assert word in lines[0], result.stderr


# -- inspect ----------------------------------------------------------------------


def test_inspect_shows_versions_and_both_processes(recorded):
    result = cli("inspect", recorded.recording)
    assert result.returncode == 0 and result.stderr == "", result.stderr
    text = result.stdout
    assert f"python     {'.'.join(map(str, sys.version_info[:3]))}" in text
    assert "retrace-python 0.1.0" in text and "state      complete: 2 processes" in text
    rows = {line.split()[0]: line for line in text.splitlines()[6:]}
    settings = json.loads((recorded.recording / "settings.json").read_text())
    child = json.loads((recorded.recording / "processes" / "0.1" / "process.json").read_text())
    root_events, child_events = trace_events(recorded.recording), trace_events(recorded.recording, "0.1")
    assert set(rows) == {"0", "0.1"}
    assert rows["0"].split()[1] == str(settings["pid"]) and " exit 0 " in rows["0"]
    assert rows["0.1"].startswith("  0.1 ") and rows["0.1"].split()[1] == str(child["pid"])
    assert " os._exit 3 " in rows["0.1"]
    assert f" {len(root_events)} " in rows["0"] and f" {len(child_events)} " in rows["0.1"]
    assert "app.py" in rows["0"] and "app.py" in rows["0.1"]  # a forked child shows its parent's argv


def test_inspect_json_shape(recorded):
    result = cli("inspect", recorded.recording, "--json")
    assert result.returncode == 0, result.stderr
    shape = json.loads(result.stdout)
    assert set(shape) == INSPECT_KEYS
    assert shape["schema"] == "retrace.inspect/1" and shape["state"] == "complete"
    assert shape["path"] == str(recorded.recording) and shape["tool"] == "0.1.0"
    assert shape["python"] == ".".join(map(str, sys.version_info[:3]))
    assert isinstance(shape["start_time"], float) and shape["end_time"] >= shape["start_time"]
    root, child = shape["processes"]
    for process in (root, child):
        assert set(process) == PROCESS_KEYS
        assert type(process["pid"]) is int and type(process["ppid"]) is int
        assert isinstance(process["argv"], list) and all(isinstance(a, str) for a in process["argv"])
        assert type(process["events"]) is int and type(process["size"]) is int and process["size"] > 0
        assert isinstance(process["duration"], NUMBER) and isinstance(process["cpu_seconds"], NUMBER)
        assert type(process["peak_rss_kib"]) is int and process["peak_rss_kib"] > 0
        assert process["state"] == "complete" and process["resources"] == "recorded" and process["problem"] is None
        assert set(process["ending"]) == {"how", "status", "time"}
    assert (root["id"], root["parent"], root["how"]) == ("0", None, None)
    assert (child["id"], child["parent"], child["how"]) == ("0.1", "0", "fork")
    assert type(child["parent_event"]) is int and child["ppid"] == root["pid"]
    assert root["ending"]["how"] == "exit" and root["ending"]["status"] == 0 and root["status"] == "exit 0"
    assert (child["ending"]["how"], child["ending"]["status"], child["status"]) == ("os._exit", 3, "os._exit 3")
    assert root["events"] == len(trace_events(recorded.recording))
    assert child["events"] == len(trace_events(recorded.recording, "0.1"))
    assert child["argv"] == root["argv"] and root["argv"][-1].endswith("app.py")
    assert root["size"] == (recorded.recording / "trace.bin").stat().st_size


# -- events -----------------------------------------------------------------------


def test_events_one_line_each_with_sites_and_values(recorded):
    result = cli("events", recorded.recording)
    assert result.returncode == 0 and result.stderr == "", result.stderr
    expected = trace_events(recorded.recording)
    lines = event_lines(result)
    assert [(int(index), thread, boundary) for index, thread, boundary, _ in lines] == \
        [(e.index, f"t{e.thread}", e.boundary) for e in expected]
    clock = next(rest for _, _, boundary, rest in lines if boundary == "time.time")
    assert clock.startswith("app.py:2 in <module> ")  # relative to the recorded code root
    read = next(rest for _, _, boundary, rest in lines if boundary == "io.FileIO.readall")
    assert read.endswith("b'some data'")
    missing = [rest for _, _, boundary, rest in lines if "raised FileNotFoundError(2, 'No such file" in rest]
    assert len(missing) == 1 and missing[0].startswith("app.py:7 in <module> ")


def test_events_filters_by_boundary_thread_and_limit(recorded):
    expected = trace_events(recorded.recording)
    clocks = cli("events", recorded.recording, "--boundary", "time.*")
    assert clocks.returncode == 0, clocks.stderr
    want = [e.index for e in expected if fnmatch.fnmatchcase(e.boundary, "time.*")]
    assert len(want) >= 5 and [int(line[0]) for line in event_lines(clocks)] == want

    both = cli("events", recorded.recording, "--boundary", "os.*", "--boundary", "io.open")
    assert [int(line[0]) for line in event_lines(both)] == \
        [e.index for e in expected if e.boundary.startswith("os.") or e.boundary == "io.open"]

    worker = cli("events", recorded.recording, "--thread", "1")
    assert worker.returncode == 0, worker.stderr
    lines = event_lines(worker)
    assert [int(line[0]) for line in lines] == [e.index for e in expected if e.thread == 1]
    assert len(lines) == 3 and all(line[1:3] == ["t1", "time.time"] and " in work " in line[3] for line in lines)

    first = cli("events", recorded.recording, "--limit", "3", "--boundary", "time.*", "--thread", "0")
    assert [int(line[0]) for line in event_lines(first)] == \
        [e.index for e in expected if e.boundary.startswith("time.") and e.thread == 0][:3]
    assert cli("events", recorded.recording, "--limit", "0").stdout == ""


def test_events_of_a_child_process(recorded):
    result = cli("events", recorded.recording, "--process", "0.1")
    assert result.returncode == 0, result.stderr
    lines = event_lines(result)
    assert [line[2] for line in lines] == [e.boundary for e in trace_events(recorded.recording, "0.1")]
    fork = next(line for line in lines if line[2] == "os.fork")
    assert fork[3].endswith(" 0")  # os.fork returned 0 in the child
    assert lines[-1][2] == "os._exit"


def test_an_unknown_process_lists_the_valid_ones(recorded):
    result = cli("events", recorded.recording, "--process", "0.7")
    assert_one_line_error(result, EXIT_USAGE, "no process 0.7", "processes: 0, 0.1")
    assert result.stdout == ""


def test_events_json_shape(recorded):
    result = cli("events", recorded.recording, "--json")
    assert result.returncode == 0, result.stderr
    shape = json.loads(result.stdout)
    assert set(shape) == {"schema", "process", "events", "problem"}
    assert (shape["schema"], shape["process"], shape["problem"]) == ("retrace.events/1", "0", None)
    expected = trace_events(recorded.recording)
    assert [e["index"] for e in shape["events"]] == [e.index for e in expected]
    for event, truth in zip(shape["events"], expected):
        assert set(event) in (EVENT_KEYS, EVENT_KEYS | {"value"})
        assert type(event["index"]) is int and type(event["thread"]) is int and type(event["summary"]) is str
        assert event["boundary"] == truth.boundary and len(event["summary"]) <= 60
        assert event["site"] is None or (set(event["site"]) == {"file", "line", "function"}
                                         and type(event["site"]["line"]) is int)
        if type(truth.value) in (int, float, str, bool, type(None)):
            assert event["value"] == truth.value
        if isinstance(truth.value, (bytes, bytearray)):  # not JSON: only its summary
            assert "value" not in event and event["summary"].startswith(("b'", 'b"'))
    clock = next(e for e in shape["events"] if e["boundary"] == "time.time")
    assert clock["site"] == {"file": str(recorded.dir / "app.py"), "line": 2, "function": "<module>"}
    assert "value" not in next(e for e in shape["events"] if e["summary"].startswith("raised FileNotFoundError"))
    child = json.loads(cli("events", recorded.recording, "--json", "--process", "0.1", "--limit", "2").stdout)
    assert child["process"] == "0.1" and len(child["events"]) == 2


# -- a recording cut short, and one still being written -----------------------------

LOOP = """\
import time
while True:
    print(time.time(), flush=True)
    time.sleep(0.02)
"""

WAITS_FOR_FLAG = """\
import os, sys, time
while not os.path.exists(sys.argv[1]):
    time.time()
    time.sleep(0.1)
print("flag seen", flush=True)
"""


def start(argv: list, **kwargs) -> subprocess.Popen:
    return subprocess.Popen([str(a) for a in argv], env=_clean_env(), stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs)


def stop(*procs: subprocess.Popen) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.kill()  # by pid: the launcher exec'd into the recorded program
        proc.wait(timeout=10)


class LineReader:
    """Collects a process's stdout lines in a thread, so the test can wait with a timeout."""

    def __init__(self, proc: subprocess.Popen) -> None:
        self.lines: list[str] = []
        self.thread = threading.Thread(target=self._read, args=(proc.stdout,), daemon=True)
        self.thread.start()

    def _read(self, stream) -> None:
        for line in stream:
            self.lines.append(line)

    def wait_for(self, check, timeout: float = 15) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if check(list(self.lines)):
                return True
            time.sleep(0.05)
        return False


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)  # a shell may start us with SIGINT ignored


def test_running_then_cut_short_and_follow_stops_quietly_on_ctrl_c(tmp_path):
    script = tmp_path / "loop.py"
    script.write_text(LOOP)
    recording = tmp_path / "recording"
    recorder = start([LAUNCHER, "--recording", recording, script], cwd=tmp_path)
    follower = None
    try:
        assert recorder.stdout.readline() and recorder.stdout.readline()
        time.sleep(0.15)  # flushed
        live = json.loads(cli("inspect", recording, "--json").stdout)["processes"][0]
        assert (live["state"], live["status"], live["resources"]) == ("running", "running", "live")
        assert live["events"] >= 2 and live["pid"] == recorder.pid and live["ending"] is None

        follower = start([LAUNCHER, "inspect", recording, "--follow"], preexec_fn=_default_sigint)
        reader = LineReader(follower)
        assert reader.wait_for(lambda lines: len(lines) >= 1), follower.stderr.read()
        assert reader.lines[0].startswith("[+") and "0: running, " in reader.lines[0]
        follower.send_signal(signal.SIGINT)
        assert follower.wait(timeout=10) == 0
        assert follower.stderr.read() == ""

        recorder.kill()
        recorder.wait(timeout=10)
    finally:
        stop(recorder, *([follower] if follower else []))
    result = cli("inspect", recording)
    assert result.returncode == 0 and result.stderr == "", result.stderr
    assert "cut short" in result.stdout.splitlines()[3]
    row = result.stdout.splitlines()[-1]
    assert row.split()[0] == "0" and " cut short " in row and f" {len(trace_events(recording))} " in row
    shape = json.loads(cli("inspect", recording, "--json").stdout)
    assert shape["state"] == "cut short" and shape["processes"][0]["ending"] is None


def test_follow_shows_a_live_recording_grow_and_ends_with_it(tmp_path):
    script = tmp_path / "waits.py"
    script.write_text(WAITS_FOR_FLAG)
    recording, flag = tmp_path / "recording", tmp_path / "flag"
    # The follower starts first: it waits for the directory to become a recording.
    follower = start([LAUNCHER, "inspect", recording, "--follow"])
    recorder = None
    try:
        reader = LineReader(follower)
        time.sleep(0.3)
        recorder = start([LAUNCHER, "--recording", recording, script, flag], cwd=tmp_path)
        counts = []

        def grown(lines):
            counts[:] = [int(m.group(1)) for line in lines if (m := re.match(r"\[\+[\d.]+s\] 0: running, (\d+) ev", line))]
            return len(set(counts)) >= 3

        assert reader.wait_for(grown), (reader.lines, follower.poll())
        assert counts == sorted(counts)
        assert follower.poll() is None  # still following
        flag.write_text("")
        assert follower.wait(timeout=15) == 0, follower.stderr.read()
        reader.thread.join(timeout=5)
        assert recorder.wait(timeout=10) == 0
        assert follower.stderr.read() == ""
    finally:
        stop(follower, *([recorder] if recorder else []))
    final = "".join(reader.lines)
    assert "state      complete: 1 process" in final
    events = len(trace_events(recording))
    assert events > max(counts)
    assert re.search(rf"^0 .* exit 0 +{events} ", final, re.M), final


# -- bad input ----------------------------------------------------------------------


@pytest.fixture
def copy(recorded, tmp_path):
    target = tmp_path / "recording"
    shutil.copytree(recorded.recording, target)
    return target


def test_a_missing_directory_and_a_directory_that_is_no_recording(tmp_path):
    for command in ("inspect", "events"):
        assert_one_line_error(cli(command, tmp_path / "nowhere"), EXIT_BAD_RECORDING, "no recording at", "nowhere")
        assert_one_line_error(cli(command, tmp_path), EXIT_BAD_RECORDING, "not a retrace recording")


def test_another_python_version(copy):
    settings = json.loads((copy / "settings.json").read_text())
    settings["python"]["version_info"] = [3, sys.version_info[1] + 1, 0]
    (copy / "settings.json").write_text(json.dumps(settings))
    assert_one_line_error(cli("inspect", copy), EXIT_BAD_RECORDING, f"recorded with Python 3.{sys.version_info[1] + 1}")


def test_a_trace_damaged_in_the_middle_shows_what_precedes_it(copy):
    path = copy / "trace.bin"
    data = bytearray(path.read_bytes())
    found = list(split_frames(bytes(data), len(fmt.MAGIC)))[1:]
    assert len(found) >= 3, "the program should have flushed several chunks"
    offset, payload = found[1]
    before = sum(1 for item in cbor2.loads(found[0][1]) if type(item) in (list, float))  # (a bare float: a repeated event)
    data[offset + 8 + len(payload) // 2] ^= 0x55
    path.write_bytes(bytes(data))

    events = cli("events", copy)
    assert_one_line_error(events, EXIT_BAD_RECORDING, "is corrupt: checksum mismatch at byte")
    assert [int(line[0]) for line in event_lines(events)] == list(range(before))
    shape = json.loads(cli("events", copy, "--json").stdout)
    assert len(shape["events"]) == before and "checksum mismatch" in shape["problem"]

    inspected = cli("inspect", copy)
    assert_one_line_error(inspected, EXIT_BAD_RECORDING, "is corrupt")
    rows = {line.split()[0]: line for line in inspected.stdout.splitlines()[6:8]}
    assert " damaged " in rows["0"] and f" {before} " in rows["0"]
    assert " os._exit 3 " in rows["0.1"]  # the child's own trace is fine
    assert json.loads(cli("inspect", copy, "--json").stdout)["processes"][0]["state"] == "damaged"


def test_a_child_trace_that_is_not_a_trace(copy):
    (copy / "processes" / "0.1" / "trace.bin").write_bytes(b"garbage, not a trace")
    result = cli("inspect", copy, "--json")
    assert_one_line_error(result, EXIT_BAD_RECORDING, "not a retrace trace file")
    shape = json.loads(result.stdout)
    assert [p["state"] for p in shape["processes"]] == ["complete", "damaged"]


@pytest.mark.parametrize("args", [["inspect"], ["events"], ["events", "DIR", "--limit", "x"],
                                  ["events", "DIR", "--thread", "-1"], ["inspect", "DIR", "--bogus"],
                                  ["inspect", "DIR", "extra"]],
                         ids=["no dir", "events no dir", "limit not a number", "negative thread",
                              "unknown option", "extra argument"])
def test_usage_mistakes(recorded, args):
    argv = [str(recorded.recording) if arg == "DIR" else arg for arg in args]
    result = cli(*argv)
    assert_one_line_error(result, EXIT_USAGE, f"see retrace-python {args[0]} --help")
    assert result.stdout == ""


# -- the launcher's command line ----------------------------------------------------


def test_help_lists_the_commands_and_each_has_its_own():
    usage = cli("--help")
    assert "retrace-python inspect DIR" in usage.stdout and "retrace-python events DIR" in usage.stdout
    for command, option in (("inspect", "--follow"), ("events", "--boundary PATTERN")):
        helped = cli(command, "--help")
        assert helped.returncode == 0 and option in helped.stdout, helped.stdout


def test_recording_does_not_import_typer():
    code = ("import sys; from retrace_launcher import cli; cli.run(['--version']); "
            "print('typer' in sys.modules, 'retrace.inspection' in sys.modules)")
    result = run([PYTHON, "-c", code])
    assert result.stdout.splitlines()[-1] == "False False", result.stderr


def test_a_script_named_inspect_is_recorded_as_dot_slash_inspect(tmp_path):
    app = Program(tmp_path, "import time\nprint('I am the script', time.time() > 0)\n", name="inspect")
    refused = run([LAUNCHER, "inspect"], cwd=app.dir)  # the command, not the script
    assert refused.returncode == EXIT_USAGE and "I am the script" not in refused.stdout
    result = run([LAUNCHER, "--recording", str(app.recording), "./inspect"], cwd=app.dir)
    assert result.returncode == 0 and result.stdout == "I am the script True\n", result.stderr
    shown = cli("events", app.recording, "--boundary", "time.time")
    assert shown.returncode == 0 and len(shown.stdout.splitlines()) == 1 and "inspect:2 in <module>" in shown.stdout
    assert os.path.isfile(app.recording / "run" / "inspect")
