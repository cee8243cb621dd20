"""Edges of the engine: leaves called from C, calls during shutdown, wrong calls."""



from conftest import assert_same_run


def test_leaf_called_straight_from_c_records(program, tmp_path):
    target = tmp_path / "made-by-the-program"
    app = program(f"""
        import atexit, os, time
        open({str(target)!r}, "w").close()
        atexit.register(os.remove, {str(target)!r})  # a leaf with no Python caller
        atexit.register(time.time)
        print("registered")
    """)
    recorded = app.record()
    assert recorded.returncode == 0 and "retrace" not in recorded.stderr, recorded.stderr
    assert not target.exists()
    target.write_text("must survive the replay")
    assert_same_run(recorded, app.replay())
    assert target.read_text() == "must survive the replay"


def test_finalizer_calls_during_shutdown_do_not_stop_the_replay(program):
    app = program("""
        import os, time
        class Closer:
            def __del__(self):
                os.path.exists("/nonexistent/retrace")
                time.time()
        keep = Closer()
        print("bye", time.time())
    """)
    recorded = app.record()
    assert recorded.returncode == 0, recorded.stderr
    assert_same_run(recorded, app.replay())


def test_wrong_call_raises_the_programs_own_error(program):
    app = program("""
        import os, time
        for call in (lambda: os.stat(), lambda: time.sleep("x"), lambda: os.listdir(1, 2, 3)):
            try:
                call()
            except TypeError as exc:
                print("TypeError:", exc)
    """)
    recorded = app.record()
    assert recorded.returncode == 0, recorded.stderr
    assert "missing required argument" in recorded.stdout
    assert "retrace" not in recorded.stdout + recorded.stderr
    assert_same_run(recorded, app.replay())


def test_python_child_of_a_recorded_process_runs_quietly(program):
    app = program("""
        import subprocess, sys
        done = subprocess.run([sys.executable, "-c", "print('child ran')"], capture_output=True, text=True)
        print(repr(done.stdout), repr(done.stderr), done.returncode)
    """)
    recorded = app.record()
    assert recorded.returncode == 0, recorded.stderr
    assert recorded.stdout == "'child ran\\n' '' 0\n"  # no retrace warning in the child's stderr
    assert_same_run(recorded, app.replay())


def test_stack_dumps_show_the_programs_frames_only(program):
    app = program("""
        import logging, sys, traceback
        def inner():
            traceback.print_stack(file=sys.stdout)
            logging.basicConfig(stream=sys.stdout, format="%(message)s")
            logging.warning("here", stack_info=True)
        inner()
    """)
    recorded = app.record()
    assert recorded.returncode == 0, recorded.stderr
    assert "retrace" not in recorded.stdout and "inner()" in recorded.stdout
    assert_same_run(recorded, app.replay())
