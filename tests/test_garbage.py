"""Cyclic garbage collections run at the same moments in both runs (engine/garbage.py):
finalizers that make boundary calls (redis-py's connection pools ask ``os.getpid()``)
make them where the recording did. Each program drops objects in reference cycles
while allocating and making boundary calls; before, the replay diverged at the first
finalizer's call (the collector ran at other moments)."""

from __future__ import annotations

import gc

from conftest import PYTHON, assert_same_run, run

FINALIZERS = """
    import gc, os, time

    class Connection:
        \"\"\"Dropped in a cycle, as redis-py's pools are: its finalizer asks for the pid.\"\"\"
        def __init__(self, n):
            self.n = n
            self.me = self
        def __del__(self):
            closed.append((self.n, os.getpid() > 0))

    closed = []
    for i in range(6 * gc.get_threshold()[0]):  # (700 up to 3.12, 2000 in 3.13)
        Connection(i)
        junk = [[j] for j in range(40)]
        if i % 5 == 0:
            time.time()
        if i % 50 == 0:
            os.stat(".")
    print("closed", len(closed), "of", i + 1, "in order", [n for n, _ in closed] == sorted(n for n, _ in closed))
"""


def _replays_twice(app):
    recorded = app.record()
    assert recorded.returncode == 0, recorded.stderr
    for _ in range(2):
        assert_same_run(recorded, app.replay())
    return recorded


def test_finalizers_making_boundary_calls_run_where_they_ran(program):
    recorded = _replays_twice(program(FINALIZERS))
    closed, made = int(recorded.stdout.split()[1]), int(recorded.stdout.split()[3])
    assert 0.75 * made < closed <= made  # collected along the way, not only at exit


def test_finalizers_in_threads_run_where_they_ran(program):
    _replays_twice(program("""
        import os, threading, time

        class Connection:
            def __init__(self):
                self.me = self
            def __del__(self):
                os.getpid()
                time.monotonic()

        def work(k):
            for i in range(3000):
                Connection()
                junk = [[j] for j in range(30)]
                if i % 40 == 0:
                    os.stat(".")

        threads = [threading.Thread(target=work, args=(k,)) for k in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        print("done")
    """))


COLLECTOR_VIEW = """
    import gc, os, weakref

    class Node:
        def __init__(self):
            self.me = self
        def __del__(self):
            os.getpid()

    print("enabled", gc.isenabled(), gc.get_threshold())
    gc.set_threshold(100, 5, 5)
    print("threshold", gc.get_threshold())
    gc.disable()
    print("enabled", gc.isenabled())
    nodes = [Node() for _ in range(1000)]
    del nodes
    print("collect", gc.collect())
    gc.enable()
    print("enabled", gc.isenabled())
    dead = []
    for i in range(3000):
        weakref.finalize(Node(), dead.append, i)
        os.stat(".")
    print("finalized along the way", len(dead) > 2000)
    print("statistics", len(gc.get_stats()), len(gc.get_count()))
    try:
        gc.collect(7)
    except ValueError as exc:
        print("error", exc)
    gc.set_threshold(0)
    print("threshold", gc.get_threshold())
"""


def test_the_program_sees_the_collector_as_it_set_it(program):
    """isenabled, thresholds and collect() answer as in a plain run; collect() replays the
    count it found and its finalizers' calls."""
    app = program(COLLECTOR_VIEW)
    plain = run([PYTHON, str(app.script)], cwd=app.dir)
    recorded = _replays_twice(app)
    assert recorded.stdout == plain.stdout
    assert "collect 1000\n" in recorded.stdout


COUNTED_NODES = """
        class Node:
            \"\"\"Each in a cycle of its own: freed only by the cyclic collector.\"\"\"
            alive = 0
            def __init__(self):
                self.me = self
                Node.alive += 1
            def __del__(self):
                Node.alive -= 1
"""  # (indented as the programs below that use it)


def test_a_program_allocating_without_boundary_calls_is_still_collected(program):
    """The safety valve: CPython's own collection at 100 times the threshold (200 times on
    replay) keeps a long computation's cyclic garbage bounded, in the recording and in its
    replay."""
    app = program("""
        import gc, os
""" + COUNTED_NODES + """
        os.getpid()
        threshold = gc.get_threshold()[0]
        most = 0
        for i in range(600 * threshold):
            Node()
            if i % 1000 == 0:
                most = max(most, Node.alive)
        print("bounded", most < 350 * threshold)
    """)
    recorded = _replays_twice(app)
    assert recorded.stdout == "bounded True\n"


DEFAULT_THRESHOLD = gc.get_threshold()  # (this interpreter's: (700, 10, 10) up to 3.12, (2000, 10, 10) in 3.13)


def test_a_stopped_recording_gives_the_collector_back(program):
    """Once the recording stops (its size cap), boundary calls no longer collect: CPython's
    own collection runs again, at the program's threshold."""
    app = program("""
        import gc, os, time
""" + COUNTED_NODES + """
        for _ in range(3000):
            os.stat(".")
        real_threshold = getattr(gc.get_threshold, "__wrapped__", gc.get_threshold)  # (C's own)
        for _ in range(200):  # the trace writer reaches the cap in its own time
            if real_threshold()[0] == """ + str(DEFAULT_THRESHOLD[0]) + """:
                break
            time.sleep(0.05)
        most = 0
        for i in range(50_000):
            Node()
            most = max(most, Node.alive)
        print("collected by CPython", most < 5000, gc.isenabled(), gc.get_threshold())
    """)
    recorded = app.record(env={"RETRACE_MAX_SIZE": "20k"})
    assert recorded.returncode == 0, recorded.stderr
    assert "size cap" in recorded.stderr
    assert recorded.stdout == f"collected by CPython True True {DEFAULT_THRESHOLD}\n"
