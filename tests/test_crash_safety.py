"""The recording survives its process dying, and never takes the program down.

- SIGKILL mid-run: the trace holds every event flushed (at least every 100 ms);
  replay prints what the recording printed up to there, then
  ``retrace: recording ends at event N ...`` and exit 87.
- SIGTERM (and SIGHUP): the recorder flushes and writes an end marker saying the
  process died of the signal. Replay runs to that point (the first boundary call,
  or the program's end, after the last recorded event), prints
  ``retrace: replay reached the end of the recording at event N: the recorded
  process was killed by SIGTERM ...`` and kills itself with the same signal, so
  its exit status is the recording's.
- An unusable recording directory or a full disk: one warning line, the program
  runs on unrecorded with its own output and exit code.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import textwrap
import time

import pytest
from conftest import LAUNCHER, PYTHON, _clean_env, assert_same_run, run

from retrace.errors import EXIT_RECORDING_ENDS
from retrace.trace.model import Ending, Event, iter_events
from retrace.trace.reader import TraceReader

COUNTER = """\
import time
i = 0
while True:
    print(i, time.time(), flush=True)
    i += 1
    time.sleep(0.02)
"""


def trace_items(recording) -> tuple[list[Event], Ending | None]:
    items = list(iter_events(TraceReader(str(recording / "trace.bin"))))
    events = [item for item in items if isinstance(item, Event)]
    endings = [item for item in items if isinstance(item, Ending)]
    return events, (endings[0] if endings else None)


def start_recording(tmp_path, source: str) -> tuple[subprocess.Popen, object]:
    script = tmp_path / "app.py"
    script.write_text(source)
    recording = tmp_path / "recording"
    proc = subprocess.Popen([LAUNCHER, "--recording", str(recording), str(script)], cwd=tmp_path,
                            env=_clean_env(), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    return proc, recording


def read_lines(proc: subprocess.Popen, count: int, timeout: float = 10) -> list[str]:
    lines = []
    deadline = time.monotonic() + timeout
    while len(lines) < count and time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
    return lines


def stop(proc: subprocess.Popen, signum: int) -> tuple[str, str, int]:
    """Send ``signum`` to the recorded process (by pid: the launcher exec'd into it)."""
    os.kill(proc.pid, signum)
    out, err = proc.communicate(timeout=10)
    return out, err, proc.returncode


def replay(recording):
    return run([LAUNCHER, "--replay", str(recording)], no_network=True)


def test_a_killed_recording_replays_to_its_last_event_then_says_so(tmp_path):
    proc, recording = start_recording(tmp_path, COUNTER)
    try:
        first = read_lines(proc, 12)
        assert len(first) == 12, proc.stderr.read() if proc.poll() is not None else first
        rest, err, code = stop(proc, signal.SIGKILL)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert code == -signal.SIGKILL and err == ""
    recorded_lines = first + rest.splitlines(keepends=True)

    events, ending = trace_items(recording)
    assert ending is None  # no end marker: the process never got to write one
    clock_reads = sum(1 for e in events if e.boundary == "time.time")

    replayed = replay(recording)
    assert replayed.returncode == EXIT_RECORDING_ENDS, replayed.stderr
    assert "Traceback" not in replayed.stderr and len(replayed.stderr.splitlines()) == 1
    assert replayed.stderr.startswith(f"retrace: recording ends at event {len(events)}")
    lines = replayed.stdout.splitlines(keepends=True)
    assert lines == recorded_lines[:len(lines)]  # the same lines, up to where the trace ends
    assert len(lines) == clock_reads
    # flushed at least every 100 ms: at 20 ms a line, only the last few lines may be missing
    assert len(recorded_lines) - len(lines) <= 10, (len(recorded_lines), len(lines))
    assert len(lines) >= 6
    assert replay(recording).output == replayed.output


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP], ids=lambda s: signal.Signals(s).name)
def test_a_terminated_recording_replays_to_the_same_point_and_dies_the_same_way(tmp_path, signum):
    proc, recording = start_recording(tmp_path, COUNTER)
    try:
        first = read_lines(proc, 8)
        assert len(first) == 8
        rest, err, code = stop(proc, signum)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert code == -signum and err == ""
    recorded = "".join(first) + rest

    events, ending = trace_items(recording)
    assert ending is not None and (ending.how, ending.status) == ("signal", -signum)

    replayed = replay(recording)
    assert replayed.returncode == -signum, replayed.stderr
    name = signal.Signals(signum).name
    assert replayed.stderr.startswith(
        f"retrace: replay reached the end of the recording at event {len(events)}: "
        f"the recorded process was killed by {name}"), replayed.stderr
    assert len(replayed.stderr.splitlines()) == 1
    # Same lines; at most one more if the signal landed between the clock read and the print.
    assert replayed.stdout.startswith(recorded), (recorded, replayed.stdout)
    assert replayed.stdout[len(recorded):].count("\n") <= 1
    assert sum(1 for e in events if e.boundary == "time.time") == replayed.stdout.count("\n")


def test_the_trace_is_flushed_while_the_program_runs(tmp_path):
    proc, recording = start_recording(tmp_path, textwrap.dedent("""\
        import time
        print(time.time(), flush=True)
        x = 0
        while True:  # no more boundary calls: only the timer can flush
            x += 1
        """))
    try:
        assert read_lines(proc, 1)
        time.sleep(0.25)
        events, ending = trace_items(recording)
        assert "time.time" in [e.boundary for e in events] and ending is None
    finally:
        proc.kill()
        proc.wait()


EXITING = """\
import sys, time
print("hello", time.time() > 0)
sys.stderr.write("to stderr\\n")
sys.exit(3)
"""


def plain_run(tmp_path, source: str):
    script = tmp_path / "plain.py"
    script.write_text(source)
    return run([PYTHON, str(script)], cwd=tmp_path)


@pytest.mark.parametrize("where", ["under a file", "in /proc"])
def test_an_unusable_recording_directory_warns_and_runs_the_program(tmp_path, where):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    target = blocker / "recording" if where == "under a file" else f"/proc/self/no-such/{tmp_path.name}"
    script = tmp_path / "app.py"
    script.write_text(EXITING)
    plain = plain_run(tmp_path, EXITING)
    result = run([LAUNCHER, "--recording", str(target), str(script)], cwd=tmp_path)
    assert (result.returncode, result.stdout) == (plain.returncode, plain.stdout) == (3, "hello True\n")
    warning, *rest = result.stderr.splitlines()
    assert warning.startswith("retrace: warning: cannot record into") and "running unrecorded" in warning
    assert rest == ["to stderr"] and "Traceback" not in result.stderr


def test_the_environment_route_also_warns_and_runs_the_program(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    script = tmp_path / "app.py"
    script.write_text(EXITING)
    result = run([PYTHON, str(script)], cwd=tmp_path,
                 env={"RETRACE": "1", "RETRACE_RECORDING_PATH": str(blocker / "recording")})
    assert (result.returncode, result.stdout) == (3, "hello True\n")
    lines = result.stderr.splitlines()
    assert len(lines) == 2 and lines[0].startswith("retrace: warning:") and lines[1] == "to stderr"


def _can_mount_tmpfs() -> bool:
    if os.geteuid() != 0 or not shutil.which("unshare") or not shutil.which("mount"):
        return False
    probe = subprocess.run(["unshare", "-m", "sh", "-c", "mount -t tmpfs -o size=64k tmpfs /mnt"],
                           capture_output=True, timeout=10)
    return probe.returncode == 0


FILLS_THE_DISK = """\
import sys, time
time.sleep(0.3)  # the code snapshot lands before the disk fills
total = 0.0
for _ in range(200000):
    total += time.time()
print("done", total > 0)
sys.exit(3)
"""


@pytest.mark.skipif(not _can_mount_tmpfs(), reason="needs root, unshare -m and a tmpfs mount")
def test_a_full_disk_stops_the_recording_not_the_program(tmp_path):
    disk = tmp_path / "disk"
    disk.mkdir()
    kept = tmp_path / "kept"
    script = tmp_path / "app.py"
    script.write_text(FILLS_THE_DISK)
    # A 64 KiB tmpfs in a private mount namespace; the recording is copied out before it goes.
    shell = (f'mount -t tmpfs -o size=64k tmpfs "{disk}" && '
             f'"{LAUNCHER}" --recording "{disk}/rec" "{script}"; code=$?; '
             f'cp -a "{disk}/rec" "{kept}"; exit $code')
    result = run(["unshare", "-m", "sh", "-c", shell], cwd=tmp_path, timeout=60)
    plain = plain_run(tmp_path, FILLS_THE_DISK)
    assert (result.returncode, result.stdout) == (plain.returncode, plain.stdout) == (3, "done True\n")
    assert result.stderr.splitlines() == [
        "retrace: warning: recording stopped, the program goes on unrecorded: "
        "cannot write the trace (No space left on device)"], result.stderr
    assert not any(name.endswith(".tmp") or ".tmp" in name for name in os.listdir(kept))

    events, ending = trace_items(kept)
    # Chunks are bounded in size, so the full disk cost only the chunk being written.
    assert ending is None and sum(1 for e in events if e.boundary == "time.time") > 100
    replayed = replay(kept)
    assert replayed.returncode == EXIT_RECORDING_ENDS, replayed.stderr
    assert replayed.stderr.startswith(f"retrace: recording ends at event {len(events)}")
    assert replayed.stdout == "" and "Traceback" not in replayed.stderr


def test_a_replay_that_runs_past_a_cut_short_recording_says_so_at_the_end(tmp_path):
    """Killed after its last boundary call: replay reaches the program's end, which was never recorded."""
    proc, recording = start_recording(tmp_path, textwrap.dedent("""\
        import time
        print("read", time.time() > 0, flush=True)
        for _ in range(20_000_000):  # no boundary calls from here on
            pass
        print("finished")
        """))
    try:
        assert read_lines(proc, 1) == ["read True\n"]
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and not any(e.boundary == "time.time" for e in trace_items(recording)[0]):
            time.sleep(0.02)
        out, err, code = stop(proc, signal.SIGKILL)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert code == -signal.SIGKILL and out == ""
    events, ending = trace_items(recording)
    assert ending is None
    replayed = replay(recording)
    assert replayed.returncode == EXIT_RECORDING_ENDS, replayed.stderr
    assert replayed.stdout == "read True\nfinished\n"
    assert replayed.stderr.startswith(f"retrace: recording ends at event {len(events)}")
    assert "replay went on to the program's end" in replayed.stderr


BACKLOG_PROGRAM = """
    import gc, time
    from retrace.engine.recorder import BACKLOG, UPKEEP_EVERY_QUICK
    writer = next((o for o in gc.get_objects() if type(o).__name__ == "TraceWriter"), None)  # (none on replay)
    pending = writer.events if writer is not None else []
    clock, most = time.time, 0
    for _ in range(4 * BACKLOG):
        clock()
        most = max(most, len(pending))
    print("pending stayed bounded:", most <= BACKLOG + UPKEEP_EVERY_QUICK, "of", BACKLOG)
"""


def test_a_program_recording_faster_than_the_trace_is_written_is_held_back(program):
    """Back-pressure: past BACKLOG pending events the recording thread writes them itself,
    so memory stays bounded however fast the program makes boundary calls."""
    app = program(BACKLOG_PROGRAM)
    recorded = app.record()
    assert recorded.returncode == 0, recorded.stderr
    assert "pending stayed bounded: True" in recorded.stdout
    assert_same_run(recorded, app.replay())
