"""Recordings that cannot be replayed: one clear line on stderr, exit 65, never a traceback.

A damaged chunk in the *middle* of trace.bin (a checksum mismatch or undecodable
data with more chunks after it) is corruption, not a cut-short recording: replay
runs every event before it, then stops with ``retrace: ... is corrupt: ...;
replay cannot go past event N`` and exit 65. Only a damaged *last* chunk (or a
short one) counts as a torn tail, which replays to its end and exits 87.
"""

from __future__ import annotations

import json
import shutil
import sys

import cbor2
import pytest
from conftest import LAUNCHER, PYTHON, run

from retrace.errors import EXIT_BAD_RECORDING, EXIT_USAGE
from retrace.trace import format as fmt
from retrace.trace.framing import frame, split_frames

PROGRAM = """\
import time
for i in range(4):
    print(i, time.time(), flush=True)
    time.sleep(0.07)  # longer than the flush interval: events land in several chunks
print("end")
"""


@pytest.fixture(scope="module")
def good_recording(tmp_path_factory):
    """One recording made once; each test damages its own copy."""
    from conftest import Program

    app = Program(tmp_path_factory.mktemp("bad-input"), PROGRAM)
    result = app.record()
    assert result.returncode == 0, result.stderr
    return app, result


@pytest.fixture
def copy(good_recording, tmp_path):
    app, _ = good_recording
    target = tmp_path / "recording"
    shutil.copytree(app.recording, target)
    return target


def replay(path) -> tuple[int, str, str]:
    result = run([LAUNCHER, "--replay", str(path)], no_network=True)
    return result.returncode, result.stdout, result.stderr


def assert_one_line_refusal(result, *words: str) -> None:
    code, _, stderr = result
    assert code == EXIT_BAD_RECORDING, stderr
    assert "Traceback" not in stderr
    lines = stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("retrace: "), stderr
    for word in words:
        assert word in lines[0], stderr


def chunks(path):
    """(offset, payload) of every chunk after the header chunk."""
    data = path.read_bytes()
    return list(split_frames(data, len(fmt.MAGIC)))[1:]


def rewrite_settings(path, change) -> None:
    settings = json.loads((path / "settings.json").read_text())
    change(settings)
    (path / "settings.json").write_text(json.dumps(settings))


def test_a_missing_directory(tmp_path):
    assert_one_line_refusal(replay(tmp_path / "nowhere"), "no recording at", "nowhere")


def test_a_file_instead_of_a_directory(tmp_path):
    path = tmp_path / "file"
    path.write_text("x")
    assert_one_line_refusal(replay(path), "no recording at")


def test_a_directory_that_is_not_a_recording(tmp_path):
    assert_one_line_refusal(replay(tmp_path), "not a retrace recording", "settings.json")


@pytest.mark.parametrize("text, words", [
    ("{not json", ["cannot read", "settings.json"]),
    ("[1, 2]", ["not a retrace settings file"]),
    ('{"settings_version": "1"}', ["not a retrace settings file"]),
    ('{"settings_version": 999, "tool": "9.0"}', ["newer retrace-python"]),
    ('{"settings_version": 1}', ["does not say which Python"]),
], ids=["not json", "not an object", "version not a number", "newer settings", "no python"])
def test_settings_that_make_no_sense(copy, text, words):
    (copy / "settings.json").write_text(text)
    assert_one_line_refusal(replay(copy), *words)


@pytest.mark.parametrize("key", ["main", "cwd", "env"])
def test_settings_missing_what_replay_needs(copy, key):
    rewrite_settings(copy, lambda s: s.pop(key))
    assert_one_line_refusal(replay(copy), "settings.json is damaged", key)


def test_another_python_minor_version(copy):
    other = [3, sys.version_info[1] + 1, 0]
    rewrite_settings(copy, lambda s: s["python"].update(version_info=other))
    assert_one_line_refusal(replay(copy), f"recorded with Python 3.{other[1]}", f"this is Python 3.{sys.version_info[1]}")


def test_no_trace_file(copy):
    (copy / "trace.bin").unlink()
    assert_one_line_refusal(replay(copy), "no trace.bin")


@pytest.mark.parametrize("damage, words", [
    (lambda data: b"", ["empty or cut short before its header"]),
    (lambda data: bytes(range(256)) * 8, ["not a retrace trace file"]),
    (lambda data: data[:5], ["empty or cut short before its header"]),
    (lambda data: data[:len(fmt.MAGIC) + 12], ["cut short inside its header"]),
    (lambda data: data[:len(fmt.MAGIC) + 9] + bytes([data[len(fmt.MAGIC) + 9] ^ 0x10]) + data[len(fmt.MAGIC) + 10:],
     ["corrupt", "header"]),
], ids=["empty", "garbage", "truncated in the magic", "truncated in the header", "header byte flipped"])
def test_a_trace_that_cannot_even_start(copy, damage, words):
    path = copy / "trace.bin"
    path.write_bytes(damage(path.read_bytes()))
    assert_one_line_refusal(replay(copy), *words)


def test_a_trace_format_this_build_cannot_read(copy):
    path = copy / "trace.bin"
    data = path.read_bytes()
    (offset, header), *_ = split_frames(data, len(fmt.MAGIC))
    newer = dict(cbor2.loads(header), format=99)
    path.write_bytes(fmt.MAGIC + frame(cbor2.dumps(newer)) + data[offset + 8 + len(header):])
    assert_one_line_refusal(replay(copy), "trace format 99", "upgrade")


def events_in(payload: bytes) -> int:
    return sum(1 for item in cbor2.loads(payload) if type(item) is list)


def test_a_damaged_chunk_in_the_middle_replays_up_to_it_then_says_so(copy, good_recording):
    _, recorded = good_recording
    path = copy / "trace.bin"
    found = chunks(path)
    assert len(found) >= 3, "the program should have flushed several chunks"
    victim = len(found) - 2  # a chunk in the middle, with events before and after it
    offset, payload = found[victim]
    before = sum(events_in(p) for _, p in found[:victim])
    data = bytearray(path.read_bytes())
    data[offset + 8 + len(payload) // 2] ^= 0x55
    path.write_bytes(bytes(data))
    code, stdout, stderr = replay(copy)
    assert code == EXIT_BAD_RECORDING, stderr
    assert "Traceback" not in stderr and len(stderr.splitlines()) == 1
    assert stderr.startswith("retrace: ") and "is corrupt: checksum mismatch at byte" in stderr
    assert f"replay cannot go past event {before}" in stderr
    assert recorded.stdout.startswith(stdout) and stdout.count("\n") >= 1  # what came before was replayed


def test_an_undecodable_chunk_with_a_valid_checksum(copy, good_recording):
    _, recorded = good_recording
    path = copy / "trace.bin"
    offset, payload = chunks(path)[1]
    data = path.read_bytes()
    path.write_bytes(data[:offset] + frame(b"\xff" + payload[1:]) + data[offset + 8 + len(payload):])
    code, stdout, stderr = replay(copy)
    assert code == EXIT_BAD_RECORDING and "Traceback" not in stderr, stderr
    assert len(stderr.splitlines()) == 1 and "undecodable chunk" in stderr
    assert recorded.stdout.startswith(stdout)


@pytest.mark.parametrize("items", [[[0]], ["text"], [{"b": [1]}], [{"s": 5}], 7],
                         ids=["short event", "not an item", "bad definition", "bad site", "not a list"])
def test_chunks_that_decode_but_make_no_sense(copy, items):
    path = copy / "trace.bin"
    offset, payload = chunks(path)[0]
    data = path.read_bytes()
    path.write_bytes(data[:offset] + frame(cbor2.dumps(items)) + data[offset + 8 + len(payload):])
    assert_one_line_refusal(replay(copy), "is corrupt")


def test_a_torn_last_chunk_is_a_cut_short_recording_not_corruption(copy, good_recording):
    _, recorded = good_recording
    path = copy / "trace.bin"
    offset, _ = chunks(path)[-1]
    path.write_bytes(path.read_bytes()[:offset + 11])
    code, stdout, stderr = replay(copy)
    assert code == 87, stderr
    assert stderr.startswith("retrace: recording ends at event ") and "partial chunk" in stderr
    assert recorded.stdout.startswith(stdout)


def test_the_main_script_missing_from_run(copy):
    (copy / "run" / "app.py").unlink()
    assert_one_line_refusal(replay(copy), "main script is missing")


def test_replay_without_a_directory_is_a_usage_error():
    result = run([LAUNCHER, "--replay"])
    assert result.returncode == EXIT_USAGE and "Traceback" not in result.stderr
    assert result.stderr.startswith("retrace: ") and len(result.stderr.splitlines()) == 1


def test_replay_with_a_program_too_is_a_usage_error(tmp_path):
    result = run([LAUNCHER, "--replay", str(tmp_path), "app.py"])
    assert result.returncode == EXIT_USAGE and "Traceback" not in result.stderr


def test_python_m_retrace_refuses_the_same_way(tmp_path):
    result = run([PYTHON, "-m", "retrace", "--recording", str(tmp_path / "nowhere")])
    assert_one_line_refusal(result.output, "no recording at")
    usage = run([PYTHON, "-m", "retrace"])
    assert usage.returncode == EXIT_USAGE and "Traceback" not in usage.stderr
