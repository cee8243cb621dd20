"""Tools that share the process with the program (issue #14): tracers and profilers the
program installs itself (``sys.settrace``, ``sys.setprofile``, ``threading.settrace``),
and coverage.py running a recorded program or a recorded pytest run. They must work in
the recording as without retrace, and see the same thing on replay."""

from __future__ import annotations

import pytest

from conftest import LAUNCHER, PYTHON, assert_same_run, needs, run


def _needs_coverage_and_a_real_install() -> None:
    """coverage.py measures every file outside the installation: with retrace's packages
    linked from a checkout (scripts/dev-install.sh), retrace's own code too, which runs
    differently on replay (docs/limitations.md). The suite proper runs on a real install."""
    import os
    import sysconfig

    needs("coverage")
    if os.path.islink(os.path.join(sysconfig.get_paths()["purelib"], "retrace")):
        pytest.skip("retrace is linked from its checkout here: coverage would measure retrace itself")

TRACED = """
    import collections, os, sys, threading, time

    HERE = __file__
    lines, calls = collections.Counter(), collections.Counter()

    def tracer(frame, event, arg):
        if frame.f_code.co_filename != HERE:
            return None  # (only this file's own lines: a plain run has no retrace frames)
        if event == "line":
            lines[frame.f_code.co_name, frame.f_lineno] += 1
        return tracer

    def profiler(frame, event, arg):
        if event == "call" and frame.f_code.co_filename == HERE:
            calls[frame.f_code.co_name] += 1

    def work(n):
        total = 0
        for i in range(n):
            total += i
            if i % 10 == 0:
                os.stat(".")
        return total

    def in_a_thread(results):
        results.append(work(40))
        time.sleep(0.01)

    sys.settrace(tracer)
    sys.setprofile(profiler)
    threading.settrace(tracer)
    threading.setprofile(profiler)
    started = time.time()
    results = [work(30)]
    thread = threading.Thread(target=in_a_thread, args=(results,))
    thread.start()
    thread.join()
    sys.settrace(None)
    sys.setprofile(None)
    print("results", results, time.time() >= started)
    print("lines", sorted(lines.items()))
    print("calls", sorted(calls.items()))
    print("tracer back", sys.gettrace() is None, sys.getprofile() is None)
"""


def test_tracers_and_profilers_the_program_installs_see_its_lines(program):
    """The program's own tracer and profiler count its lines and calls, in its main thread
    and in a thread it starts: the same counts as a plain run, in the recording and in
    each replay."""
    app = program(TRACED)
    plain = run([PYTHON, str(app.script)], cwd=app.dir)
    assert plain.returncode == 0, plain.stderr
    recorded = app.record()
    assert recorded.output == plain.output
    assert "('work', " in recorded.stdout and "('in_a_thread', 1)" in recorded.stdout
    for _ in range(2):
        assert_same_run(recorded, app.replay())


COVERED = """
    import os, sys

    def used(n):
        if n > 10:
            return "big"
        return "small"

    def never_called():
        return os.getcwd()

    print("sizes", used(42), used(3), os.path.exists("data.txt"))
    sys.exit(3)
"""


@pytest.mark.compat("coverage")
def test_coverage_api_measuring_a_recorded_program(program):
    """coverage.py's API inside the recorded program: its tracer measures while recording
    and while replaying, and the report it prints (which lines ran) is the same."""
    _needs_coverage_and_a_real_install()
    app = program("""
        import io, os, sys
        import coverage

        cov = coverage.Coverage(data_file=None, branch=True, include=[os.path.abspath("lib.py")])
        cov.start()
        import lib
        cov.stop()
        report = io.StringIO()
        percent = cov.report(file=report, show_missing=True)
        print(report.getvalue().replace(os.getcwd(), "."))
        print("percent", round(percent, 1))
    """)
    app.write("lib.py", COVERED.replace("    sys.exit(3)\n", ""))
    app.write("data.txt", "x")
    recorded = app.record()
    assert recorded.returncode == 0, recorded.stderr
    assert "lib.py" in recorded.stdout and "sizes big small True" in recorded.stdout
    assert "percent 100.0" not in recorded.stdout  # (never_called is reported missing)
    (app.dir / "data.txt").unlink()
    for _ in range(2):
        assert_same_run(recorded, app.replay())


@pytest.mark.compat("coverage")
def test_coverage_run_of_a_recorded_program(program):
    """``retrace-python -m coverage run app.py``: the program's output and status are a
    plain run's, coverage's data file says which lines ran, and the replay (data file
    and project gone) prints the same and writes nothing."""
    _needs_coverage_and_a_real_install()
    app = program(COVERED)
    app.write("data.txt", "x")
    recorded = app.record(python_args=["-m", "coverage", "run", "--branch"])
    assert (recorded.returncode, recorded.stdout) == (3, "sizes big small True\n"), recorded.stderr
    data = app.dir / ".coverage"
    assert data.exists()
    report = run([PYTHON, "-m", "coverage", "report", "--show-missing"], cwd=app.dir)
    assert "app.py" in report.stdout and "10" in report.stdout, report.stdout + report.stderr  # never_called's line
    data.unlink()
    (app.dir / "data.txt").unlink()
    for _ in range(2):
        assert_same_run(recorded, app.replay())
        assert not data.exists()


@pytest.mark.compat("coverage")
def test_coverage_run_of_a_recorded_pytest_run(program):
    """``retrace-python -m coverage run -m pytest``: pytest's report under coverage's
    tracer, replayed with the data file, pytest's cache and temp dirs gone."""
    import shutil

    _needs_coverage_and_a_real_install()
    app = program("""
        import os, random

        def test_passes():
            assert os.path.isdir(".")

        def test_fails():
            value = random.random()  # (a bound method's repr would show its address)
            assert value > 2
    """, name="test_example.py")
    recorded = app.record(python_args=["-m", "coverage", "run", "-m", "pytest", "-p", "no:randomly",
                                       "-p", "no:cacheprovider", "--basetemp", "pytest-tmp"])
    assert recorded.returncode == 1, recorded.stdout + recorded.stderr
    assert "1 failed, 1 passed" in recorded.stdout
    report = run([PYTHON, "-m", "coverage", "report"], cwd=app.dir)
    assert "test_example.py" in report.stdout, report.stdout + report.stderr
    (app.dir / ".coverage").unlink()
    shutil.rmtree(app.dir / "pytest-tmp", ignore_errors=True)
    assert_same_run(recorded, app.replay(timeout=120))



STACK_WALK = """
    import inspect, sys

    def outermost():
        stack = inspect.stack()  # (reads each frame's source: stats the files it names)
        return len(stack), stack[-1].filename == FILE, stack[-1].function, sys._getframe(1).f_back is None

    print("stack", outermost(), sys.argv[1:], sorted(k for k in globals() if k.startswith("__")))
"""


def test_a_replayed_script_is_the_first_frame_of_its_process(program):
    """No frame of retrace's below the program on replay, for a script and for ``-c``:
    a walk to the end of the stack finds what it found when recorded, and reads as many
    files on the way (before, the replay's runner showed under the script)."""
    app = program(STACK_WALK.replace("FILE", "__file__"))
    recorded = app.record("one", "two")
    assert recorded.returncode == 0, recorded.stderr
    assert "stack (2, True, '<module>', True) ['one', 'two']" in recorded.stdout, recorded.stdout
    for _ in range(2):
        assert_same_run(recorded, app.replay())
    import shutil
    import textwrap

    shutil.rmtree(app.recording)
    command = textwrap.dedent(STACK_WALK.replace("FILE", "'<string>'"))
    recorded = run([LAUNCHER, "--recording", str(app.recording), "-c", command, "three"], cwd=app.dir)
    assert recorded.returncode == 0, recorded.stderr
    assert "stack (2, True, '<module>', True) ['three']" in recorded.stdout, recorded.stdout
    assert_same_run(recorded, app.replay())


def test_a_replayed_module_has_runpys_two_frames_below_it(program):
    """``python -m pkg``: below the module's frame, runpy's two, as when recorded (before,
    four of retrace's on replay); a stack walk, ``traceback.print_stack`` and a warning's
    ``stacklevel`` see what they saw, with the project gone."""
    import shutil

    app = program("")
    app.write("pkg/__init__.py", "print('package', __name__)\n")
    app.write("pkg/__main__.py", """
        import inspect, sys, traceback, warnings
        for frame in inspect.stack():
            print(frame.filename, frame.function)
        print(sys.argv, __spec__.name, __package__, type(__loader__).__name__)
        traceback.print_stack(file=sys.stdout)
        warnings.warn("from the module's caller", stacklevel=2)
    """)
    recorded = run([LAUNCHER, "--recording", str(app.recording), "-m", "pkg"], cwd=app.dir)
    assert recorded.returncode == 0, recorded.stderr
    assert recorded.stdout.count("<frozen runpy>") == 4, recorded.stdout
    shutil.rmtree(app.dir)
    for _ in range(2):
        assert_same_run(recorded, app.replay())


@pytest.mark.compat("coverage")
@pytest.mark.parametrize("target", [["app.py"], ["-m", "pytest", "-p", "no:cacheprovider", "test_app.py"]],
                         ids=["script", "pytest"])
def test_coverage_console_script_running_a_recorded_program(program, target):
    """``RETRACE=1 coverage run app.py`` (and ``-m pytest``): the recorded program is
    coverage's console script, which compares the outermost frame's file with
    ``sys.path[0]`` before it runs the program; the replay (data file and project files
    gone) does the same."""
    import os

    _needs_coverage_and_a_real_install()
    script = os.path.join(os.path.dirname(PYTHON), "coverage")
    app = program(COVERED)
    app.write("data.txt", "x")
    app.write("test_app.py", "import os\n\ndef test_data():\n    assert os.path.exists('data.txt')\n")
    recorded = run([script, "run", "--branch", *target], cwd=app.dir,
                   env={"RETRACE": "1", "RETRACE_RECORDING_PATH": str(app.recording)})
    if target == ["app.py"]:
        assert (recorded.returncode, recorded.stdout) == (3, "sizes big small True\n"), recorded.stderr
    else:
        assert recorded.returncode == 0 and "1 passed" in recorded.stdout, recorded.stdout + recorded.stderr
    (app.dir / ".coverage").unlink()
    (app.dir / "data.txt").unlink()
    for _ in range(2):
        assert_same_run(recorded, app.replay())


SET_DISPLAYS = """
    words = {"alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota", "kappa", "lambda"}
    print(list(words))
    print([w for w in {"one", "two", "three", "four", "five", "six", "seven", "eight", "nine"}])
    print([*{"p", "q", "r", "s", "t", "u", "v", "w", "y", "z"}], "x" in {"a", "b", "c", "d"})
    def letters():
        return list({"m", "n", "o", "k", "l", "j", "i", "h"})
    print(letters())
"""


def test_a_replayed_script_iterates_its_constant_sets_as_recorded(program):
    """A set display's elements are a frozenset constant, and one read back from a
    compiled file, or compiled by a process that interned one of its strings before, may
    iterate in another order than the recording's: the recording keeps each order, and the
    replayed script's code iterates so (or is run by retrace's runner when it cannot),
    under every hash seed."""
    import shutil

    app = program(SET_DISPLAYS)
    outputs = set()
    for _ in range(8):  # (each recording has its own hash seed)
        if app.recording.exists():
            shutil.rmtree(app.recording)
        recorded = app.record()
        assert recorded.returncode == 0, recorded.stderr
        outputs.add(recorded.stdout)
        assert_same_run(recorded, app.replay())
    assert len(outputs) > 1  # (the seeds did vary the orders)


SET_MODULE = """
    import words
    print(words.WORDS, words.letters())
"""
WORDS_MODULE = """
    WORDS = [w for w in {"one", "two", "three", "four", "five", "six", "seven", "eight", "nine"}]
    def letters():
        return list({"m", "n", "o", "k", "l", "j", "i", "h"})
"""


def test_an_imported_modules_constant_sets_iterate_as_recorded(program):
    """A module of the program's, read from its compiled file (marshal's orders) or
    compiled from source (the orders of the recording's process): the replay, which
    compiles it from run/, iterates its constant sets as when recorded, under every seed."""
    import shutil

    app = program(SET_MODULE)
    module = app.write("words.py", WORDS_MODULE)
    outputs = set()
    for attempt in range(10):
        shutil.rmtree(app.dir / "__pycache__", ignore_errors=True)
        if attempt % 2:
            compiled = run([PYTHON, "-m", "py_compile", str(module)])
            assert compiled.returncode == 0, compiled.stderr
        if app.recording.exists():
            shutil.rmtree(app.recording)
        recorded = app.record(env={"PYTHONDONTWRITEBYTECODE": "1"})
        assert recorded.returncode == 0, recorded.stderr
        outputs.add(recorded.stdout)
        assert_same_run(recorded, app.replay())
    assert len(outputs) > 1
