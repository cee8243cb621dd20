"""The recorder never takes the program down (issue #14): when its own machinery fails,
it stops recording with one warning line and the program goes on as without retrace.

The programs break retrace's machinery from the inside (only when they find it: a plain
run does nothing of the kind), then go on doing what they did; their output and exit
status must be a plain run's. What was recorded before the failure still replays, and
the replay says where and why the recording stopped."""

from __future__ import annotations

from conftest import LAUNCHER, PYTHON, run

WARNING = "retrace: warning: recording stopped, the program goes on unrecorded: "

BOOKKEEPING = """
    import os, sys, time

    started = time.time()
    print("before", started > 0, flush=True)

    def boom(*args):
        raise RuntimeError("injected")

    for leaf in (time.time, time.sleep):   # our wrappers' globals: what they note calls with
        scope = getattr(getattr(leaf, "func", leaf), "__globals__", {})
        if "append" in scope:
            scope[WHAT] = boom
    try:
        time.sleep(-1)
    except ValueError as exc:
        print("refused", exc)
    print("during", time.time() >= started)
    print("after", os.path.isdir("/"), time.monotonic() > 0)
    sys.exit(3)
"""


def _plain_then_recorded(app):
    plain = run([PYTHON, str(app.script)], cwd=app.dir)
    recorded = app.record()
    assert (recorded.returncode, recorded.stdout) == (plain.returncode, plain.stdout)
    warnings = [line for line in recorded.stderr.splitlines() if line.startswith("retrace:")]
    assert len(warnings) == 1 and warnings[0].startswith(WARNING), recorded.stderr
    assert recorded.stderr.replace(warnings[0] + "\n", "") == plain.stderr
    return recorded, warnings[0]


def test_a_failure_noting_a_result_stops_the_recording_not_the_program(program):
    app = program(BOOKKEEPING.replace("WHAT", '"append"'))
    recorded, warning = _plain_then_recorded(app)
    assert recorded.returncode == 3 and "refused sleep length must be non-negative" in recorded.stdout
    assert "an internal error recording " in warning and "(RuntimeError: injected)" in warning
    replayed = app.replay()
    assert replayed.stdout == "before True\n"  # up to where the recording stopped
    assert replayed.returncode == 87, replayed.stderr
    assert "it stopped there because of an internal error recording" in replayed.stderr
    assert "Traceback" not in replayed.stderr
    listing = run([LAUNCHER, "inspect", str(app.recording)])
    assert "recording stopped by an internal error" in listing.stdout


def test_a_failure_noting_an_exception_stops_the_recording_not_the_program(program):
    app = program(BOOKKEEPING.replace("WHAT", '"capture"'))
    recorded, warning = _plain_then_recorded(app)
    assert "an internal error recording time.sleep (RuntimeError: injected)" in warning
    assert "refused sleep length" in recorded.stdout  # the program's own exception reached it, unchanged


def test_the_trace_writer_failing_stops_the_recording_not_the_program(program):
    app = program("""
        import sys, time
        print("start", time.time() > 0, flush=True)
        writer = sys.modules.get("retrace.trace.writer")
        if writer is not None:
            def boom(self, batch):
                raise RuntimeError("injected")
            writer.TraceWriter._encode = boom
        total = 0
        for _ in range(3000):
            total += time.perf_counter() > 0
            time.sleep(0.0001)
        print("ticks", total)
    """)
    recorded, warning = _plain_then_recorded(app)
    assert "an internal error in the trace writer (RuntimeError: injected)" in warning
    replayed = app.replay()
    assert "Traceback" not in replayed.stderr
    assert replayed.stderr.startswith("retrace: recording ends at event "), replayed.stderr
    assert recorded.stdout.startswith(replayed.stdout)

