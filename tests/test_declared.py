"""Boundaries declared in configuration, tested on the suite's own driver (fixtures/fakedriver).

fakedriver reads and writes its data file with ``posix`` calls that retrace does
not patch, like a C-extension driver talking to its server: without a
declaration a replay sees the data file as it is *then* (and writes to it again);
with one, the replay is exact with the file changed or gone.
"""

import pathlib
import textwrap


from conftest import assert_same_run

from retrace import declarations
from retrace.trace.model import Event, iter_events
from retrace.trace.reader import TraceReader

DRIVER_DIR = pathlib.Path(__file__).resolve().parent / "fixtures" / "fakedriver"
ENV = {"PYTHONPATH": str(DRIVER_DIR)}

PROGRAM = """
    import time
    print("started", time.time() > 0)
    import fakedriver                       # imported after start-up: patched on import
    conn = fakedriver.connect("data.db")
    print("version", conn.server_version, conn.path)
    cur = conn.cursor()
    cur.execute("SELECT fruit")
    print("select", cur.description, cur.rowcount, cur.fetchall())
    cur.execute("INSERT fruit ?", ("kiwi",))
    print("count", conn.execute("COUNT fruit").fetchone())
    for row in conn.execute("SELECT veg"):
        print("row", row)
    try:
        cur.execute("DROP fruit")
    except fakedriver.OperationalError as exc:
        print("error", type(exc).__name__, exc)
    print("type", type(conn).__name__, isinstance(conn, fakedriver.Connection), hasattr(cur, "__next__"))
    with conn:
        print("closed inside", conn.closed)
    print("closed after", conn.closed)
    try:
        fakedriver.connect("missing.db")
    except fakedriver.Error as exc:
        print("connect error", exc)
"""

DATA = "version 1.0\nfruit|apple\nfruit|pear\nveg|leek\n"
OTHER = "version 9.9\nfruit|durian\nveg|kale\nveg|okra\n"

PYPROJECT = """
    [project]
    name = "shop"

    [[tool.retrace.boundaries]]
    module = "fakedriver"
    functions = ["connect"]
    why = "talks to the database in C"
"""


def events(recording) -> list[str]:
    return [e.boundary for e in iter_events(TraceReader(str(recording / "trace.bin"))) if isinstance(e, Event)]


def make_app(program, source=PROGRAM):
    app = program(source)
    (app.dir / "data.db").write_text(DATA)
    return app


def record_ok(app, env=ENV):
    recorded = app.record(env=env)
    assert recorded.returncode == 0, recorded.stderr
    assert "fruit', 'apple'" in recorded.stdout, recorded.stdout
    return recorded


def test_without_a_declaration_replay_sees_the_changed_world(program):
    """The driver's reads are invisible to retrace: this is what declaring fixes."""
    app = make_app(program)
    recorded = record_ok(app)
    assert "version 1.0" in recorded.stdout
    assert not (app.recording / declarations.RECORDED_FILE).exists()
    assert not any(name.startswith("fakedriver") for name in events(app.recording))
    (app.dir / "data.db").write_text(OTHER)
    replayed = app.replay(cwd=app.dir, env=ENV)  # (where the driver finds data.db by its relative path)
    assert replayed.stdout != recorded.stdout
    assert "durian" in replayed.stdout  # replay read today's file...
    assert "fruit|kiwi" in (app.dir / "data.db").read_text()  # ...and wrote to it again


def test_declared_in_pyproject_replays_exactly(program):
    app = make_app(program)
    pyproject = app.write("pyproject.toml", PYPROJECT)
    recorded = record_ok(app)
    assert "fruit|kiwi" in (app.dir / "data.db").read_text()  # the recording wrote for real
    names = events(app.recording)
    assert "fakedriver.connect" in names and "fakedriver.Cursor.execute" in names
    assert "fakedriver.Connection.__getattr__" in names  # instance attributes (conn.path, closed)
    copy = (app.recording / declarations.RECORDED_FILE).read_text()
    assert 'module = "fakedriver"' in copy and str(pyproject) in copy
    # The world changes: another database, and the configuration is gone.
    (app.dir / "data.db").write_text(OTHER)
    pyproject.unlink()
    replayed = app.replay(env=ENV)
    assert_same_run(recorded, replayed)
    assert (app.dir / "data.db").read_text() == OTHER  # nothing written on replay
    (app.dir / "data.db").unlink()
    assert_same_run(recorded, app.replay(env=ENV))


def test_declared_in_an_environment_file_with_classes(program, tmp_path):
    app = make_app(program, PROGRAM.replace('fakedriver.connect("data.db")', 'fakedriver.Connection("data.db")'))
    config = tmp_path / "boundaries.toml"
    config.write_text(textwrap.dedent("""
        [[boundaries]]
        module = "fakedriver"
        functions = ["connect"]
        classes = ["Connection"]
    """))
    env = dict(ENV, RETRACE_BOUNDARIES=str(config))
    recorded = record_ok(app, env=env)
    assert "type Connection True True" in recorded.stdout  # isinstance holds for the handle
    assert "fakedriver.Connection" in events(app.recording)  # constructing it is a boundary
    config.unlink()
    (app.dir / "data.db").unlink()
    assert_same_run(recorded, app.replay(env=ENV))


def test_a_replay_uses_the_recorded_declarations_not_the_working_tree(program):
    """Declaring a boundary after the recording must not change its replay."""
    app = make_app(program)
    recorded = record_ok(app)
    app.write("pyproject.toml", PYPROJECT)  # added after recording
    (app.dir / "data.db").write_text(DATA)  # as it was: the undeclared driver reads it for real
    # Had replay declared the driver, it would expect fakedriver events the trace lacks.
    assert_same_run(recorded, app.replay(cwd=app.dir, env=ENV))


def test_bad_declarations_warn_and_recording_goes_on(program):
    app = make_app(program)
    app.write("pyproject.toml", """
        [[tool.retrace.boundaries]]
        module = "fakedriver"
        functions = ["connect", "no_such_function"]
        colour = "blue"

        [[tool.retrace.boundaries]]
        module = "not a module"
        functions = ["x"]

        [[tool.retrace.boundaries]]
        module = "fakedriver"
        functions = "connect"
    """)
    recorded = record_ok(app)
    assert "unknown keys colour" in recorded.stderr
    assert "'module' must be a module name" in recorded.stderr
    assert "'functions' must be a list of names" in recorded.stderr
    assert "declared boundary fakedriver.no_such_function does not exist" in recorded.stderr
    (app.dir / "data.db").write_text(OTHER)
    replayed = app.replay(env=ENV)
    assert replayed.returncode == 0, replayed.stderr
    assert replayed.stdout == recorded.stdout
    # The missing name is reported on replay too (the copy keeps it); the others are gone.
    assert replayed.stderr == "retrace: warning: declared boundary fakedriver.no_such_function does not exist; not recorded\n"


def test_a_file_that_is_not_toml_warns(program, tmp_path):
    broken = tmp_path / "broken.toml"
    broken.write_text("[[boundaries]\n")
    other = program("print('fine')")
    result = other.record(env=dict(ENV, RETRACE_BOUNDARIES=str(broken)))
    assert result.returncode == 0 and result.stdout == "fine\n"
    assert "is not valid TOML" in result.stderr
