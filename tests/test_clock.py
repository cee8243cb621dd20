"""Clocks replay with time moved on: the recorded values come back."""

import time

from conftest import assert_same_run


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
