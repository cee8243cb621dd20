"""Clocks replay with time moved on: the recorded values come back."""

import time

from conftest import PYTHON, assert_same_run, run


def test_clocks_and_datetime_replay_recorded_values(program):
    app = program("""
        import time, datetime
        from time import time as now
        print(time.time(), now(), time.monotonic(), time.perf_counter_ns())
        time.sleep(0.3)
        print(time.ctime(), time.strftime("%H:%M:%S"), time.localtime().tm_sec)
        print(datetime.datetime.now(), datetime.date.today(), datetime.datetime.utcnow())
        print(datetime.datetime.now(datetime.timezone.utc).isoformat())
        print(isinstance(datetime.datetime(2020, 1, 1), datetime.datetime))
    """)
    recorded = app.record()
    assert recorded.returncode == 0, recorded.stderr
    time.sleep(1.1)  # every clock has moved on before replay
    started = time.monotonic()
    replayed = app.replay()
    assert time.monotonic() - started < 5
    assert_same_run(recorded, replayed)
    again = app.replay()
    assert_same_run(recorded, again)


def test_datetime_objects_print_as_with_plain_python(program):
    source = """
        import datetime, pickle
        class Mine(datetime.date):
            pass
        values = [datetime.date(2024, 2, 29), datetime.datetime(2024, 2, 29, 12, 30),
                  datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc), Mine(2024, 1, 2),
                  datetime.datetime.min]
        print(values, [str(v) for v in values])
        print(pickle.loads(pickle.dumps(values)) == values, isinstance(datetime.datetime.min, datetime.datetime))
        print(type(datetime.date.today()).__name__, repr(datetime.datetime.now())[:18])
    """
    app = program(source)
    plain = run([PYTHON, str(app.script)], cwd=app.dir)
    recorded = app.record()
    assert recorded.returncode == 0, recorded.stderr
    assert recorded.stdout.splitlines()[:2] == plain.stdout.splitlines()[:2]
    assert recorded.stdout.splitlines()[2] == "date datetime.datetime("
    assert_same_run(recorded, app.replay())


METACLASS_SUBCLASS = """
    from datetime import date, datetime

    class Meta(type):
        pass

    class ConstrainedDate(date, metaclass=Meta):   # as pydantic.v1 declares it
        pass

    class Stamp(datetime):
        pass

    class Registered:
        def __init_subclass__(cls, name=None, func=None, **kwargs):
            cls.registered_as = (name, func)

    class Plugin(Registered, name="plugin", func="f"):  # class keywords, as psycopg's declare
        pass

    value = ConstrainedDate(2020, 1, 2)
    print(isinstance(value, date), type(value).__mro__[1].__name__, isinstance(datetime(2020, 1, 1).date(), date))
    print(date.today(), Stamp.now(), type(Stamp.now()).__name__, Plugin.registered_as)
"""


def test_a_date_subclass_with_a_metaclass_of_its_own_is_made(program):
    """A subclass declaring a metaclass of its own (pydantic.v1) is made as without retrace,
    and the recorded clock reaches subclasses (Stamp.now(), date.today())."""
    app = program(METACLASS_SUBCLASS)
    recorded = app.record()
    assert recorded.returncode == 0, recorded.stderr
    assert recorded.stdout.splitlines()[0] == "True date True"
    assert_same_run(recorded, app.replay())


def test_the_stdlib_classes_keep_their_identity(program):
    """The clock is recorded inside datetime's own classes, never by swapping in others:
    C code keyed on the exact type (orjson, msgpack, pandas' C subclasses, yaml's
    representers) sees what it sees without retrace, and so does the program."""
    source = """
        import datetime, _datetime, json
        now = datetime.datetime.now()
        print(type(now) is datetime.datetime is _datetime.datetime, type(datetime.date.today()) is datetime.date)
        print(datetime.datetime.today().__class__ is datetime.datetime, datetime.datetime.now.__name__)
        class Stamp(datetime.datetime):
            pass
        print(type(Stamp.now()).__name__, type(Stamp.today()).__name__, type(Stamp.utcnow()).__name__)
        print(now.isoformat(), datetime.datetime.now(datetime.timezone(datetime.timedelta(hours=5))).isoformat())
        try:
            datetime.datetime.now("UTC")
        except TypeError as exc:
            print("TypeError", exc)
    """
    app = program(source)
    plain = run([PYTHON, str(app.script)], cwd=app.dir)
    recorded = app.record()
    assert recorded.returncode == 0, recorded.stderr
    assert recorded.stdout.splitlines()[:3] == plain.stdout.splitlines()[:3] == [
        "True True", "True now", "Stamp Stamp Stamp"]
    assert recorded.stdout.splitlines()[-1] == plain.stdout.splitlines()[-1]
    time.sleep(0.01)
    assert_same_run(recorded, app.replay())
