"""Edges of the engine: leaves called from C, calls during shutdown, wrong calls."""

import sys

import cbor2
import pytest

from conftest import assert_same_run
from fakes import LoggingEngine
from retrace.trace import values


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


def _decoded_before_import(value, module: str) -> list:
    """``[value]`` through the trace's encoding, decoded while ``module`` is not imported:
    what comes back must wait (a Deferred), decoding importing nothing."""
    wire = cbor2.dumps([values.to_wire(value)])
    saved = sys.modules.pop(module)
    try:
        decoded = cbor2.loads(wire, tag_hook=values.decode_tag)
        assert type(decoded[0]) is values.Deferred
        assert module not in sys.modules
    finally:
        sys.modules[module] = saved
    return decoded


def test_objects_of_modules_not_yet_imported_are_rebuilt_when_taken():
    import decimal

    decoded = _decoded_before_import(decimal.Decimal("1.5"), "decimal")
    assert values.resolve_deferred(decoded) == [decimal.Decimal("1.5")]


def test_an_object_inside_a_deferred_object_is_rebuilt_too():
    """A datetime whose timezone was decoded before ``datetime`` was imported: both
    are Deferred, the outer one holding the inner (psycopg2's timestamptz)."""
    import datetime

    when = datetime.datetime(2026, 11, 27, 7, 36, tzinfo=datetime.timezone(datetime.timedelta(hours=2)))
    decoded = _decoded_before_import(when, "datetime")
    assert values.resolve_deferred(decoded) == [when]
    assert values.resolve_deferred(decoded)[0].utcoffset() == datetime.timedelta(hours=2)


def test_an_object_holding_a_deferred_one_waits_for_it():
    """A datetime decoded with ``datetime`` imported but its zone's module (zoneinfo) not
    yet: the datetime waits for its zone instead of being made with a placeholder."""
    import datetime
    import zoneinfo

    when = datetime.datetime(2026, 11, 27, 8, 0, tzinfo=zoneinfo.ZoneInfo("Etc/UTC"))
    decoded = _decoded_before_import(when, "zoneinfo")
    assert values.resolve_deferred(decoded) == [when]


def test_a_zoneinfo_time_zone_is_stored_by_name():
    """ZoneInfo pickles through a method of its class (ZoneInfo._unpickle), not the class:
    psycopg 3 hands out datetimes in the session's zone."""
    import datetime
    import zoneinfo

    when = datetime.datetime(2026, 11, 27, 8, 0, tzinfo=zoneinfo.ZoneInfo("Europe/Paris"))
    decoded = values.resolve_deferred(cbor2.loads(cbor2.dumps(values.to_wire(when)), tag_hook=values.decode_tag))
    assert decoded == when and decoded.tzinfo is when.tzinfo  # (ZoneInfo's cache: the same object)


def test_an_exception_with_read_only_state_of_its_own_is_rebuilt_with_it():
    """psycopg2.Error's pgcode is read-only and comes back through __setstate__."""

    class DriverError(Exception):
        def __init__(self, *args):
            super().__init__(*args)
            self._code = None

        code = property(lambda self: self._code)

        def __reduce__(self):
            return type(self), self.args, {"code": self._code}

        def __setstate__(self, state):
            self._code = state.get("code")

    import types

    holder = types.ModuleType("retrace_test_driver")
    holder.DriverError = DriverError
    DriverError.__module__, DriverError.__qualname__ = "retrace_test_driver", "DriverError"
    error = DriverError("relation does not exist")
    error._code = "42P01"
    raised = values.Raised.capture(error)
    assert raised.attrs["code"] == "42P01"
    sys.modules["retrace_test_driver"] = holder
    try:
        rebuilt = raised.rebuild()
    finally:
        del sys.modules["retrace_test_driver"]
    assert type(rebuilt) is DriverError and rebuilt.code == "42P01" and rebuilt.args == error.args


def test_sweep_finds_aliases_in_globals_class_attributes_and_defaults():
    import time
    import types

    from retrace.bootstrap.install import Installer
    from retrace.boundaries.spec import Family, Patch

    original = time.get_clock_info
    module = types.ModuleType("retrace_test_aliases")
    exec(
        "import time\n"
        "alias = time.get_clock_info\n"
        "def positional(x, clock=time.get_clock_info): return clock\n"
        "def keyword(*, clock=time.get_clock_info): return clock\n"
        "class Holder:\n"
        "    factory = time.get_clock_info\n"
        "    def method(self, clock=time.get_clock_info): return clock\n",
        module.__dict__,
    )
    module.Holder.__module__ = module.__name__
    sys.modules[module.__name__] = module
    installer = Installer(LoggingEngine(), [Family("test", patches=(Patch("time", "get_clock_info", why="test"),))])
    try:
        installer.install()
        replacement = time.get_clock_info
        assert replacement is not original
        assert module.alias is replacement
        assert module.positional(1) is replacement
        assert module.keyword() is replacement
        assert module.Holder.factory is replacement
        assert module.Holder().method() is replacement
    finally:
        installer.uninstall()
        del sys.modules[module.__name__]
    assert time.get_clock_info is original
    assert module.alias is original and module.positional(1) is original and module.keyword() is original
    assert module.Holder.factory is original and module.Holder().method() is original


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


def test_an_insertion_ordered_set_iterates_as_added_whatever_the_addresses():
    import copy

    from retrace.boundaries.orderings import InsertionOrderedSet

    made = [object() for _ in range(50)]
    ordered = InsertionOrderedSet()
    for item in reversed(made):
        ordered.add(item)
    assert list(ordered) == made[::-1] and isinstance(ordered, set) and len(ordered) == 50
    ordered.discard(made[10])
    ordered.remove(made[20])
    assert list(ordered) == [m for m in made[::-1] if m not in (made[10], made[20])]
    assert list(copy.copy(ordered)) == list(ordered) == list(ordered.copy())
    assert ordered.pop() is made[-1]
    extra = object()
    ordered |= {extra}  # set's own operator: iterates after the others
    assert list(ordered)[-1] is extra and made[10] not in ordered
    ordered.add(made[10])  # taken out, then added again: at the end
    assert list(ordered)[-1] is made[10]
    ordered.clear()
    assert list(ordered) == [] and not ordered
    assert type(copy.deepcopy(InsertionOrderedSet([1, 2]))) in (set, InsertionOrderedSet)


@pytest.mark.timeout(30)
def test_a_fork_while_another_thread_works_the_installation_out_does_not_hang_the_child():
    """The recorder's writer thread may be working out where the installation is
    (retrace/installation.py, behind a lock) when the program forks: the child must work
    it out again, not wait for a thread it does not have."""
    import os
    import threading

    from retrace import installation

    saved = installation._roots, installation._ways_in
    installation._roots = None
    inside, go_on = threading.Event(), threading.Event()
    real_find = installation._find

    def slow_find():
        inside.set()
        go_on.wait(10)
        return real_find()

    installation._find = slow_find
    worker = threading.Thread(target=installation.roots)
    worker.start()
    try:
        assert inside.wait(10)
        pid = os.fork()
        if pid == 0:  # the child: the lock's holder is not here
            installation._find = real_find
            os._exit(0 if installation.holds(os.__file__) else 3)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
    finally:
        go_on.set()
        worker.join(10)
        installation._find = real_find
        installation._roots, installation._ways_in = saved


def test_a_frames_key_holds_for_its_own_values_only():
    """The key replay checks at each pass of a switch-out's line (engine/preempt.py): the
    frame's plain locals and container lengths, a NaN left out (its hash is its address)."""
    from retrace.engine.preempt import KeyCheck, frame_key

    def frame_with(count, name, items, ratio):
        return sys._getframe()

    frame = frame_with(7, "seven", [1, 2], float("nan"))
    entries = frame_key(frame)
    assert [entry[0] for entry in entries] == ["count", "name", "items"]
    assert KeyCheck(entries).rest(frame)
    assert KeyCheck(entries).rest(frame_with(7, "seven", [3, 4], 0.5))  # (lengths, not contents)
    for other in (frame_with(8, "seven", [1, 2], 1.0), frame_with(7, "eight", [1, 2], 1.0),
                  frame_with(7, "seven", [1], 1.0), frame_with(7.0, "seven", [1, 2], 1.0)):
        check = KeyCheck(entries)
        assert not check.rest(other)
        assert check.probe in check.entries  # the entry that differed: read first next time


def test_a_divergence_carries_its_report_as_data():
    """What a replay expected and what it got, for tools that read more than the text."""
    import json
    import os

    from retrace.engine.replayer import Replayer
    from retrace.errors import Diverged

    class OneClockRead:
        path, tear = "x", None

        def chunks(self):
            return iter([[{"b": [1, "time.time"]}, {"s": [1, "app.py", 3, "<module>"]}, [1, 1, 1.5]]])

    def stop(error):
        raise error

    getpid = Replayer(OneClockRead(), stop=stop).leaf("os.getpid", os.getpid)
    with pytest.raises(Diverged) as caught:
        getpid()
    report = caught.value.report
    assert str(caught.value) == report.render()
    data = json.loads(json.dumps(report.as_dict()))
    assert data["event"] == 0
    assert data["expected"] == {"boundary": "time.time", "site": {"file": "app.py", "line": 3, "function": "<module>"}}
    assert data["got"]["boundary"] == "os.getpid" and data["got"]["args"] == []
    assert data["got"]["site"]["function"] == "test_a_divergence_carries_its_report_as_data"
