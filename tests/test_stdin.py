"""sys.stdin and input(): what the program read is recorded; replay reads nothing.

Every test records with some stdin, then replays with a DIFFERENT (or empty)
stdin and expects the recorded run's output, exit code and traceback.
"""

from __future__ import annotations

import os
import subprocess

import pytest

from conftest import LAUNCHER, PYTHON, Result, _clean_env, assert_same_run, run

READER = """
    import sys, time
    print("facts", sys.stdin.isatty(), sys.stdin.encoding, sys.stdin.name, sys.stdin.mode,
          sys.stdin is sys.__stdin__, sys.stdin.readable())
    name = input("name? ")
    print("hello", name, time.time() > 0)
    print("prompt-none", input(None))
    print("line", repr(sys.stdin.readline()))
    print("bytes", sys.stdin.buffer.read(5))
    print("rest", repr(sys.stdin.read()))
    print("after eof", repr(sys.stdin.read()), repr(sys.stdin.buffer.read()), repr(sys.stdin.readline()))
    try:
        input("more? ")
    except EOFError as exc:
        print("eof", repr(exc))
"""

STDIN_TEXT = "bob\nnone\nsecond line\nABCDEFG\nlast line\n"


def _plain(app, stdin: str, *args: str) -> Result:
    return run([PYTHON, str(app.script), *args], cwd=app.dir, stdin=stdin)


def test_input_readline_read_and_buffer_read_replay_with_other_stdin(program):
    app = program(READER)
    plain = _plain(app, STDIN_TEXT)
    recorded = app.record(stdin=STDIN_TEXT)
    assert recorded.output == plain.output  # recording changes nothing the program sees
    assert "hello bob" in recorded.stdout and "last line" in recorded.stdout
    # Replay never reads fd 0: another stdin, or none at all, changes nothing.
    assert_same_run(recorded, app.replay(stdin="mallory\nother\n" * 1000))
    assert_same_run(recorded, app.replay(stdin=""))


def test_uncaught_eof_error_replays_with_the_same_traceback(program):
    app = program("""
        while True:
            print("got", input("> "))
    """)
    plain = _plain(app, "one\ntwo\n")
    recorded = app.record(stdin="one\ntwo\n")
    assert recorded.returncode == 1
    assert recorded.output == plain.output
    assert recorded.stderr.splitlines()[-1] == "EOFError: EOF when reading a line"
    assert "retrace" not in recorded.stderr and "print(\"got\", input(\"> \"))" in recorded.stderr
    replayed = app.replay(stdin="three\nfour\nfive\n")
    assert_same_run(recorded, replayed)


def test_for_line_in_stdin_interleaved_with_clocks(program):
    app = program("""
        import sys, time
        total = 0
        for number, line in enumerate(sys.stdin):
            total += int(line)
            print(number, line.rstrip(), total, time.time_ns())
        print("lines done", sys.stdin.readline() == "")
    """)
    text = "".join(f"{n * 7}\n" for n in range(2000))  # several buffer fills
    recorded = app.record(stdin=text)
    assert recorded.returncode == 0, recorded.stderr
    assert recorded.stdout.count("\n") == 2001
    assert_same_run(recorded, app.replay(stdin="1\n2\n"))
    assert_same_run(recorded, app.replay())


def _run_bytes(argv, cwd, stdin: bytes) -> tuple[int, bytes, bytes]:
    proc = subprocess.run(argv, cwd=cwd, env=_clean_env(), input=stdin, capture_output=True, timeout=60)
    return proc.returncode, proc.stdout, proc.stderr


def test_binary_stdin_and_out_parameter_reads(program):
    app = program("""
        import sys, array
        raw = sys.stdin.buffer.raw
        ints = array.array("i", [0, 0])
        print(raw.readinto(ints), ints.tobytes())
        print(raw.read(2), raw.readline(), raw.readline(3))
        buf = bytearray(4)
        print(sys.stdin.buffer.readinto(buf), bytes(buf))
        print(sys.stdin.buffer.peek(1)[:1], sys.stdin.buffer.read1(3))
        print(sys.stdin.buffer.read())
    """)
    data = b"\x00\x01\x02\x03\x04\x05\x06\x07\xff\xfe\n\x80\x81\x82\x83" + bytes(range(256)) * 40
    plain = _run_bytes([PYTHON, str(app.script)], app.dir, data)
    recorded = _run_bytes([LAUNCHER, "--recording", str(app.recording), str(app.script)], app.dir, data)
    assert recorded == plain
    assert recorded[1].startswith(b"8 b'\\x00\\x01\\x02\\x03\\x04\\x05\\x06\\x07'\nb'\\xff\\xfe' b'\\n' b'\\x80\\x81\\x82'\n")
    replay = [LAUNCHER, "--replay", str(app.recording)]
    assert _run_bytes(replay, app.root, b"x" * 300) == recorded
    assert _run_bytes(replay, app.root, b"") == recorded


def test_stdin_encoding_is_a_recorded_fact(program):
    app = program("""
        import sys
        print(sys.stdin.encoding, sys.stdin.errors)
        print(ascii(sys.stdin.read()))
    """)
    recorded = app.record(stdin="caf\u00e9\n", env={"PYTHONIOENCODING": "latin-1:replace"})
    assert recorded.returncode == 0, recorded.stderr
    assert recorded.stdout.splitlines()[0] == "iso8859-1 replace"
    assert "caf\\xc3\\xa9" in recorded.stdout  # utf-8 bytes decoded as latin-1
    assert_same_run(recorded, app.replay(stdin="other", env={"PYTHONIOENCODING": "utf-8"}))


def test_closed_stdin_is_closed_in_replay_too(program):
    app = program("""
        import sys
        print("stdin is", sys.stdin, sys.__stdin__)
        try:
            input()
        except RuntimeError as exc:
            print("error", exc)
    """)
    command = f"exec 0<&-; exec {LAUNCHER} --recording {app.recording} {app.script}"
    proc = subprocess.run(["sh", "-c", command], cwd=app.dir, env=_clean_env(), capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "stdin is None None\nerror input(): lost sys.stdin\n"
    replayed = app.replay(stdin="something\n")
    assert (replayed.returncode, replayed.stdout, replayed.stderr) == (0, proc.stdout, proc.stderr)


def test_stdin_from_a_file_seek_and_tell_replay(program, tmp_path):
    app = program("""
        import sys
        print(sys.stdin.seekable(), sys.stdin.buffer.tell())
        first = sys.stdin.readline()
        sys.stdin.seek(0)
        print(repr(first), repr(sys.stdin.read()), sys.stdin.buffer.raw.tell())
    """)
    data = tmp_path / "input.txt"
    data.write_text("alpha\nbeta\n")

    def record_from_file() -> Result:
        with open(data) as handle:
            proc = subprocess.run([LAUNCHER, "--recording", str(app.recording), str(app.script)],
                                  cwd=app.dir, env=_clean_env(), stdin=handle, capture_output=True,
                                  text=True, timeout=60)
        return Result(proc.returncode, proc.stdout, proc.stderr)

    recorded = record_from_file()
    assert recorded.output == (0, "True 0\n'alpha\\n' 'alpha\\nbeta\\n' 11\n", "")
    data.write_text("changed entirely\n")
    assert_same_run(recorded, app.replay(stdin="zzz"))


def test_closing_stdin_then_reading_replays(program):
    app = program("""
        import sys, os
        sys.stdin.close()
        print(sys.stdin.closed)
        try:
            input("x")
        except ValueError as exc:
            print("ValueError", exc)
        print(os.read(0, 3) if False else "fd 0 left alone")
    """)
    plain = _plain(app, "abc\n")
    recorded = app.record(stdin="abc\n")
    assert recorded.output == plain.output
    assert_same_run(recorded, app.replay(stdin="zzz\n"))


def test_program_replacing_sys_stdin_still_works(program):
    app = program("""
        import io, sys
        real = sys.stdin
        sys.stdin = io.StringIO("from a string\\n")
        print(input("q: "))
        sys.stdin = real
        print(input("r: "))
    """)
    plain = _plain(app, "from the pipe\n")
    recorded = app.record(stdin="from the pipe\n")
    assert recorded.output == plain.output
    assert "from the pipe" in recorded.stdout
    assert_same_run(recorded, app.replay(stdin="nope\n"))


@pytest.mark.skipif(not os.path.exists("/dev/ptmx"), reason="needs a pseudo-terminal")
def test_isatty_is_recorded(program):
    app = program("""
        import sys
        print("isatty", sys.stdin.isatty(), sys.stdin.line_buffering)
        print("line", repr(sys.stdin.readline()))
    """)
    import pty

    primary, secondary = pty.openpty()
    try:
        os.write(primary, b"typed\n")
        proc = subprocess.run([LAUNCHER, "--recording", str(app.recording), str(app.script)],
                              cwd=app.dir, env=_clean_env(), stdin=secondary, capture_output=True,
                              text=True, timeout=60)
    finally:
        os.close(secondary)
        os.close(primary)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("isatty True ") and proc.stdout.endswith("line 'typed\\n'\n")
    replayed = app.replay(stdin="")  # a pipe, not a terminal
    assert (replayed.returncode, replayed.stdout, replayed.stderr) == (0, proc.stdout, proc.stderr)


def test_ctrl_c_while_reading_stdin_replays(program):
    """A KeyboardInterrupt raised inside the read is the read's recorded outcome."""
    import signal
    import time

    app = program("""
        import time
        print("ready", flush=True)
        try:
            input("first> ")
        except KeyboardInterrupt:
            print("interrupted at", time.time(), flush=True)
        input("second> ")
    """)
    proc = subprocess.Popen([LAUNCHER, "--recording", str(app.recording), str(app.script)], cwd=app.dir,
                            env=_clean_env(), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline() == "ready\n"
        time.sleep(0.3)  # blocked in the read by now
        proc.send_signal(signal.SIGINT)
        assert proc.stdout.readline().startswith("first> interrupted at ")
        time.sleep(0.3)
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
        rest, err = proc.stdout.read(), proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGINT
    assert rest == "second> " and err.endswith("KeyboardInterrupt\n") and "retrace" not in err
    replayed = app.replay(stdin="no interruption here\n" * 3)
    assert replayed.returncode == -signal.SIGINT
    assert replayed.stdout.startswith("ready\nfirst> interrupted at ") and replayed.stdout.endswith("second> ")
    assert replayed.stderr == err
