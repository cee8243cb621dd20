"""What is loaded before the program, in each mode (bootstrap/startup.py).

Modules that read the world when imported (``logging`` reads the clock, ``random``
and ``uuid`` the entropy pool, ``tempfile`` the environment and the file system)
must be imported by the program itself in both modes, so that those reads are
recorded and replayed where the program made them. And recording, which runs at
every start in production, must not load replay's machinery.

Beyond that, the program's ``sys.modules`` holds the same modules in both modes,
retrace's own included: code that walks it (``inspect.getmodule``, Django's
autoreloader) runs the same code, and a thread switched out on the way is switched
out at the same point on replay (bootstrap/replay.py's ``_modules_as_recorded``).
"""

from __future__ import annotations

PROGRAM = """
    import sys
    watched = ("logging", "random", "uuid", "tempfile", "secrets", "retrace.engine.replayer",
               "retrace.bootstrap.replay", "retrace.trace.reader")
    print([name for name in watched if name in sys.modules])
    import logging, random, tempfile, uuid
    logging.basicConfig(format="%(relativeCreated)d %(message)s")
    print(random.random(), len(tempfile.gettempdir()) > 0, uuid.uuid4().version)
"""


def test_modules_that_read_the_world_are_imported_by_the_program_in_both_modes(program):
    app = program(PROGRAM)
    recorded = app.record()
    assert recorded.returncode == 0, recorded.stderr
    assert recorded.stdout.splitlines()[0] == "[]"
    replayed = app.replay()
    assert (replayed.returncode, replayed.stdout, replayed.stderr) == (0, recorded.stdout, recorded.stderr)


SAME_MODULES = """
    import atexit, socket, sys, threading, time

    def modules(when):
        print(when, len(sys.modules), sorted(sys.modules))

    modules("start")
    thread = threading.Thread(target=time.sleep, args=(0.01,))
    thread.start()
    thread.join()
    modules("after a thread")
    try:
        socket.gethostbyname("localhost")
    except OSError:
        pass
    modules("after a name lookup")
    atexit.register(modules, "at exit")
"""


def test_the_program_sees_the_same_modules_in_both_modes(program):
    app = program(SAME_MODULES)
    recorded = app.record()
    assert recorded.returncode == 0, recorded.stderr
    assert "retrace.engine.recorder" in recorded.stdout and "encodings.idna" in recorded.stdout
    replayed = app.replay()
    assert replayed.returncode == 0, replayed.stderr
    assert replayed.stdout.splitlines() == recorded.stdout.splitlines()


def test_a_module_first_imported_inside_a_boundary_call_is_imported_there_on_replay(program):
    """platform.processor() is a boundary that imports subprocess while it runs (its
    import-time calls unrecorded, inside the call): on replay the program must find it
    imported at the same point, and its own later use of it must replay."""
    app = program("""
        import platform, sys
        print("subprocess" in sys.modules)
        print(len(platform.processor()) >= 0, "subprocess" in sys.modules)
        import subprocess
        print(subprocess.run(["true"]).returncode)
    """)
    recorded = app.record()
    assert recorded.returncode == 0, recorded.stderr
    assert recorded.stdout == "False\nTrue True\n0\n"
    assert (app.replay().output) == recorded.output
