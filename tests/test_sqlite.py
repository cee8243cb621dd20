"""sqlite3 replays from the recording: the database file is deleted (or replaced) before replay.

Each test records a program against a database file, then deletes the file or puts
a different database in its place, and replays: the output must be the recorded
one, and the file left as the replay found it (nothing is written on replay).
"""

import sqlite3
import subprocess
import sys
import textwrap

from conftest import PYTHON, assert_same_run, run
from fakes import script_env

from retrace.trace.model import Event, iter_events
from retrace.trace.reader import TraceReader


def events(recording) -> list[str]:
    return [e.boundary for e in iter_events(TraceReader(str(recording / "trace.bin"))) if isinstance(e, Event)]


def record_ok(app, *args, **kwargs):
    recorded = app.record(*args, **kwargs)
    assert recorded.returncode == 0, recorded.stderr
    return recorded


def other_database(path, rows=(("intruder", 999),)):
    """A database with the same schema and other content, where the recorded one was."""
    if path.exists():
        path.unlink()
    db = sqlite3.connect(path)
    db.execute("create table items(id integer primary key, name text unique, qty integer)")
    db.executemany("insert into items(name, qty) values (?, ?)", rows)
    db.commit()
    db.close()
    return path.read_bytes()


BASICS = """
    import sqlite3, sys
    db = sqlite3.connect("shop.db")
    print("types", type(db).__name__, isinstance(db, sqlite3.Connection), db.in_transaction)
    db.execute("create table if not exists items(id integer primary key, name text unique, qty integer)")
    cur = db.cursor()
    print("cursor", isinstance(cur, sqlite3.Cursor), hasattr(cur, "__next__"), hasattr(cur, "__len__"))
    cur.execute("insert into items(name, qty) values (?, ?)", ("apple", 3))
    print("lastrowid", cur.lastrowid, "rowcount", cur.rowcount, "in_tx", db.in_transaction)
    cur.executemany("insert into items(name, qty) values (:name, :qty)",
                    [{"name": "pear", "qty": 5}, {"name": "plum", "qty": 7}])
    print("many", cur.rowcount, db.total_changes)
    cur.executemany("insert into items(name, qty) values (?, ?)", ((f"fig{i}", i) for i in range(3)))
    db.commit()
    print("committed", db.in_transaction)
    cur.execute("select id, name, qty from items order by id")
    print("description", [d[0] for d in cur.description])
    print("fetchone", cur.fetchone())
    print("fetchmany", cur.fetchmany(2))
    print("fetchall", cur.fetchall())
    print("exhausted", cur.fetchone())
    for row in db.execute("select name from items where qty > ?", (4,)):
        print("iter", row)
    print("scalar", db.execute("select sum(qty) from items").fetchone()[0])
    db.execute("update items set qty = qty + 1 where name = 'apple'")
    db.rollback()
    print("after rollback", db.execute("select qty from items where name = 'apple'").fetchone())
    with db:
        db.execute("update items set qty = 100 where name = 'pear'")
    try:
        with db:
            db.execute("update items set qty = 0")
            db.execute("insert into items(name, qty) values ('apple', 1)")
    except sqlite3.IntegrityError as exc:
        print("integrity", type(exc).__name__, exc, exc.sqlite_errorname)
    print("kept", db.execute("select name, qty from items order by id").fetchall())
    try:
        db.execute("selec * from items")
    except sqlite3.OperationalError as exc:
        print("operational", exc)
    try:
        db.execute("select * from nowhere")
    except sqlite3.Error as exc:
        print("error", type(exc).__name__, exc)
    db.executescript("create table if not exists log(msg); insert into log values ('x'); ")
    print("script", db.execute("select count(*) from log").fetchone())
    db.close()
    try:
        db.execute("select 1")
    except sqlite3.ProgrammingError as exc:
        print("closed", exc)
    print("version", sqlite3.sqlite_version, sqlite3.sqlite_version_info == tuple(map(int, sqlite3.sqlite_version.split("."))))
"""


def test_connections_cursors_transactions_replay_without_the_database(program):
    app = program(BASICS)
    recorded = record_ok(app)
    assert "fetchone (1, 'apple', 3)" in recorded.stdout
    assert "integrity IntegrityError UNIQUE constraint failed: items.name SQLITE_CONSTRAINT_UNIQUE" in recorded.stdout
    assert "kept [('apple', 3), ('pear', 100), ('plum', 7)" in recorded.stdout
    db = app.dir / "shop.db"
    db.rename(app.dir / "first.db")
    plain = run([PYTHON, str(app.script)], cwd=app.dir)
    assert plain.output == recorded.output  # recording changes nothing the program sees
    assert db.exists()
    db.unlink()
    replayed = app.replay()
    assert_same_run(recorded, replayed)
    assert not db.exists()  # replay opened nothing, created nothing
    # Another database where the recorded one was: replay does not see it, nor change it.
    content = other_database(db)
    assert_same_run(recorded, app.replay())
    assert db.read_bytes() == content


def test_plain_run_depends_on_the_database(program):
    """The test above could not fail if the program ignored the file: check it does not."""
    app = program("""
        import sqlite3
        db = sqlite3.connect("shop.db")
        print(db.execute("select name, qty from items").fetchall())
    """)
    other_database(app.dir / "shop.db", rows=(("one", 1),))
    first = run([PYTHON, str(app.script)], cwd=app.dir)
    other_database(app.dir / "shop.db", rows=(("two", 2),))
    second = run([PYTHON, str(app.script)], cwd=app.dir)
    assert first.stdout != second.stdout
    recorded = record_ok(app)
    assert recorded.stdout == second.stdout
    other_database(app.dir / "shop.db", rows=(("three", 3),))
    assert_same_run(recorded, app.replay())


ROWS = """
    import sqlite3, collections.abc
    db = sqlite3.connect("shop.db")
    db.row_factory = sqlite3.Row
    print("factory", db.row_factory is sqlite3.Row, sqlite3.Row is sqlite3.dbapi2.Row)
    row = db.execute("select id, name as Name, qty from items order by id").fetchone()
    print(type(row).__name__, isinstance(row, sqlite3.Row), isinstance(row, collections.abc.Sequence))
    print(row[0], row["name"], row["NAME"], row[-1], row[0:2], len(row), row.keys(), tuple(row), dict(row))
    for key in ("nope", 9, 1.5):
        try:
            row[key]
        except IndexError as exc:
            print("index error", repr(key), exc)
    again = db.execute("select id, name as Name, qty from items order by id").fetchone()
    print("equal", row == again, hash(row) == hash(again), row == tuple(row), "pear" in row)
    rows = db.execute("select name, qty from items order by id").fetchall()
    print([r["qty"] for r in rows], [list(r) for r in db.execute("select name from items").fetchmany(2)])
    cur = db.cursor()
    print("cursor factory", cur.row_factory is sqlite3.Row)
    cur.row_factory = None
    print("plain", cur.execute("select name from items order by id").fetchall())

    def as_dict(cursor, values):
        return {column[0]: value for column, value in zip(cursor.description, values)}
    db.row_factory = as_dict
    print("dicts", db.execute("select name, qty from items order by id").fetchall())
    print("iter", [r["name"] for r in db.execute("select name from items order by id")])
    db.row_factory = lambda cursor, values: values[0]
    print("lambda", db.execute("select name from items order by id").fetchall(), db.row_factory.__name__)
    db.text_factory = bytes
    print("bytes", db.execute("select name from items order by id").fetchone())
    Point = collections.namedtuple("Point", "name qty")
    db.row_factory = lambda cursor, values: Point(*values)
    db.text_factory = str
    print("namedtuple", db.execute("select name, qty from items order by id").fetchall())
"""


def test_row_factories_and_sqlite3_row(program):
    app = program(ROWS)
    db = app.dir / "shop.db"
    other_database(db, rows=(("apple", 3), ("pear", 5), ("plum", 7)))
    plain = run([PYTHON, str(app.script)], cwd=app.dir)
    assert plain.returncode == 0, plain.stderr
    recorded = record_ok(app)
    assert recorded.stdout == plain.stdout  # our Row behaves like the real one
    other_database(db, rows=(("kiwi", 1),))
    assert_same_run(recorded, app.replay())
    db.unlink()
    assert_same_run(recorded, app.replay())


BLOBS = """
    import sqlite3
    db = sqlite3.connect("blobs.db")
    db.execute("create table if not exists files(id integer primary key, data blob)")
    db.execute("insert into files(data) values (zeroblob(16))")
    db.commit()
    rowid = db.execute("select max(id) from files").fetchone()[0]
    with db.blobopen("files", "data", rowid) as blob:
        print("blob", type(blob).__name__, isinstance(blob, sqlite3.Blob), len(blob))
        blob.write(b"hello")
        blob.seek(-4, 2)
        blob.write(b"tail")
        blob.seek(0)
        print(blob.read(5), blob.tell(), blob[0], blob[-1], blob[0:5], bytes(blob[:]))
        blob[5] = 33
    print(db.execute("select data from files where id = ?", (rowid,)).fetchone()[0])
    blob = db.blobopen("files", "data", rowid, readonly=True)
    try:
        blob.write(b"x")
    except sqlite3.OperationalError as exc:
        print("readonly", exc)
    blob.close()
    try:
        blob.read()
    except sqlite3.ProgrammingError as exc:
        print("closed", exc)
    print("dump", list(db.iterdump())[:2])
    data = db.serialize()
    print("serialized", len(data) > 0, data[:15])
"""


def test_blobs_iterdump_serialize(program):
    app = program(BLOBS)
    recorded = record_ok(app)
    assert "b'hello!" in recorded.stdout
    (app.dir / "blobs.db").unlink()
    assert_same_run(recorded, app.replay())
    assert not (app.dir / "blobs.db").exists()


def test_memory_database_subclass_and_constructor(program):
    app = program("""
        import sqlite3, datetime, decimal
        class Audited(sqlite3.Connection):
            def __init__(self, *args, **kwargs):
                super().__init__(*args, **kwargs)
                self.row_factory = sqlite3.Row
        db = sqlite3.connect(":memory:", factory=Audited)
        print(type(db).__name__, isinstance(db, Audited), isinstance(db, sqlite3.Connection))
        db.execute("create table t(a, b)")
        db.execute("insert into t values (?, ?)", (1, "x"))
        row = db.execute("select * from t").fetchone()
        print(row["a"], row["B"], row.keys())
        direct = sqlite3.Connection(":memory:")
        print(type(direct).__name__, isinstance(direct, sqlite3.Connection), direct.execute("select 40 + 2").fetchone())
        cur = sqlite3.Cursor(direct)
        print(isinstance(cur, sqlite3.Cursor), cur.execute("select 'c'").fetchall(), cur.connection is direct)
        # adapters and converters (run while recording only): at least they replay their results
        db2 = sqlite3.connect(":memory:", detect_types=sqlite3.PARSE_DECLTYPES)
        db2.execute("create table d(day date, amount text)")
        sqlite3.register_adapter(decimal.Decimal, str)
        db2.execute("insert into d values (?, ?)", (datetime.date(2024, 2, 29), decimal.Decimal("1.50")))
        print([(str(day), type(day).__name__, amount) for day, amount in db2.execute("select * from d")])
        calls = []
        db2.create_function("double", 1, lambda x: x * 2)
        print(db2.execute("select double(21)").fetchone())
        print(db2.isolation_level, repr(db2.text_factory), db2.row_factory)
        db2.isolation_level = None
        print(db2.isolation_level, db2.in_transaction)
        copy = sqlite3.connect(":memory:")
        db2.backup(copy)
        print("backup", copy.execute("select count(*) from d").fetchone(), db2 is not copy)
    """)
    recorded = record_ok(app)
    assert "42" in recorded.stdout
    assert_same_run(recorded, app.replay())


def test_events_are_named_by_handle_type(program):
    app = program("""
        import sqlite3
        db = sqlite3.connect(":memory:")
        cur = db.execute("select 1")
        print(cur.fetchall(), cur.rowcount)
    """)
    record_ok(app)
    names = events(app.recording)
    assert names[-4:] == ["sqlite3.connect", "sqlite3.Connection.execute", "sqlite3.Cursor.fetchall",
                          "sqlite3.Cursor.rowcount"]


def test_changed_sql_diverges(program):
    app = program("""
        import os, sqlite3
        db = sqlite3.connect(":memory:")
        print(db.execute(os.environ.get("QUERY", "select 1")).fetchall())
    """)
    recorded = record_ok(app)
    # Replay restores the recorded environment, so edit the program's code in the recording.
    main = app.recording / "run" / "app.py"
    main.write_text(main.read_text().replace('"select 1"', '"select 2"'))
    replayed = app.replay()
    assert replayed.returncode != 0 and "diverged" in replayed.stderr, replayed.stderr
    assert "sqlite3.Connection.execute" in replayed.stderr
    assert recorded.stdout == "[(1,)]\n"


def test_uncaught_database_error_traceback_replays(program):
    app = program("""
        import sqlite3
        db = sqlite3.connect("x.db")
        db.execute("create table if not exists t(id integer primary key)")
        db.execute("insert into t values (1)")
        db.execute("insert into t values (1)")
    """)
    recorded = app.record()
    assert recorded.returncode == 1
    assert "sqlite3.IntegrityError: UNIQUE constraint failed: t.id" in recorded.stderr
    assert "retrace" not in recorded.stderr
    (app.dir / "x.db").unlink()
    assert_same_run(recorded, app.replay())


def test_import_before_and_after_start_up(tmp_path):
    """sqlite3 imported by the start-up (before the boundaries) is covered as well."""
    script = textwrap.dedent("""
        import sqlite3
        from sqlite3 import connect as early_connect
        from retrace.engine import Engine
        from retrace.boundaries import families
        from retrace.bootstrap.install import Installer
        from retrace.engine.handles import HandleProxy

        from fakes import LoggingEngine as Logging

        engine = Logging()
        installer = Installer(engine, [f for f in families() if f.name == "sqlite"])
        installer.install()
        assert engine.log == ["sqlite3.sqlite_version"], engine.log
        db = early_connect(":memory:")
        assert isinstance(db, HandleProxy) and isinstance(db, sqlite3.Connection)
        assert sqlite3.connect is sqlite3.dbapi2.connect is early_connect
        db.execute("select 1").fetchall()
        print(engine.log[1:])
        installer.uninstall()
        assert not isinstance(sqlite3.connect(":memory:"), HandleProxy)
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=30,
                          env=script_env())
    assert done.returncode == 0, done.stderr
    assert done.stdout == "['sqlite3.connect', 'sqlite3.Connection.execute', 'sqlite3.Cursor.fetchall']\n"


def test_proxies_have_the_real_surface(program):
    """hasattr does not lie either way: a plain run (real objects) prints what record and replay print."""
    app = program("""
        import sqlite3
        SPECIAL = ["__iter__", "__next__", "__enter__", "__exit__", "__len__", "__getitem__", "__setitem__",
                   "__delitem__", "__contains__", "__call__", "__bool__", "__reversed__"]
        db = sqlite3.connect(":memory:")
        db.execute("create table b(data blob)")
        db.execute("insert into b values (zeroblob(4))")
        cur = db.cursor()
        blob = db.blobopen("b", "data", 1)
        row_type = type(db.execute("select 1").fetchone())
        for obj in (db, cur, blob):
            kind = type(obj)
            public = sorted(n for n in dir(sqlite3.dbapi2.__dict__[kind.__name__]) if not n.startswith("_"))
            print(kind.__module__, kind.__name__, [n for n in public if not hasattr(obj, n)],
                  [n for n in SPECIAL if hasattr(obj, n)], callable(obj))
            print("  ", repr(obj).split(" object at ")[0], isinstance(obj, getattr(sqlite3, kind.__name__)))
        db.row_factory = sqlite3.Row
        row = db.execute("select 1 as one").fetchone()
        print("Row", [n for n in SPECIAL if hasattr(row, n)], repr(row).split(" object at ")[0])
    """)
    plain = run([PYTHON, str(app.script)], cwd=app.dir)
    assert plain.returncode == 0, plain.stderr
    recorded = record_ok(app)
    assert recorded.output == plain.output
    assert_same_run(recorded, app.replay())


A_FINALIZER_AT_EXIT = """
    import sqlite3, sys

    class Keeper:
        def __init__(self):
            self.db = sqlite3.connect("data.db")
            print("before", self.db.in_transaction, self.db.total_changes)
            self.db.execute("create table t (x)")
            self.db.execute("insert into t values (1)")

        def __del__(self):  # at interpreter exit, after the recording's end
            sys.stderr.write(f"at exit: {self.db.in_transaction} {self.db.total_changes}\\n")

    keeper = Keeper()
    print("done")
"""


def test_a_finalizer_at_exit_reads_a_handle_as_the_recording_ended(program):
    """A finalizer run as the interpreter exits reads the handle's attributes unrecorded:
    replay answers them as they were at the recording's end (not as last read)."""
    app = program(A_FINALIZER_AT_EXIT)
    recorded = record_ok(app)
    assert recorded.stdout == "before False 0\ndone\n" and recorded.stderr == "at exit: True 1\n"
    (app.dir / "data.db").unlink()
    assert_same_run(recorded, app.replay())
