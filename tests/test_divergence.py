"""Replay checks every event: a program that does something else stops with a report (exit 86)."""

from __future__ import annotations

import re

from conftest import assert_same_run

from retrace.errors import EXIT_DIVERGED
from retrace.trace.model import Event, iter_events
from retrace.trace.reader import TraceReader

PROGRAM = """\
import time
print("start", time.time())
time.sleep(0.01)
later = time.time()
print("later", later)
print("done")
"""


def events(app) -> list[Event]:
    return [e for e in iter_events(TraceReader(str(app.recording / "trace.bin"))) if isinstance(e, Event)]


def index_of(app, boundary: str, line: int) -> int:
    """The number of the recorded event ``boundary`` made on ``line`` of the program."""
    found = [e.index for e in events(app) if e.boundary == boundary and e.site.line == line
             and e.site.file == str(app.script)]
    assert len(found) == 1, found
    return found[0]


def edit_run_copy(app, old: str, new: str) -> None:
    """Change the snapshot replay runs (DIR/run/app.py), as a user editing it would."""
    copy = app.recording / "run" / app.script.name
    text = copy.read_text()
    assert old in text
    copy.write_text(text.replace(old, new, 1))


def recorded(program) -> tuple:
    app = program(PROGRAM)
    result = app.record()
    assert result.returncode == 0, result.stderr
    return app, result


def check_report(app, replayed, *, index: int, expected: str | None, got: str, replayed_lines: int,
                 recorded_stdout: str) -> str:
    assert replayed.returncode == EXIT_DIVERGED, replayed.stderr
    assert "Traceback" not in replayed.stderr
    first = replayed.stderr.splitlines()[0]
    assert first == f"retrace: replay diverged at event {index}", replayed.stderr
    if expected is not None:
        assert f"  expected: {expected}\n" in replayed.stderr, replayed.stderr
    assert f"  got:      {got}\n" in replayed.stderr, replayed.stderr
    # the program's output up to the divergence is printed (and flushed), nothing after it
    assert replayed.stdout == "".join(recorded_stdout.splitlines(keepends=True)[:replayed_lines])
    return replayed.stderr


def test_an_unedited_replay_does_not_diverge(program):
    app, result = recorded(program)
    assert_same_run(result, app.replay())


def test_a_different_boundary_is_reported_with_both_call_sites(program):
    app, result = recorded(program)
    script = str(app.script)
    index = index_of(app, "time.time", 4)
    edit_run_copy(app, "later = time.time()", "later = time.monotonic()")
    replayed = app.replay()
    report = check_report(
        app, replayed, index=index, expected=f"time.time at {script}:4 in <module>",
        got=f"time.monotonic() at {script}:4 in <module>", replayed_lines=1, recorded_stdout=result.stdout,
    )
    # the last events replayed, numbered as in the trace, ending right before the divergence
    recent = re.findall(r"^    #(\d+) (\S+) at (.*)$", report, re.M)
    assert recent, report
    assert [int(n) for n, _, _ in recent] == list(range(index - len(recent), index))
    assert recent[-1][1:] == ("time.sleep", f"{script}:3 in <module>")
    assert recent[-2][1:] == ("time.time", f"{script}:2 in <module>")
    # deterministic: the same report again
    assert app.replay().output == replayed.output


def test_the_same_boundary_with_other_arguments_is_a_divergence(program):
    app, result = recorded(program)
    script = str(app.script)
    index = index_of(app, "time.sleep", 3)
    edit_run_copy(app, "time.sleep(0.01)", "time.sleep(0.02)")
    report = check_report(
        app, app.replay(), index=index, expected=f"time.sleep at {script}:3 in <module>",
        got=f"time.sleep(0.02) at {script}:3 in <module>", replayed_lines=1, recorded_stdout=result.stdout,
    )
    assert "same boundary, different arguments" in report


def test_a_call_from_another_line_reports_where_it_came_from(program):
    app, result = recorded(program)
    script = str(app.script)
    index = index_of(app, "time.sleep", 3)
    edit_run_copy(app, "time.sleep(0.01)\n", "def helper():\n    return time.time()\nhelper()\n")
    check_report(
        app, app.replay(), index=index, expected=f"time.sleep at {script}:3 in <module>",
        got=f"time.time() at {script}:4 in helper", replayed_lines=1, recorded_stdout=result.stdout,
    )


def test_more_calls_than_recorded(program):
    app, result = recorded(program)
    script = str(app.script)
    total = len(events(app))
    edit_run_copy(app, 'print("done")', 'print("done")\ntime.sleep(5)')
    report = check_report(
        app, app.replay(), index=total, expected=None, got=f"time.sleep(5) at {script}:7 in <module>",
        replayed_lines=3, recorded_stdout=result.stdout,
    )
    assert "expected: no more boundary calls (the recording ends here)" in report
    assert "the recorded process had already ended (exit)" in report


def test_fewer_calls_than_recorded(program):
    app, result = recorded(program)
    script = str(app.script)
    index = index_of(app, "time.time", 4)
    edit_run_copy(app, "later = time.time()", "later = 0.0")
    replayed = app.replay()
    check_report(
        app, replayed, index=index, expected=f"time.time at {script}:4 in <module>",
        got="the program's end (no more boundary calls)", replayed_lines=3,
        recorded_stdout=result.stdout.replace(result.stdout.splitlines()[1], "later 0.0"),
    )


def test_stdout_buffered_in_a_pipe_is_flushed_before_the_report(program):
    app = program("""\
        import sys, time
        for i in range(3):
            sys.stdout.write(f"line {i}\\n")  # block-buffered: stdout is a pipe
            time.sleep(0.001 * (i + 1))
        """)
    result = app.record()
    assert result.returncode == 0, result.stderr
    edit_run_copy(app, "time.sleep(0.001 * (i + 1))", "time.sleep(0.001 * (i + 1) if i < 2 else 1)")
    replayed = app.replay()
    assert replayed.returncode == EXIT_DIVERGED
    assert replayed.stdout == "line 0\nline 1\nline 2\n"
    assert replayed.stderr.startswith("retrace: replay diverged at event ")


def test_divergence_inside_a_library_names_the_library_line(program):
    """The recorded call site is where the boundary was called (here: in a module of the program)."""
    app = program("""\
        import helper
        print(helper.stamp())
        print(helper.stamp())
        """)
    app.write("helper.py", """\
        import time

        def stamp():
            return time.time()
        """)
    result = app.record()
    assert result.returncode == 0, result.stderr
    helper = str(app.dir / "helper.py")
    copy = app.recording / "run" / "helper.py"
    copy.write_text(copy.read_text().replace("time.time()", "time.time_ns()"))
    first = index_of_file(app, "time.time", helper)
    replayed = app.replay()
    check_report(app, replayed, index=first, expected=f"time.time at {helper}:4 in stamp",
                 got=f"time.time_ns() at {helper}:4 in stamp", replayed_lines=0, recorded_stdout=result.stdout)


def index_of_file(app, boundary: str, file: str) -> int:
    return next(e.index for e in events(app) if e.boundary == boundary and e.site.file == file)


def test_arguments_hashed_by_address_do_not_cause_false_divergences(program):
    """hash(None) differs in every Python 3.11 process: the digest must not depend on it."""
    app = program("""\
        import time
        print(time.localtime(None).tm_year, time.gmtime(None).tm_year, time.ctime(None)[:3])
        print(time.strftime("%Y", time.localtime(None)))
        """)
    result = app.record()
    assert result.returncode == 0, result.stderr
    assert_same_run(result, app.replay())
    assert_same_run(result, app.replay())
