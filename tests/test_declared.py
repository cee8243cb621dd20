"""Boundaries declared in configuration, tested on the suite's own driver (fixtures/fakedriver).

fakedriver reads and writes its data file with ``posix`` calls that retrace does
not patch, like a C-extension driver talking to its server: without a
declaration a replay sees the data file as it is *then* (and writes to it again);
with one, the replay is exact with the file changed or gone.
"""

import pathlib
import textwrap

import pytest

from conftest import assert_same_run

from retrace import declarations
from retrace.boundaries import declared
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


def test_parse_and_render_round_trip():
    text = textwrap.dedent("""
        [[tool.retrace.boundaries]]
        module = "psycopg2"
        functions = ["connect", "extensions.parse_dsn"]
        classes = ["extensions.connection"]
        why = "libpq \\"talks\\" to the server"
    """)
    found = declarations.parse(text, "pyproject.toml", pyproject=True)
    assert found == [declarations.Declaration("psycopg2", ["connect", "extensions.parse_dsn"],
                                              ["extensions.connection"], 'libpq "talks" to the server')]
    rendered = declarations.render(found, ["pyproject.toml"])
    assert declarations.parse(rendered, "copy", pyproject=False) == found
    patches, actions = declared.patches_for(found)
    assert [p.name for p in patches] == ["psycopg2.connect", "psycopg2.extensions.parse_dsn",
                                         "psycopg2.extensions.connection"]
    assert all(p.optional for p in patches) and [a.module for a in actions] == ["psycopg2"]
    # A standalone file may also use the pyproject layout.
    assert declarations.parse(text, "env.toml", pyproject=False) == found
    assert declarations.parse("", "empty.toml", pyproject=False) == []
    with pytest.raises(ValueError):
        declarations.parse("[[boundaries]\n", "bad.toml", pyproject=False)


def test_find_pyproject_walks_up(tmp_path):
    (tmp_path / "pyproject.toml").write_text("")
    deep = tmp_path / "src" / "app"
    deep.mkdir(parents=True)
    assert declarations.find_pyproject(str(deep)) == str(tmp_path / "pyproject.toml")


# -- the general mechanism (engine/handles.py), in one process ----------------------------------
import datetime

from retrace.engine import Engine
from retrace.engine.handles import HandleProxy, handles_for
from retrace.engine.state import state
from retrace.trace.cbor import dumps, loads
from retrace.trace.digest import call_digest
from retrace.trace.values import Raised, decode_tag, to_wire


class _Recorder(Engine):
    """Records like the real engine does: every kept value crosses the trace's codec."""

    mode = "record"

    def __init__(self):
        super().__init__()
        self.events = []

    def leaf(self, name, call, *, key=None, store=None, load=None, depth=1, after_end=None):
        def wrapper(*args, **kwargs):
            if state.busy:
                return call(*args, **kwargs)
            digest = None if key is None else call_digest(key, args, kwargs)
            state.busy = True
            try:
                result = call(*args, **kwargs)
            except BaseException as exc:
                del state.busy
                self.events.append((name, digest, dumps(to_wire(Raised.capture(exc)))))
                raise
            del state.busy
            kept = result if store is None else store(result, args, kwargs)
            self.events.append((name, digest, dumps(to_wire(kept))))
            return result

        return wrapper


class _Replayer(Engine):
    mode = "replay"

    def __init__(self, events):
        super().__init__()
        self.events = list(events)

    def leaf(self, name, call, *, key=None, store=None, load=None, depth=1, after_end=None):
        def wrapper(*args, **kwargs):
            if state.busy:
                return call(*args, **kwargs)
            recorded, digest, data = self.events.pop(0)
            assert (recorded, digest) == (name, None if key is None else call_digest(key, args, kwargs))
            value = loads(data, tag_hook=decode_tag)
            if type(value) is Raised:
                raise value.rebuild()
            return value if load is None else load(value, args, kwargs)

        return wrapper


class Resource:
    """A pure-Python "external object" (its state would even encode: it must still be a handle)."""

    kind = "thing"

    def __init__(self, log):
        self.log = log
        self.items = [1, 2]

    def read(self, size):
        self.log.append(("read", size))
        return b"x" * size

    def child(self):
        return Resource(self.log)

    def me(self):
        return self

    def pair(self):
        return [self, Resource(self.log)]

    def fail(self):
        raise KeyError("nope")

    def kind_of(self):
        return Resource

    def when(self):
        return datetime.date(2020, 1, 2)

    @property
    def size(self):
        return len(self.log)

    def __len__(self):
        return 3

    def __iter__(self):
        return iter([10, 20])

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.log.append("exit")
        return False

    def __getitem__(self, key):
        return key * 2


def _use(open_resource):
    out = []
    r = open_resource("x")
    out.append((type(r).__name__, isinstance(r, HandleProxy)))
    out.append(r.read(3))
    out.append(r.child() is not r)
    out.append(r.me() is r)
    a, b = r.pair()
    out.append(a is r and b is not r and type(b) is type(r))
    try:
        r.fail()
    except KeyError as exc:
        out.append(("error", exc.args))
    out.append(r.kind_of() is Resource)
    out.append(r.when())
    out.append(r.size)
    out.append((len(r), list(r), r[4], r.kind))
    with r as same:
        out.append(same is r)
    out.append(r.items)
    r.items = [9]
    out.append(r.items)
    callback = lambda: 1  # noqa: E731
    r.callback = callback
    out.append(r.callback is callback)
    out.append([hasattr(r, name) for name in ("__len__", "__iter__", "__next__", "__call__", "__contains__",
                                              "__enter__", "read", "size", "items", "nothing")])
    try:
        r.nothing
    except AttributeError as exc:
        out.append(("attribute error", str(exc)))
    return out


def test_handles_record_then_replay_in_process():
    log = []
    recorder = _Recorder()
    opened = handles_for(recorder).function("test_declared.open", lambda name: Resource(log))
    recorded = _use(opened)
    assert ("read", 3) in log and "exit" in log
    assert recorded[0] == ("Resource", True)
    assert recorded[7] == datetime.date(2020, 1, 2)  # a value, not a handle
    assert recorded[-2] == [True, True, False, False, False, True, True, True, True, False]

    def must_not_run(name):
        raise AssertionError("replay called the real function")

    replayer = _Replayer(recorder.events)
    replayed = _use(handles_for(replayer).function("test_declared.open", must_not_run))
    assert replayed == recorded
    assert replayer.events == []
    names = [name for name, _, _ in recorder.events]
    assert names[:3] == ["test_declared.open", "test_declared.Resource.read", "test_declared.Resource.child"]
    assert "test_declared.Resource.__getattr__" in names and "test_declared.Resource.__setattr__=" in names


def test_replay_checks_which_handle_is_used():
    """Keys hold the handle's number: the same call on another handle is a divergence."""
    recorder = _Recorder()
    opened = handles_for(recorder).function("test_declared.open", lambda name: Resource([]))
    first, second = opened("a"), opened("b")
    first.read(1)
    replayer = _Replayer(recorder.events)
    opened = handles_for(replayer).function("test_declared.open", None)
    first, second = opened("a"), opened("b")
    with pytest.raises(AssertionError):
        second.read(1)
