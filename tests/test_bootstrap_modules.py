"""What is loaded before the program, in each mode (bootstrap/startup.py).

Modules that read the world when imported (``logging`` reads the clock, ``random``
and ``uuid`` the entropy pool, ``tempfile`` the environment and the file system)
must be imported by the program itself in both modes, so that those reads are
recorded and replayed where the program made them. And recording, which runs at
every start in production, must not load replay's machinery.
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
    assert replayed.returncode == 0, replayed.stderr
    # (replay loads its own machinery before the program: the first line differs there, and only there)
    assert replayed.stdout.splitlines()[0] == "['retrace.engine.replayer', 'retrace.bootstrap.replay', " \
                                              "'retrace.trace.reader']"
    assert replayed.stdout.splitlines()[1:] == recorded.stdout.splitlines()[1:]
    assert replayed.stderr == recorded.stderr
