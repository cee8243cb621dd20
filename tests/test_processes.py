"""Process trees: forked children record into recordings of their own and replay with
their parent (issue #5, first part: os.fork and multiprocessing's fork start method).

Each program prints values the children and the parent read from the world (random,
clocks, pids); the replay must print the same, children included, with the same exit
codes, and each child's recording sits in DIR/processes/<id>/.
"""

from __future__ import annotations

import json

from conftest import assert_same_run

FORKS = """
    import os, random, time
    print("parent starts", os.getpid() > 0, flush=True)
    for i in range(3):
        pid = os.fork()
        if pid == 0:
            print("child", i, random.random(), time.time(), os.getpid(), flush=True)
            if i == 2:
                os._exit(7)     # skips atexit: its recording still ends properly
            raise SystemExit(i)
        _, status = os.waitpid(pid, 0)
        print("parent saw", i, pid, os.waitstatus_to_exitcode(status), random.random(), flush=True)
    print("done", time.time())
"""


def test_forked_children_record_and_replay_with_their_parent(program):
    app = program(FORKS)
    recorded = app.record()
    assert recorded.returncode == 0, recorded.stderr
    assert recorded.stdout.count("child ") == 3 and "parent saw 2" in recorded.stdout
    assert [line.split()[4] for line in recorded.stdout.splitlines() if line.startswith("parent saw")] == \
        ["0", "1", "7"]
    children = sorted(p.name for p in (app.recording / "processes").iterdir())
    assert children == ["0.1", "0.2", "0.3"]
    facts = json.loads((app.recording / "processes" / "0.3" / "process.json").read_text())
    assert facts["parent"] == "0" and facts["how"] == "fork" and "end_time" in facts
    assert_same_run(recorded, app.replay())
    assert_same_run(recorded, app.replay())


GRANDCHILDREN = """
    import os, random
    def fork_and_wait(depth):
        pid = os.fork()
        if pid == 0:
            print("depth", depth, random.randint(0, 10**9), flush=True)
            if depth < 3:
                fork_and_wait(depth + 1)
            os._exit(depth)
        _, status = os.waitpid(pid, 0)
        print("level", depth - 1, "saw", os.waitstatus_to_exitcode(status), flush=True)
    fork_and_wait(1)
"""


def test_a_three_level_tree(program):
    app = program(GRANDCHILDREN)
    recorded = app.record()
    assert recorded.returncode == 0, recorded.stderr
    assert (app.recording / "processes" / "0.1.1.1" / "trace.bin").is_file()
    assert_same_run(recorded, app.replay())
