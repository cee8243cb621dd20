"""Every boundary name a trace can hold is declared by a family (boundaries/spec.py).

Two ways to look: the names retrace's code gives ``engine.leaf`` (read from the
source), and the names real programs' traces hold (recorded here).
"""

import ast
import pathlib

from retrace.boundaries import _socketobj, _tlsobj, families
from retrace.declarations import Declaration
from retrace.boundaries.spec import Turn, turns
from retrace.trace.model import Event, iter_events
from retrace.trace.reader import TraceReader

BOUNDARIES = pathlib.Path(__file__).resolve().parent.parent / "retrace" / "boundaries"
FAMILIES = families()


def undeclared(names) -> list[str]:
    return sorted(name for name in set(names) if not any(family.declares(name) for family in FAMILIES))


def _literal_leaf_names() -> dict[str, str]:
    """name -> file, for each ``leaf("name", ...)``/``engine.leaf("name", ...)`` and
    handles' ``function("name", ...)`` with a literal name in boundaries/."""
    found = {}
    for path in sorted(BOUNDARIES.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Call) or not node.args:
                continue
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
            first = node.args[0]
            if called in ("leaf", "function") and isinstance(first, ast.Constant) and isinstance(first.value, str):
                found[first.value] = path.name
    return found


def test_every_literal_leaf_name_is_declared():
    names = _literal_leaf_names()
    assert len(names) > 40 and "threading.wait" in names and "select.poll.poll" in names  # (the reader reads)
    assert undeclared(names) == []


def test_the_names_the_wrapper_classes_make_are_declared():
    assert undeclared(f"socket.{name}" for name in _socketobj._PLAIN_METHODS) == []
    assert undeclared(f"ssl.{name}" for name in _tlsobj._TLS_METHODS) == []


def test_each_name_is_declared_once_with_a_why_and_a_turn():
    names = [declared.name for family in FAMILIES for declared in family.patches + family.leaves]
    assert sorted(name for name in set(names) if names.count(name) > 1) == []
    for family in FAMILIES:
        for declared in family.patches + family.leaves:
            assert declared.why and declared.turn in (Turn.RELEASE, Turn.KEEP, Turn.QUICK), declared


def test_the_turns_the_engine_reads():
    table = turns(FAMILIES)
    assert table["time.time"] == Turn.QUICK and table["threading.wait"] == Turn.KEEP
    assert table["socket.bind"] == Turn.KEEP and "socket.recv" not in table  # (RELEASE: the default)
    assert table["os.fork"] == Turn.KEEP and table["gc.collect"] == Turn.QUICK


def test_the_declared_family_is_made_from_the_declarations():
    made = {family.name: family for family in families([Declaration("fakedriver", ["connect"], ["Connection"])])}
    declared = made["declared"]
    assert [patch.name for patch in declared.patches] == ["fakedriver.connect", "fakedriver.Connection"]
    assert declared.declares("fakedriver.Cursor.execute")  # (a handle's leaf, named at run time)
    assert not declared.declares("fakedriverx.connect")
    assert {family.name: family for family in FAMILIES}["declared"].patches == ()  # (none declared)


PROGRAM = """
    import datetime, multiprocessing, os, random, select, signal, socket, sqlite3, subprocess, sys
    import threading, time, uuid

    print(time.time() > 0, datetime.datetime.now().year > 2000, random.random() < 1, len(os.urandom(4)))
    print(uuid.uuid4().version, os.getpid() > 0, os.cpu_count() > 0)
    with open("data.txt", "w") as out:
        out.write("hello")
    with open("data.txt") as handle:
        print(handle.read(), os.stat("data.txt").st_size, sorted(os.listdir("."))[:1])

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    def serve():
        conn, _ = server.accept()
        with conn:
            conn.sendall(conn.recv(100).upper())
    worker = threading.Thread(target=serve)
    worker.start()
    with socket.create_connection(server.getsockname()) as client:
        client.sendall(b"ping")
        ready, _, _ = select.select([client], [], [], 5)
        print(client.recv(100))
    worker.join()
    server.close()

    lock, value = multiprocessing.Lock(), multiprocessing.Value("i", 7)
    with lock:
        print(value.value)
    ready = threading.Condition()
    def waiter():
        with ready:
            ready.wait(5)
    worker = threading.Thread(target=waiter)
    worker.start()
    time.sleep(0.05)
    with ready:
        ready.notify_all()
    worker.join()

    db = sqlite3.connect(":memory:")
    db.execute("CREATE TABLE t (x)")
    db.execute("INSERT INTO t VALUES (1)")
    print(db.execute("SELECT x FROM t").fetchall())
    db.close()

    signal.signal(signal.SIGUSR1, lambda signum, frame: print("signal", signum))
    os.kill(os.getpid(), signal.SIGUSR1)
    print(subprocess.run(["true"]).returncode)
    child = os.fork()
    if child == 0:
        print("child", time.time() > 0)
        os._exit(0)
    print("waited", os.waitpid(child, 0)[1])
    print(input("? "))
"""


def test_every_name_in_real_traces_is_declared(program):
    app = program(PROGRAM)
    recorded = app.record(stdin="typed\n")
    assert recorded.returncode == 0, recorded.stderr
    traces = sorted(app.recording.rglob("trace.bin"))
    assert len(traces) >= 2  # (the forked child's too)
    names = {event.boundary for trace in traces for event in iter_events(TraceReader(str(trace)))
             if isinstance(event, Event)}
    assert {"time.time", "socket.recv", "sqlite3.Connection.execute", "os.fork", "signal.deliver",
            "sys.stdin.readinto", "io.open", "datetime.now", "threading.wait", "multiprocessing.Synchronized.value",
            "_multiprocessing.SemLock.__enter__"} <= names
    assert undeclared(names) == []
