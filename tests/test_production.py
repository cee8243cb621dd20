"""Recording in containers and production (issue #7): the Docker entrypoint, sampling.

There is no Docker engine here: the entrypoint runs as a process, and as PID 1 of a
new PID namespace (``unshare --pid --fork``, as root), which is what a container
gives it. Processes are ended by pid.
"""

from __future__ import annotations

import json
import re
import os
import shutil
import signal
import socket
import subprocess
import sys
import time

import psutil
import pytest

from conftest import LAUNCHER, PYTHON, _clean_env, run

ENTRYPOINT = os.path.join(os.path.dirname(LAUNCHER or ""), "retrace-entrypoint")
BIN = os.path.dirname(PYTHON)

SERVER = """\
import os, sys, time
print("ready", os.getppid() == 1, flush=True)
n = 0
while True:
    n += 1
    time.sleep(0.02)
    if n % 5 == 0:
        print("tick", n, time.time(), flush=True)
"""


def _can_unshare_pid() -> bool:
    if os.geteuid() != 0 or not shutil.which("unshare"):
        return False
    try:
        return subprocess.run(["unshare", "--pid", "--fork", "--mount-proc", "true"], capture_output=True,
                              timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def container_env(tmp_path, **extra) -> dict:
    """What a container image with retrace installed has: its python first on PATH."""
    env = _clean_env({"PATH": f"{BIN}:{os.environ.get('PATH', '')}"})
    env.update(extra)
    return env


def start(argv, tmp_path, env) -> subprocess.Popen:
    (tmp_path / "server.py").write_text(SERVER)
    return subprocess.Popen(argv, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def stop_after_ticks(proc: subprocess.Popen, target_pid: int, ticks: int = 3) -> tuple[str, str]:
    lines = [proc.stdout.readline()]
    assert lines[0].startswith("ready"), lines
    while len(lines) <= ticks:
        lines.append(proc.stdout.readline())
    os.kill(target_pid, signal.SIGTERM)  # what `docker stop` does to PID 1
    out, err = proc.communicate(timeout=30)
    return "".join(lines) + out, err


def check_complete_and_replayable(recording, recorded_out: str) -> None:
    inspected = run([LAUNCHER, "inspect", str(recording), "--json"])
    assert inspected.returncode == 0, inspected.stderr
    facts = json.loads(inspected.stdout)
    root = facts["processes"][0]
    assert facts["state"] == "complete", facts
    assert root["status"] == "killed by SIGTERM", root
    replayed = run([LAUNCHER, "--replay", str(recording)], no_network=True)
    assert replayed.returncode == -signal.SIGTERM, replayed.stderr  # dies the same way
    assert replayed.stdout == recorded_out


def test_entrypoint_forwards_sigterm_and_leaves_a_complete_recording(tmp_path):
    recording = tmp_path / "rec"
    proc = start([ENTRYPOINT, "python", "server.py"], tmp_path,
                 container_env(tmp_path, RETRACE="1", RETRACE_RECORDING_PATH=str(recording)))
    try:
        out, err = stop_after_ticks(proc, proc.pid)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert err == f"retrace: recording python server.py into {recording}\n"
    check_complete_and_replayable(recording, out)


@pytest.mark.skipif(not _can_unshare_pid(), reason="needs root and unshare --pid (CI has both)")
def test_entrypoint_as_pid_1_of_a_container(tmp_path):
    """As PID 1 the kernel drops signals without a handler: the program under it still
    gets `docker stop`'s SIGTERM, and the recording is complete."""
    recording = tmp_path / "rec"
    proc = start(["unshare", "--pid", "--fork", "--mount-proc", ENTRYPOINT, "python", "server.py"], tmp_path,
                 container_env(tmp_path, RETRACE="1", RETRACE_RECORDING_PATH=str(recording)))
    try:
        first = proc.stdout.readline()
        assert first == "ready True\n", (first, proc.stderr.read() if proc.poll() is not None else "")
        pid_1 = psutil.Process(proc.pid).children()[0].pid  # the entrypoint, PID 1 inside
        rest, err = stop_after_ticks_after_ready(proc, pid_1)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 128 + signal.SIGTERM, err
    check_complete_and_replayable(recording, first + rest)


def stop_after_ticks_after_ready(proc, target_pid, ticks: int = 3) -> tuple[str, str]:
    lines = [proc.stdout.readline() for _ in range(ticks)]
    os.kill(target_pid, signal.SIGTERM)
    out, err = proc.communicate(timeout=30)
    return "".join(lines) + out, err


def test_entrypoint_passes_through_untouched_without_retrace(tmp_path):
    env = container_env(tmp_path)
    proc = subprocess.Popen([ENTRYPOINT, "python", "-c", "import os, sys; print(os.getpid(), "
                             "os.environ.get('RETRACE_CONFIG')); sys.exit(3)"],
                            cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 3 and err == ""
    assert out == f"{proc.pid} None\n"  # exec'd: the program is the entrypoint's process
    assert not (tmp_path / "retrace-recordings").exists()


def test_entrypoint_one_fresh_recording_per_start_and_exit_status(tmp_path):
    base = tmp_path / "recordings"
    env = container_env(tmp_path, RETRACE="1", RETRACE_RECORDINGS_DIR=str(base))
    for code in (0, 5):
        result = subprocess.run([ENTRYPOINT, "python", "-c", f"import sys, time; print(time.time()); sys.exit({code})"],
                                cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
        assert result.returncode == code, result.stderr
    recordings = sorted(base.iterdir())
    assert len(recordings) == 2
    for recording in recordings:
        replayed = run([LAUNCHER, "--replay", str(recording)], no_network=True)
        assert replayed.returncode in (0, 5)


def test_entrypoint_runs_other_commands_unrecorded(tmp_path):
    result = subprocess.run([ENTRYPOINT, "sh", "-c", "echo shell; exit 4"], cwd=tmp_path,
                            env=container_env(tmp_path, RETRACE="1", RETRACE_RECORDING_PATH=str(tmp_path / "r")),
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 4 and result.stdout == "shell\n"
    assert result.stderr == "retrace: sh is not a Python program this interpreter can record; running it unrecorded\n"
    missing = subprocess.run([ENTRYPOINT, "no-such-command"], cwd=tmp_path, env=container_env(tmp_path),
                             capture_output=True, text=True, timeout=30)
    assert missing.returncode == 127
    assert missing.stderr == "retrace: cannot run no-such-command: No such file or directory\n"


CHILDREN = """\
import subprocess, sys
child = subprocess.run([sys.executable, "-c", "import os; print(os.environ.get('RETRACE_CONFIG', '')[:16])"],
                       capture_output=True, text=True)
print("child sees", child.stdout.strip())
"""


@pytest.mark.parametrize("how", ["launcher", "env", "entrypoint"])
def test_sampling_decides_for_the_root_and_children_follow(tmp_path, how):
    (tmp_path / "app.py").write_text(CHILDREN)
    outcomes = {}
    for rate in ("0", "1"):
        recording = tmp_path / f"rec{rate}"
        env = container_env(tmp_path, RETRACE_SAMPLE_RATE=rate)
        if how == "launcher":
            argv = [LAUNCHER, "--recording", str(recording), "app.py"]
        else:
            env.update(RETRACE="1", RETRACE_RECORDING_PATH=str(recording))
            argv = [PYTHON, "app.py"] if how == "env" else [ENTRYPOINT, "python", "app.py"]
        result = subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr
        outcomes[rate] = (result, recording.exists())
    out_result, out_recorded = outcomes["0"]
    assert not out_recorded
    assert "retrace: sampled out (RETRACE_SAMPLE_RATE=0): this run and its children are not recorded\n" \
        in out_result.stderr
    assert out_result.stdout == 'child sees {"mode": "off"}\n'  # the child did not record either
    in_result, in_recorded = outcomes["1"]
    assert in_recorded
    assert "retrace: sampled in (RETRACE_SAMPLE_RATE=1): recording this run\n" in in_result.stderr
    assert in_result.stdout == 'child sees {"mode": "record\n'
    assert (tmp_path / "rec1" / "processes").is_dir()  # the child recorded, as part of the tree


def test_sampling_rate_misconfigured(tmp_path):
    (tmp_path / "app.py").write_text("print('ran')\n")
    bad = run([LAUNCHER, "app.py"], cwd=tmp_path, env={"RETRACE_SAMPLE_RATE": "half"})
    assert bad.returncode == 2
    assert bad.stderr == "retrace: RETRACE_SAMPLE_RATE='half' is not a fraction between 0 and 1\n"
    hooked = run([PYTHON, "app.py"], cwd=tmp_path, env={"RETRACE": "1", "RETRACE_RECORDING_PATH": str(tmp_path / "r"),
                                                        "RETRACE_SAMPLE_RATE": "2"})
    assert hooked.returncode == 0 and hooked.stdout == "ran\n"  # production: the program runs, unrecorded
    assert hooked.stderr == ("retrace: warning: RETRACE_SAMPLE_RATE='2' is not a fraction between 0 and 1; "
                             "running unrecorded\n")
    assert not (tmp_path / "r").exists()


BIG = """\
import os, time
for i in range(100_000):
    t = time.time()
    if i % 10_000 == 0:
        print("at", i, os.urandom(2).hex(), flush=True)
print("done")
"""


def test_size_cap_stops_recording_and_the_program_goes_on(tmp_path):
    (tmp_path / "big.py").write_text(BIG)
    recording = tmp_path / "rec"
    recorded = run([LAUNCHER, "--recording", str(recording), "big.py"], cwd=tmp_path,
                   env={"RETRACE_MAX_SIZE": "64KiB"})
    assert recorded.returncode == 0
    assert recorded.stdout.endswith("at 90000 " + recorded.stdout.split()[-2] + "\ndone\n")  # the program went on
    assert recorded.stderr == ("retrace: warning: recording stopped at its size cap (RETRACE_MAX_SIZE=64KiB); "
                               "the program goes on unrecorded\n")
    size = (recording / "trace.bin").stat().st_size
    assert 64 * 1024 <= size < 64 * 1024 + 400 * 1024  # at most one flush past the cap
    inspected = json.loads(run([LAUNCHER, "inspect", str(recording), "--json"]).stdout)
    assert inspected["processes"][0]["status"] == "recording stopped at its size cap"
    replayed = run([LAUNCHER, "--replay", str(recording)], cwd=tmp_path, no_network=True)
    assert replayed.returncode == 87, replayed.stderr
    assert recorded.stdout.startswith(replayed.stdout) and replayed.stdout.startswith("at 0 ")
    assert replayed.stderr.startswith("retrace: recording ends at event ")
    assert "it stopped there at its size cap (RETRACE_MAX_SIZE) while the program went on; replay stops before " \
           "time.time at " in replayed.stderr
    uncapped = run([LAUNCHER, "--recording", str(tmp_path / "rec2"), "big.py"], cwd=tmp_path,
                   env={"RETRACE_MAX_SIZE": "lots"})
    assert uncapped.stderr == ("retrace: warning: RETRACE_MAX_SIZE='lots' is not a size (such as 500MB or 2G); "
                               "recording without a cap\n")
    assert run([LAUNCHER, "--replay", str(tmp_path / "rec2")], cwd=tmp_path, no_network=True).stdout == uncapped.stdout


def make_recordings(base, ages_and_codes) -> None:
    """Real recordings under ``base``, their starts moved back by the given ages."""
    base.mkdir()
    for name, age, code in ages_and_codes:
        result = run([LAUNCHER, "--recording", str(base / name), "-c",
                      f"import sys, time; time.time(); sys.exit({code})"], cwd=base)
        assert result.returncode == code
        settings_path = base / name / "settings.json"
        settings = json.loads(settings_path.read_text())
        settings["start_time"] -= age
        settings_path.write_text(json.dumps(settings))


def test_prune_removes_old_recordings_and_can_keep_failed_ones(tmp_path):
    base = tmp_path / "recordings"
    day = 86400
    make_recordings(base, [("old-ok", 10 * day, 0), ("old-failed", 9 * day, 1), ("new-ok", 3600, 0)])
    (base / "not-a-recording").mkdir()
    dry = run([LAUNCHER, "prune", str(base), "--older-than", "7d", "--keep-failed", "--dry-run"])
    assert dry.returncode == 0, dry.stderr
    assert re.fullmatch(rf"would remove {base}/old-ok \(started [^,]+, [\d.]+ KiB\)\n"
                        r"would remove 1 of 3 recordings older than 7d \([\d.]+ KiB\); kept 1 failed\n", dry.stdout)
    assert sorted(p.name for p in base.iterdir()) == ["new-ok", "not-a-recording", "old-failed", "old-ok"]
    kept = run([LAUNCHER, "prune", str(base), "--older-than", "7d", "--keep-failed"])
    assert kept.returncode == 0
    assert sorted(p.name for p in base.iterdir()) == ["new-ok", "not-a-recording", "old-failed"]
    everything_old = run([LAUNCHER, "prune", str(base), "--older-than", "2h"])
    assert f"removed {base}/old-failed (started " in everything_old.stdout and ", exit 1, " in everything_old.stdout
    assert sorted(p.name for p in base.iterdir()) == ["new-ok", "not-a-recording"]


def test_prune_misused(tmp_path):
    base = tmp_path / "recordings"
    make_recordings(base, [("one", 0, 0)])
    for argv, message in (
        (["prune", str(base), "--older-than", "7x"], "--older-than needs an age such as 7d, 12h, 30m (not '7x')"),
        (["prune", str(base / "one"), "--older-than", "7d"],
         f"{base / 'one'} is a recording; prune takes the directory that holds recordings"),
        (["prune", str(tmp_path / "nowhere"), "--older-than", "7d"], f"{tmp_path / 'nowhere'} is not a directory"),
    ):
        result = run([LAUNCHER, *argv])
        assert result.returncode == 2, result.stderr
        assert result.stderr == f"retrace: {message}\n"


# -- shipping recordings: S3 (a real moto server, started here) ---------------------------
@pytest.fixture
def s3(tmp_path):
    """A moto S3 server on a free port, its settings, and a bucket `recordings`."""
    boto3 = pytest.importorskip("boto3")
    server = shutil.which("moto_server", path=BIN)
    assert server, "moto[server] is a test dependency (pyproject.toml)"
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    proc = subprocess.Popen([server, "-H", "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    env = {"AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}", "AWS_ACCESS_KEY_ID": "test",
           "AWS_SECRET_ACCESS_KEY": "test", "AWS_DEFAULT_REGION": "us-east-1"}
    try:
        client = boto3.client("s3", endpoint_url=env["AWS_ENDPOINT_URL"], aws_access_key_id="test",
                              aws_secret_access_key="test", region_name="us-east-1")
        deadline = time.monotonic() + 30
        while True:
            try:
                client.create_bucket(Bucket="recordings")
                break
            except Exception:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise
                time.sleep(0.2)
        yield env, client
    finally:
        proc.terminate()
        proc.wait(timeout=10)


APP = """\
import os, time
print("token", os.urandom(4).hex(), time.time())
"""


def wait_for_object(client, key: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        listing = client.list_objects_v2(Bucket="recordings", Prefix=key)
        if listing.get("KeyCount"):
            return
        time.sleep(0.2)
    pytest.fail(f"{key} never appeared")


def test_upload_by_the_recorded_process_then_fetch_and_replay(tmp_path, s3):
    env, client = s3
    (tmp_path / "app.py").write_text(APP)
    recording = tmp_path / "rec-one"
    recorded = run([LAUNCHER, "--recording", str(recording), "app.py"], cwd=tmp_path,
                   env=dict(env, RETRACE_UPLOAD="s3://recordings/team/"))
    assert recorded.returncode == 0 and recorded.stderr == ""
    wait_for_object(client, "team/rec-one/.retrace-complete")  # a detached uploader did it
    assert "uploaded" in (recording / "upload.log").read_text()
    shutil.rmtree(recording)  # the machine that recorded is gone
    fetched = run([LAUNCHER, "fetch", "s3://recordings/team/rec-one", str(tmp_path / "here")], env=env)
    assert fetched.returncode == 0, fetched.stderr
    assert fetched.stdout == (f"fetched s3://recordings/team/rec-one into {tmp_path / 'here'}; "
                              f"replay it: retrace-python --replay {tmp_path / 'here'}\n")
    (tmp_path / "app.py").unlink()
    replayed = run([LAUNCHER, "--replay", str(tmp_path / "here")], cwd=tmp_path, no_network=True)
    assert replayed.returncode == 0, replayed.stderr
    assert replayed.stdout == recorded.stdout
    assert not (tmp_path / "here" / "upload.log").exists()
    several = run([LAUNCHER, "fetch", "s3://recordings/team"], env=env, cwd=tmp_path)
    assert several.returncode == 2
    assert several.stderr == ("retrace: s3://recordings/team holds recordings, it is none: fetch one of "
                              "s3://recordings/team/rec-one\n")
    missing = run([LAUNCHER, "fetch", "s3://recordings/nothing"], env=env, cwd=tmp_path)
    assert missing.returncode == 69 and missing.stderr == "retrace: no complete recording at s3://recordings/nothing\n"


def record_in_container(tmp_path, s3_env: dict, recording: str, upload: str) -> subprocess.CompletedProcess:
    """APP under the entrypoint with RETRACE_UPLOAD, as a container runs it."""
    (tmp_path / "app.py").write_text(APP)
    return subprocess.run([ENTRYPOINT, "python", "app.py"], cwd=tmp_path, capture_output=True, text=True,
                          timeout=60, env=container_env(tmp_path, RETRACE="1", RETRACE_UPLOAD=upload,
                                                        RETRACE_RECORDING_PATH=str(tmp_path / recording), **s3_env))


def test_entrypoint_uploads_before_it_exits(tmp_path, s3):
    env, client = s3
    result = record_in_container(tmp_path, env, "rec-two", "s3://recordings/ci")
    assert result.returncode == 0, result.stderr
    files = sum(len(names) for _, _, names in os.walk(tmp_path / "rec-two"))
    assert result.stderr.endswith(f"retrace: uploaded {files} files of {tmp_path / 'rec-two'} to "
                                  "s3://recordings/ci/rec-two\n"), result.stderr
    keys = [item["Key"] for item in client.list_objects_v2(Bucket="recordings", Prefix="ci/")["Contents"]]
    assert "ci/rec-two/.retrace-complete" in keys and "ci/rec-two/trace.bin" in keys
    assert not (tmp_path / "rec-two" / "upload.log").exists()  # (no detached uploader: the entrypoint did it)


def test_upload_failure_is_reported_not_fatal(tmp_path, s3):
    env, _ = s3
    result = record_in_container(tmp_path, env, "rec", "s3://no-such-bucket/x")
    assert result.returncode == 0  # the program's status, whatever became of the upload
    assert re.search(r"retrace: cannot upload .*/rec to s3://no-such-bucket/x: .*NoSuchBucket", result.stderr)
