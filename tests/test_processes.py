"""Process trees: children record into recordings of their own and the whole tree replays
(issue #5): os.fork, Python programs started by subprocess, multiprocessing under the fork,
spawn and forkserver start methods; ``--replay DIR --process ID`` replays one alone.

Each program prints values the children and the parent read from the world (random,
clocks, pids); the replay must print the same, children included, with the same exit
codes, and each child's recording sits in DIR/processes/<id>/.
"""

from __future__ import annotations

import json
import shutil
import signal

import pytest

from conftest import LAUNCHER, assert_same_run, run
from retrace.trace.model import Ending, iter_events
from retrace.trace.reader import TraceReader

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


# Children killed as they start: a SIGKILL right after os.fork (the child may be gone
# before it recorded anything, even its folder), and a multiprocessing Process terminated
# at once (SIGTERM, which the recorder catches to flush the trace: CPython forgets a
# signal that reaches a child before its fork handling is done, and a child that took
# one before its own recording began wrote its end into its parent's trace).
KILLED_AS_THEY_START = """
    import multiprocessing as mp, os, signal, time

    def sleep():
        time.sleep(3)

    if __name__ == "__main__":
        killed = []
        for i in range(6):
            pid = os.fork()
            if pid == 0:
                time.sleep(30)
                os._exit(0)
            os.kill(pid, signal.SIGKILL)
            killed.append(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))
        print("forks", killed)
        terminated = []
        for i in range(12):
            worker = mp.get_context("fork").Process(target=sleep)
            worker.start()
            worker.terminate()
            worker.join()
            terminated.append(worker.exitcode)
        print("processes", terminated, flush=True)
"""


def test_children_killed_as_they_start_end_as_without_retrace(program):
    app = program(KILLED_AS_THEY_START)
    recorded = app.record(timeout=120)
    assert recorded.returncode == 0, recorded.stderr
    assert recorded.stdout == f"forks {[-9] * 6}\nprocesses {[-15] * 12}\n", recorded.stdout  # as a plain run
    assert_same_run(recorded, app.replay(timeout=120))
    # The forks killed before they could record anything (some are, some not: here all):
    for child in ("0.1", "0.2", "0.3", "0.4", "0.5", "0.6"):
        shutil.rmtree(app.recording / "processes" / child, ignore_errors=True)
    assert_same_run(recorded, app.replay(timeout=120))
    alone = app.replay(process="0.1")
    assert alone.returncode != 0 and "has no process 0.1" in alone.stderr, alone.stderr


# -- helpers -------------------------------------------------------------------------------
def recorded_processes(recording) -> list[str]:
    """The processes of the tree that have a recording of their own (root first)."""
    children = sorted((p.name for p in (recording / "processes").iterdir() if (p / "trace.bin").is_file()),
                      key=lambda name: [int(part) for part in name.split(".")])
    return ["0", *children]


def recorded_exit(recording, process: str):
    """How the recorded process ended, as subprocess reports it (-N: killed by signal N)."""
    path = recording / "trace.bin" if process == "0" else recording / "processes" / process / "trace.bin"
    ending = [item for item in iter_events(TraceReader(str(path))) if isinstance(item, Ending)]
    assert ending, f"process {process}'s recording has no end"
    return ending[0].status


def parent_event_boundary(recording, link) -> str:
    """The boundary of the parent's event that a child's process.json says created it."""
    path = recording / "trace.bin" if link["parent"] == "0" else recording / "processes" / link["parent"] / "trace.bin"
    events = [item for item in iter_events(TraceReader(str(path))) if not isinstance(item, Ending)]
    return events[link["parent_event"]].boundary


def assert_each_replays_alone(app, exits=None) -> dict:
    """Every process of the tree replays on its own, ending as it ended when recorded
    (``exits``: codes the recording cannot know, of ``raise SystemExit(n)``), without a word
    from retrace. Returns each one's replay."""
    results = {}
    for process in recorded_processes(app.recording):
        alone = app.replay(process=process)
        expected = (exits or {}).get(process, recorded_exit(app.recording, process))
        assert alone.returncode == expected, (process, alone.stderr)
        assert "retrace:" not in alone.stderr, (process, alone.stderr)
        results[process] = alone
    return results


def test_a_forked_child_replays_alone(program):
    app = program(FORKS)
    recorded = app.record()
    assert recorded.returncode == 0, recorded.stderr
    alone = assert_each_replays_alone(app, exits={"0.2": 1})  # raise SystemExit(1)
    child_lines = [line for line in recorded.stdout.splitlines() if line.startswith("child 1 ")]
    assert alone["0.2"].stdout.splitlines() == child_lines  # its own output only, not its parent's
    assert alone["0.3"].returncode == 7
    root = alone["0"].stdout
    assert "child " not in root and root.count("parent saw") == 3  # the root alone: no children run


A_CHILD_IMPORTS_LATE = """
    import os, sys
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(__file__)), "lib"))
    pid = os.fork()
    if pid == 0:
        import plugin      # outside the script's tree, and only ever imported here
        print("child", plugin.value(), flush=True)
        os._exit(0)
    print("parent saw", os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]), flush=True)
"""


def test_a_module_only_a_forked_child_imports_is_snapshotted(program):
    """A pre-forking server's workers load the application its parent never imports:
    the child's snapshot holds it, and the tree and the child alone replay with it gone."""
    app = program(A_CHILD_IMPORTS_LATE)
    plugin = app.root / "lib" / "plugin.py"
    plugin.parent.mkdir()
    plugin.write_text("import random\ndef value():\n    return random.random()\n")
    recorded = app.record()
    assert recorded.returncode == 0 and recorded.stdout.startswith("child 0."), recorded.stderr
    plugin.unlink()
    assert_same_run(recorded, app.replay())
    alone = assert_each_replays_alone(app)
    assert alone["0.1"].stdout == recorded.stdout.splitlines(keepends=True)[0]


PYTHON_CHILD = """
    import os, random, subprocess, sys
    print("parent", random.random(), flush=True)
    out = subprocess.run([sys.executable, "child.py", "piped"], capture_output=True, text=True)
    print("child said:", out.stdout.strip(), "| rc", out.returncode, flush=True)
    inherited = subprocess.run([sys.executable, "child.py", "inherited"])
    print("second rc", inherited.returncode, random.random(), flush=True)
    sys.exit(4)
"""

CHILD = """
    import os, random, sys, time
    with open("data.txt") as handle:
        data = handle.read().strip()
    pid = os.fork()
    if pid == 0:
        print(sys.argv[1], "grandchild", random.random(), flush=True)
        os._exit(9)
    _, status = os.waitpid(pid, 0)
    print(sys.argv[1], data, random.random(), time.time() > 0, os.waitstatus_to_exitcode(status), flush=True)
    sys.exit(3)
"""


def test_subprocess_of_sys_executable_records_and_replays_as_a_child(program):
    app = program(PYTHON_CHILD)
    app.write("child.py", CHILD)
    data = app.write("data.txt", "from the file\n")
    recorded = app.record()
    assert recorded.returncode == 4, recorded.stderr
    assert "child said: piped grandchild" in recorded.stdout and "from the file" in recorded.stdout
    assert recorded_processes(app.recording) == ["0", "0.1", "0.1.1", "0.2", "0.2.1"]
    link = json.loads((app.recording / "processes" / "0.1" / "process.json").read_text())
    assert link["how"] == "subprocess" and link["parent"] == "0" and link["argv"][1:] == ["child.py", "piped"]
    # (Python 3.13's subprocess starts it with posix_spawn where it can)
    assert parent_event_boundary(app.recording, link) in ("_posixsubprocess.fork_exec", "os.posix_spawn")
    data.unlink()  # the world changes: the children read it from their recordings
    assert_same_run(recorded, app.replay())
    alone = assert_each_replays_alone(app)
    assert alone["0.2"].stdout.splitlines() == [
        line for line in recorded.stdout.splitlines() if line.startswith("inherited ") and "grandchild" not in line]
    assert alone["0.1.1"].stdout.startswith("piped grandchild")


A_CHILD_THAT_DIVERGES = """
    import os, subprocess, sys
    child = subprocess.Popen([sys.executable, "child.py"])
    print("parent", os.urandom(2).hex(), "child ended", child.wait(), flush=True)
    forked = os.fork()
    if forked == 0:
        os.urandom(2)
        os._exit(0)
    print("fork ended", os.waitpid(forked, 0)[1])
"""


def test_a_child_whose_replay_diverges_fails_the_replay_of_the_tree(program):
    """The child's own report is on the shared stderr; the tree's replay exits 86 with
    the parent's word on it, even though the parent went on as recorded."""
    app = program(A_CHILD_THAT_DIVERGES)
    app.write("child.py", "import os, time\nprint('child', os.urandom(2).hex(), time.time() > 0)\n")
    recorded = app.record()
    assert recorded.returncode == 0 and "child ended 0" in recorded.stdout, recorded.stderr
    assert_same_run(recorded, app.replay())
    copy = app.recording / "run" / "child.py"
    copy.write_text(copy.read_text().replace("time.time() > 0", "os.getcwd()"))  # another boundary call
    replayed = app.replay()
    assert replayed.returncode == 86, replayed.stderr
    assert "replay diverged" in replayed.stderr and "expected: time.time" in replayed.stderr
    assert "retrace: the replay of a child process (recorded pid" in replayed.stderr
    assert "fork ended 0" in replayed.stdout  # the parent itself replayed to its end


MULTIPROCESSING = """
    import multiprocessing as mp, os, random, sys, time
    from concurrent.futures import ProcessPoolExecutor

    def work(x):
        return x, random.randint(0, 10**6), os.getpid() > 0

    def producer(q, conn, counter, shared):
        q.put(("queued", random.randint(0, 10**6)))
        conn.send(("piped", random.random()))
        with counter.get_lock():
            counter.value += 1
        shared[0] = 42

    if __name__ == "__main__":
        ctx = mp.get_context(sys.argv[1])
        print("start", random.random(), flush=True)
        with ctx.Pool(2) as pool:
            print("map", pool.map(work, range(4)), flush=True)
            print("imap", list(pool.imap(work, range(2))), flush=True)
            print("apply_async", pool.apply_async(work, (9,)).get(timeout=30), flush=True)
        q, (ours, theirs) = ctx.Queue(), ctx.Pipe()
        counter, shared = ctx.Value("i", 0), ctx.Array("i", 3)
        p = ctx.Process(target=producer, args=(q, theirs, counter, shared))
        p.start()
        print("got", q.get(), ours.recv(), flush=True)
        p.join()
        print("process", p.exitcode, counter.value, shared[:], flush=True)
        with ProcessPoolExecutor(2, mp_context=ctx) as executor:
            print("executor", list(executor.map(work, range(3))), flush=True)
        with ctx.Manager() as manager:
            shared_dict = manager.dict()
            shared_dict["k"] = random.randint(0, 100)
            print("manager", dict(shared_dict), flush=True)
        print("done", time.time() > 0)
"""


@pytest.mark.parametrize("method", ["fork", "spawn", "forkserver"])
def test_multiprocessing_trees_replay(program, method):
    """Pool (map, imap, apply_async), Process with Queue, Pipe, Value and Array,
    ProcessPoolExecutor and a Manager, under each start method."""
    app = program(MULTIPROCESSING)
    recorded = app.record(method, timeout=120)
    assert recorded.returncode == 0, recorded.stderr
    assert "process 0 1 [42, 0, 0]" in recorded.stdout and "manager {'k':" in recorded.stdout
    processes = recorded_processes(app.recording)
    assert len(processes) >= 6  # pool workers, the Process, the executor's workers, the manager
    links = [json.loads((app.recording / "processes" / p / "process.json").read_text()) for p in processes[1:]]
    assert {link["how"] for link in links} == ({"fork"} if method == "fork" else {"spawn"}) or method == "forkserver"
    assert_same_run(recorded, app.replay(timeout=120))
    assert_same_run(recorded, app.replay(timeout=120))


def test_each_process_of_a_spawn_pool_replays_alone(program):
    app = program(MULTIPROCESSING)
    recorded = app.record("spawn", timeout=120)
    assert recorded.returncode == 0, recorded.stderr
    alone = assert_each_replays_alone(app)
    assert alone["0"].stdout == recorded.stdout  # the root alone prints what it printed: its
    # children's results come from its recording


TERMINATED_POOL = """
    import multiprocessing, os, sys, time

    def work(i):
        # one write per line: under PYTHONUNBUFFERED print's pieces interleave for real
        sys.stdout.write(f"worker {i} {os.getpid() > 0}\\n")
        sys.stdout.flush()
        started.release()
        time.sleep(30)  # still busy when the pool is terminated: killed by SIGTERM

    if __name__ == "__main__":
        multiprocessing.set_start_method("fork")
        started = multiprocessing.Semaphore(0)
        with multiprocessing.Pool(3) as pool:
            pool.map_async(work, range(3), chunksize=1)
            for _ in range(3):
                started.acquire()
        print("terminated", flush=True)
"""


def test_each_worker_of_a_terminated_pool_replays_alone(program):
    """The pool's terminate() kills its workers by SIGTERM: a worker replayed alone dies
    so, and the root on the way to it (muted) ends as it ends, without a word (it used to
    diverge there, exit 86, in ReplayedTree.hand_over_to). Several rounds: each replay
    forks for real, and the order the processes run in is the machine's."""
    app = program(TERMINATED_POOL)
    recorded = app.record(timeout=120)
    assert recorded.returncode == 0 and recorded.stdout.endswith("terminated\n"), recorded.stderr
    workers = recorded_processes(app.recording)[1:]
    assert [recorded_exit(app.recording, worker) for worker in workers] == [-signal.SIGTERM] * 3
    for _ in range(3):
        alone = assert_each_replays_alone(app)
        assert alone["0"].stdout == "terminated\n"  # its own output only: no worker runs
        assert sorted(alone[worker].stdout for worker in workers) == sorted(
            line + "\n" for line in recorded.stdout.splitlines() if line.startswith("worker "))


def test_process_option_errors(program):
    app = program(FORKS)
    assert app.record().returncode == 0
    unknown = app.replay(process="0.9")
    assert unknown.returncode == 65
    assert unknown.stderr.startswith("retrace: ") and "processes: 0, 0.1, 0.2, 0.3" in unknown.stderr
    assert len(unknown.stderr.splitlines()) == 1
    misplaced = run([LAUNCHER, "--process", "0.1", str(app.script)])
    assert misplaced.returncode == 2 and "--process ID goes with --replay DIR" in misplaced.stderr


THREADED_FORK = """
    import os, random, threading, time
    def spin(n):
        for _ in range(n):
            time.time()
    threads = [threading.Thread(target=spin, args=(300,)) for _ in range(2)]
    for thread in threads:
        thread.start()
    pid = os.fork()
    if pid == 0:
        print("child", random.random(), flush=True)
        os._exit(0)
    for thread in threads:
        thread.join()
    print("parent saw", os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))
"""


def test_a_child_links_to_the_event_that_made_it_in_a_threaded_parent(program):
    """parent_event counts events, not the hand-overs between threads around them."""
    app = program(THREADED_FORK)
    recorded = app.record()
    assert recorded.returncode == 0, recorded.stderr
    link = json.loads((app.recording / "processes" / "0.1" / "process.json").read_text())
    assert parent_event_boundary(app.recording, link) == "os.fork"
    assert_same_run(recorded, app.replay())


FORKPTY = """
    import os, random
    print("parent", random.random(), flush=True)
    pid, terminal = os.forkpty()
    if pid == 0:
        print("on its terminal", random.random(), flush=True)
        os._exit(3)
    seen = b""
    while True:
        try:
            chunk = os.read(terminal, 1024)
        except OSError:  # EIO: the child closed its side
            break
        if not chunk:
            break
        seen += chunk
    print("child wrote", seen.decode().strip(), os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))
"""


def test_forkpty_child(program):
    app = program(FORKPTY)
    recorded = app.record()
    assert recorded.returncode == 0 and "child wrote on its terminal" in recorded.stdout, recorded.stderr
    assert_same_run(recorded, app.replay())
    assert app.replay(process="0.1").stdout.startswith("on its terminal")


EXEC = """
    import os, random, sys
    print("image", len(sys.argv), random.random(), flush=True)
    if len(sys.argv) == 1:
        os.execv(sys.executable, [sys.executable, sys.argv[0], "again"])
    if sys.argv[1] == "again":
        os.execlp("sh", "sh", "-c", "echo from sh; exit 5")
"""


def test_exec_of_python_replaces_the_replay_too(program):
    """os.execv of sys.executable: the new image records as child 0.1 (same pid) and replays
    in its place; a non-Python program exec'd after it is not run on replay."""
    app = program(EXEC)
    recorded = app.record()
    assert recorded.returncode == 5 and "from sh" in recorded.stdout, recorded.stderr
    link = json.loads((app.recording / "processes" / "0.1" / "process.json").read_text())
    assert link["how"] == "exec" and parent_event_boundary(app.recording, link) == "os.execv"
    replayed = app.replay()
    assert replayed.stdout == recorded.stdout.replace("from sh\n", "") and replayed.returncode == 0
    assert replayed.stderr == ""
    alone = app.replay(process="0")
    assert alone.stdout == recorded.stdout.splitlines(keepends=True)[0] and alone.returncode == 0


OUTLIVES = """
    import os, random, sys, time
    pid = os.fork()
    if pid == 0:
        time.sleep(0.3)
        print("child, after its parent", random.random(), file=sys.stderr, flush=True)
        os._exit(0)
    print("parent leaves", random.random(), flush=True)
"""


def test_a_child_outlives_its_parent(program):
    """(The child writes to stderr: on replay its sleep is instant, and output of processes
    running at the same time interleaves as it happens.)"""
    app = program(OUTLIVES)
    recorded = app.record()
    assert recorded.returncode == 0 and "child, after its parent" in recorded.stderr, recorded.stderr
    assert_same_run(recorded, app.replay())


MANY_CHILDREN = """
    import multiprocessing as mp, random, sys
    def work(i):
        sys.exit(i % 3)
    if __name__ == "__main__":
        ctx = mp.get_context("fork")
        ballast = []
        processes = []
        for i in range(8):  # every start() polls the children started before it
            ballast.append(bytearray(random.randint(1, 5000)))  # addresses differ run to run
            process = ctx.Process(target=work, args=(i,))
            process.start()
            processes.append(process)
        print("hash by identity:", all(hash(p) == hash(p._identity) for p in processes))
        for process in processes:
            process.join()
        print([p.exitcode for p in processes], len(mp.active_children()))
"""


def test_a_parent_polls_its_children_in_the_same_order(program):
    """multiprocessing keeps a parent's children in a set: they hash by their place in
    the tree, not by address, so the waitpid calls of each start() replay in order."""
    app = program(MANY_CHILDREN)
    recorded = app.record()
    assert recorded.returncode == 0 and "hash by identity: True" in recorded.stdout, recorded.stderr
    for _ in range(2):
        assert_same_run(recorded, app.replay())


ENDINGS = """
    import os, random, signal, sys, threading, time
    def child_in_a_thread(results):
        pid = os.fork()  # from a thread: the child has that thread alone
        if pid == 0:
            print("forked from a thread", random.random(), flush=True)
            os._exit(4)
        results.append(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))
    results = []
    thread = threading.Thread(target=child_in_a_thread, args=(results,))
    thread.start()
    thread.join()
    print("thread's child", results, flush=True)
    pid = os.fork()
    if pid == 0:
        raise ValueError("uncaught in the child")  # traceback on stderr, exit 1
    print("raised", os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]), flush=True)
    pid = os.fork()
    if pid == 0:
        print("about to be killed", random.random(), flush=True)
        time.sleep(30)
        os._exit(0)
    time.sleep(0.5)
    os.kill(pid, signal.SIGKILL)
    print("killed", os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]), flush=True)
"""


def test_children_end_every_way(program):
    """A child forked from a thread, one ending in an uncaught exception, one killed by
    SIGKILL (its recording is cut short: in the tree's replay it dies again, silently)."""
    app = program(ENDINGS)
    recorded = app.record()
    assert recorded.returncode == 0, recorded.stderr
    assert "thread's child [4]" in recorded.stdout and "raised 1" in recorded.stdout
    assert "killed -9" in recorded.stdout and "ValueError: uncaught in the child" in recorded.stderr
    assert_same_run(recorded, app.replay())
    alone = app.replay(process="0.3")  # the killed one, alone: its recording ends early
    assert alone.returncode == 87 and alone.stdout.startswith("about to be killed")
    assert alone.stderr.startswith("retrace: recording ends at event")


SPAWNS = """
    import os, random, subprocess, sys
    print("parent", random.random(), flush=True)
    pid = os.posix_spawn(sys.executable, [sys.executable, "child.py", "posix_spawn"], os.environ)
    print("status", os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]), flush=True)
    done = subprocess.run([sys.executable, "child.py", "popen"], close_fds=False)  # Popen takes posix_spawn
    print("rc", done.returncode)
"""


def test_posix_spawn_of_python_records_a_child(program):
    app = program(SPAWNS)
    app.write("child.py", "import random, sys\nprint(sys.argv[1], random.random(), flush=True)\nsys.exit(5)\n")
    recorded = app.record()
    assert recorded.returncode == 0 and "status 5" in recorded.stdout and "rc 5" in recorded.stdout, recorded.stderr
    assert recorded_processes(app.recording) == ["0", "0.1", "0.2"]
    assert_same_run(recorded, app.replay())
    assert_each_replays_alone(app)


SHARED_OUTPUT = """
    import multiprocessing, os, subprocess, sys, time

    def work(i):
        for k in range(4):
            print(f"worker {i} line {k}", flush=True)
            print(f"worker {i} note {k}", file=sys.stderr)
            time.sleep(0.001 * ((i + k) % 3))
        return i

    if __name__ == "__main__":
        multiprocessing.set_start_method(sys.argv[1])
        print("start", sys.stdout.line_buffering, sys.stdout.isatty())
        with multiprocessing.Pool(3) as pool:
            print(pool.map(work, range(6)))
        child = subprocess.Popen([sys.executable, "-c",
                                  "import os, time\\nfor k in range(6): os.write(1, b'spawned %d\\\\n' % k); time.sleep(0.001)"])
        pid = os.fork()
        if pid == 0:
            for k in range(6):
                os.write(1, b"forked %d\\n" % k)
                time.sleep(0.001)
            os._exit(0)
        for k in range(6):
            print("parent", k, flush=True)
            time.sleep(0.001)
        os.waitpid(pid, 0)
        child.wait()
        print("done")
"""


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_a_tree_writing_to_one_stdout_replays_in_the_recorded_order(program, method):
    """Workers, a forked child and a spawned Python child write to the stdout and stderr
    they share with their parent: the replay of the tree writes every line where it came
    when recorded (engine/outputorder.py); without the order, the lines come as the
    replayed processes happen to run."""
    app = program(SHARED_OUTPUT)
    recorded = app.record(method, timeout=120)
    assert recorded.returncode == 0, recorded.stderr
    assert recorded.stdout.count("worker") == 24 and recorded.stderr.count("note") == 24
    assert (app.recording / "output-order").is_file()
    for _ in range(3):
        assert_same_run(recorded, app.replay(timeout=120))


STDOUT_BY_OTHER_NAMES = """
    import fcntl, os, random, sys, time
    children = []
    for k in range(3):
        pid = os.fork()
        if pid == 0:
            by_path = open("/dev/stdout", "w", buffering=1)
            by_fd_path = open("/proc/self/fd/1", "w", buffering=1)
            err = os.open("/dev/stderr", os.O_WRONLY)
            copy, duplicate = os.dup(1), fcntl.fcntl(1, fcntl.F_DUPFD_CLOEXEC, 10)
            for i in range(4):
                by_path.write(f"child {k} line {i}: /dev/stdout\\n")
                by_fd_path.write(f"child {k} line {i}: /proc/self/fd/1\\n")
                os.write(err, f"child {k} line {i}: /dev/stderr\\n".encode())
                os.write(copy, f"child {k} line {i}: os.dup(1)\\n".encode())
                os.write(duplicate, f"child {k} line {i}: F_DUPFD\\n".encode())
                time.sleep(random.random() / 500)
            os.close(copy)
            os._exit(0)
        children.append(pid)
    for pid in children:
        os.waitpid(pid, 0)
    print("parent done")
"""


def test_writes_to_stdout_by_other_names_replay_in_the_recorded_order(program):
    """``/dev/stdout``, ``/proc/self/fd/1``, ``/dev/stderr``, ``os.dup(1)`` and F_DUPFD
    are stdout and stderr too: their writes are in the tree's order, in both modes."""
    app = program(STDOUT_BY_OTHER_NAMES)
    recorded = app.record(timeout=60)
    assert recorded.returncode == 0, recorded.stderr
    assert recorded.stdout.count("child") == 48 and recorded.stderr.count("child") == 12
    for _ in range(3):
        assert_same_run(recorded, app.replay(timeout=60))


FORK_WITH_A_THREAD = """
    import os, sys, threading
    stop = threading.Event()
    if sys.argv[1] == "thread":
        threading.Thread(target=stop.wait).start()
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)
    stop.set()
    print("forked", file=sys.stderr)
"""


@pytest.mark.parametrize("threads", ["thread", "alone"])
def test_the_warning_of_a_fork_with_threads_is_a_plain_runs(program, threads):
    """From 3.12 os.fork warns when the process has other threads (its OS threads:
    retrace's own would count). The warning is the one a plain run prints, at the
    program's line, and none without a thread of the program's; the replay prints it
    alike, with the recorded pid."""
    import re
    import sys

    from conftest import PYTHON

    app = program(FORK_WITH_A_THREAD)
    plain = run([PYTHON, "-W", "default", str(app.script), threads], cwd=app.dir)
    recorded = app.record(threads, python_args=("-W", "default"))
    assert recorded.returncode == plain.returncode == 0, recorded.stderr

    def pidless(text):
        return re.sub(r"pid=\d+", "pid=N", text)

    assert pidless(recorded.stderr) == pidless(plain.stderr)
    warned = "is multi-threaded, use of fork()" in plain.stderr
    assert warned == (threads == "thread" and sys.version_info >= (3, 12))
    assert_same_run(recorded, app.replay())
