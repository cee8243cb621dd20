"""Signals replay: handlers run at the recorded point, with no real signal or timer.

The recorded process gets its signals from its own timers (alarm, setitimer) or
from the test (os.kill by pid, at random moments); the replay gets none, yet
prints the handler's output at the same place: inside an interrupted sleep, or
at the same pass of a pure computation (the handler prints the loop counter).
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import time

import pytest
from conftest import LAUNCHER, PYTHON, Result, _clean_env, assert_same_run, run

from retrace.trace.model import Ending, Event, iter_events
from retrace.trace.reader import TraceReader


# -- helpers: a recording the test sends signals to --------------------------------------
class Running:
    """A recording in progress, its output going to files (read them any time)."""

    def __init__(self, app, *args: str) -> None:
        self.app = app
        self.out_path = app.root / "record.out"
        self.err_path = app.root / "record.err"
        with open(self.out_path, "w") as out, open(self.err_path, "w") as err:
            self.proc = subprocess.Popen(
                [LAUNCHER, "--recording", str(app.recording), str(app.script), *args], cwd=app.dir,
                env=_clean_env(), stdin=subprocess.DEVNULL, stdout=out, stderr=err)

    def output(self) -> str:
        return self.out_path.read_text()

    def wait_for(self, text: str, timeout: float = 10) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.output():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"no {text!r} in the recording's output: {self.output()!r} "
                                     f"{self.err_path.read_text()!r}")
            time.sleep(0.005)

    def send(self, signum) -> None:
        os.kill(self.proc.pid, signum)  # the launcher exec'd into the recorded program

    def finish(self, timeout: float = 10) -> Result:
        try:
            self.proc.wait(timeout=timeout)
        finally:
            self.stop()
        return Result(self.proc.returncode, self.output(), self.err_path.read_text())

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def trace(app) -> tuple[list[Event], Ending | None]:
    items = list(iter_events(TraceReader(str(app.recording / "trace.bin"))))
    return ([i for i in items if isinstance(i, Event)], next((i for i in items if isinstance(i, Ending)), None))


def deliveries(app) -> list:
    return [event.value for event in trace(app)[0] if event.boundary == "signal.deliver"]


def replay_twice(app, recorded: Result) -> Result:
    replayed = app.replay()
    assert_same_run(recorded, replayed)
    assert_same_run(recorded, app.replay())
    return replayed


# -- timers of the program's own ----------------------------------------------------------
TIMERS = """
import signal, time
ticks = 0
def on_alarm(signum, frame):
    global ticks
    ticks += 1
    print(f"tick {ticks} {signal.Signals(signum).name} at {time.time()} in {frame.f_code.co_name}:"
          f"{frame.f_lineno} n={frame.f_locals.get('n')}", flush=True)

print("previous:", signal.signal(signal.SIGALRM, on_alarm))
print("alarm:", signal.alarm(1), signal.alarm(0), signal.getitimer(signal.ITIMER_REAL))
signal.setitimer(signal.ITIMER_REAL, 0.03, 0.02)
sleeps = 0
while ticks < 3:
    time.sleep(0.005)
    sleeps += 1
print("sleeps:", sleeps, flush=True)

def crunch():
    n = 0
    while ticks < 6:
        n += 1
        sum(range(300))
    return n

print("crunched:", crunch(), flush=True)
print("cancelled:", signal.setitimer(signal.ITIMER_REAL, 0)[1])
"""


def test_alarm_and_setitimer_handlers_run_at_the_same_point_in_sleeps_and_computation(program):
    app = program(TIMERS)
    recorded = app.record()
    assert recorded.returncode == 0, recorded.stderr
    assert recorded.stdout.startswith("previous: 0\nalarm: 0 1 (0.0, 0.0)\n")
    ticks = [line for line in recorded.stdout.splitlines() if line.startswith("tick")]
    assert len(ticks) == 6
    assert all(" in <module>:1" in line and "n=None" in line for line in ticks[:3])  # in the sleeping loop
    assert all(" in crunch:" in line and "n=None" not in line for line in ticks[3:])  # mid-computation
    # Where the ticks land depends on timing: another recording differs.
    other = program(TIMERS)
    other.recording = app.root / "other-recording"
    assert other.record().stdout != recorded.stdout

    started = time.monotonic()
    replay_twice(app, recorded)
    assert time.monotonic() - started < 8
    kinds = [len(value) for value in deliveries(app)]
    assert kinds[:3] == [1, 1, 1] and kinds[3:] == [6, 6, 6]  # in a boundary call / between calls


def test_an_alarm_without_handler_kills_the_recording_and_the_replay(program):
    app = program("""
        import signal, time
        print("default:", signal.getsignal(signal.SIGALRM))
        signal.alarm(1)
        while True:
            print(time.time(), flush=True)
            time.sleep(0.1)
    """)
    recorded = app.record()
    assert recorded.returncode == -signal.SIGALRM and recorded.stdout.startswith("default: 0\n")
    assert trace(app)[1].how == "signal"
    replayed = app.replay()
    assert replayed.returncode == -signal.SIGALRM, replayed.stderr
    assert replayed.stdout == recorded.stdout
    assert "killed by SIGALRM" in replayed.stderr


# -- signals from the outside world ---------------------------------------------------------
# One write per line: CPython may run a handler between the writes of one print(a, b)
# call, a point inside a C function that replay cannot stop at (a known limit).
USR1 = """
import signal, sys, time
def on_usr1(signum, frame):
    sys.stdout.write(f"  USR1 in line {frame.f_lineno} at pass {i}, clock {time.time()}\\n")
signal.signal(signal.SIGUSR1, on_usr1)
print("ready", flush=True)
i = 0
while i < 50:
    sys.stdout.write(f"{i} {time.time()}\\n")
    sys.stdout.flush()
    time.sleep(0.01)
    i += 1
"""


def _record_usr1(app, window: tuple[float, float]) -> Result:
    running = Running(app)
    try:
        running.wait_for("ready")
        started = time.monotonic()
        for sent, moment in enumerate(sorted(random.uniform(*window) for _ in range(4)), 1):
            time.sleep(max(0.0, started + moment - time.monotonic()))
            running.send(signal.SIGUSR1)
            # Two signals pending at once are one delivery (as without retrace): wait
            # until this one was handled before sending the next.
            deadline = time.monotonic() + 10
            while running.output().count("USR1") < sent and time.monotonic() < deadline:
                time.sleep(0.001)
        return running.finish()
    finally:
        running.stop()


def test_usr1_sent_at_random_moments_replays_where_it_was_handled(program):
    early = program(USR1)
    recorded = _record_usr1(early, (0.02, 0.06))
    assert recorded.returncode == 0, recorded.stderr
    assert recorded.stdout.count("USR1") == 4
    replay_twice(early, recorded)

    late = program(USR1)
    late.recording = early.root / "late-recording"
    recorded_late = _record_usr1(late, (0.15, 0.25))
    assert recorded_late.stdout.count("USR1") == 4

    def passes(result):
        return [line.split(" at pass ")[1].split(",")[0] for line in result.stdout.splitlines() if "USR1" in line]

    assert passes(recorded) != passes(recorded_late)  # the handler's place comes from the recording
    replay_twice(late, recorded_late)


CTRL_C = """
import time
print("ready", flush=True)
sleeps = 0
try:
    while True:
        time.sleep(0.01)
        sleeps += 1
except KeyboardInterrupt:
    print("Ctrl-C caught after", sleeps, "sleeps", flush=True)
n = 0
values = list(range(200))
while True:  # the second Ctrl-C comes in the middle of a computation, uncaught
    n += 1
    total = sum(values)
"""


def test_ctrl_c_caught_in_a_sleep_then_uncaught_in_a_computation(program):
    app = program(CTRL_C)
    running = Running(app)
    try:
        running.wait_for("ready")
        time.sleep(random.uniform(0.05, 0.15))
        running.send(signal.SIGINT)
        running.wait_for("Ctrl-C caught")
        time.sleep(random.uniform(0.05, 0.1))
        running.send(signal.SIGINT)
        recorded = running.finish()
    finally:
        running.stop()
    assert recorded.returncode == -signal.SIGINT  # as python: dies of SIGINT after the traceback
    assert recorded.stderr.startswith("Traceback") and recorded.stderr.endswith("KeyboardInterrupt\n")
    assert "retrace" not in recorded.stderr
    replay_twice(app, recorded)
    assert [len(v) for v in deliveries(app)] == [1, 6]  # in the sleep; between boundary calls


def test_ctrl_c_of_a_server_blocked_in_accept(program):
    app = program("""
        import socket, time
        server = socket.create_server(("127.0.0.1", 0))
        print("ready", flush=True)
        try:
            server.accept()
        except KeyboardInterrupt:
            print("stopped at", time.time(), flush=True)
        server.close()
    """)
    running = Running(app)
    try:
        running.wait_for("ready")
        time.sleep(0.1)
        running.send(signal.SIGINT)
        recorded = running.finish()
    finally:
        running.stop()
    assert recorded.returncode == 0 and "stopped at" in recorded.stdout, recorded.stderr
    replay_twice(app, recorded)


def test_asyncio_add_signal_handler(program):
    """The event loop's wake-up descriptor and its no-op handler: the callback runs at the
    same loop iteration on replay."""
    app = program("""
        import asyncio, signal, sys, time

        async def main():
            loop = asyncio.get_running_loop()
            stop = asyncio.Event()
            got = []

            def on_usr1():
                got.append(time.time())
                sys.stdout.write(f"usr1 #{len(got)} at {got[-1]} after {ticks} ticks\\n")
                if len(got) == 3:
                    stop.set()

            loop.add_signal_handler(signal.SIGUSR1, on_usr1)
            print("ready", flush=True)
            ticks = 0
            while not stop.is_set():
                await asyncio.sleep(0.01)
                ticks += 1
            print("ticks", ticks)

        asyncio.run(main())
    """)
    running = Running(app)
    try:
        running.wait_for("ready")
        for _ in range(3):
            time.sleep(random.uniform(0.02, 0.08))
            running.send(signal.SIGUSR1)
        recorded = running.finish()
    finally:
        running.stop()
    assert recorded.returncode == 0 and recorded.stdout.count("usr1 #") == 3, recorded.stderr
    replay_twice(app, recorded)


TERM = """
import signal, sys, time
print("before:", signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGHUP))
def on_term(signum, frame):
    print(f"cleaning up after {count} passes at {time.time()}", flush=True)
    sys.exit(3)
signal.signal(signal.SIGTERM, on_term)
print("ready", flush=True)
count = 0
while True:
    count += 1
    time.sleep(0.01)
"""


def test_sigterm_with_a_handler_of_the_program(program):
    app = program(TERM)
    running = Running(app)
    try:
        running.wait_for("ready")
        time.sleep(random.uniform(0.05, 0.2))
        running.send(signal.SIGTERM)
        recorded = running.finish()
    finally:
        running.stop()
    # The recorder's own SIGTERM/SIGHUP flush stays invisible: the program sees SIG_DFL.
    assert recorded.stdout.startswith("before: 0 0\nready\ncleaning up after ")
    assert recorded.returncode == 3, recorded.stderr
    assert trace(app)[1].how == "exit"  # the program's handler ran instead of the flush
    replay_twice(app, recorded)


def test_sigterm_back_to_default_still_flushes_the_recording(program):
    app = program("""
        import signal, time
        signal.signal(signal.SIGTERM, lambda signum, frame: print("never"))
        print("restored:", signal.signal(signal.SIGTERM, signal.SIG_DFL) is not None, signal.getsignal(signal.SIGTERM))
        print("ready", flush=True)
        while True:
            print(time.time(), flush=True)
            time.sleep(0.01)
    """)
    running = Running(app)
    try:
        running.wait_for("ready")
        time.sleep(0.1)
        running.send(signal.SIGTERM)
        recorded = running.finish()
    finally:
        running.stop()
    assert recorded.returncode == -signal.SIGTERM
    assert recorded.stdout.startswith("restored: True 0\n")
    ending = trace(app)[1]
    assert (ending.how, ending.status) == ("signal", -signal.SIGTERM)
    replayed = app.replay()
    assert replayed.returncode == -signal.SIGTERM
    assert replayed.stdout.startswith(recorded.stdout)


# -- handlers that raise ----------------------------------------------------------------------
def test_a_sleep_interrupted_by_a_handler_that_raises(program):
    app = program("""
        import signal, time, traceback

        class Deadline(Exception):
            def __init__(self, what, when):
                super().__init__(what)
                self.when = when

        def on_alarm(signum, frame):
            raise Deadline("too slow", time.time())

        signal.signal(signal.SIGALRM, on_alarm)
        signal.setitimer(signal.ITIMER_REAL, 0.05)
        started = time.monotonic()
        try:
            time.sleep(30)
        except Deadline as exc:
            print("interrupted:", exc, exc.when, time.monotonic() - started < 5)
            traceback.print_exc()

        signal.setitimer(signal.ITIMER_REAL, 0.05)
        n = 0
        values = list(range(100))
        try:
            while True:
                n += 1
                sum(values)
        except Deadline as exc:  # raised between boundary calls, in the computation
            print("computation interrupted:", exc, n > 0)
            traceback.print_exc()
        signal.setitimer(signal.ITIMER_REAL, 0.05)
        time.sleep(30)  # uncaught this time
    """)
    recorded = app.record()
    assert recorded.returncode == 1
    assert "interrupted: too slow" in recorded.stdout and "True" in recorded.stdout
    assert "computation interrupted: too slow True" in recorded.stdout
    assert recorded.stderr.count("Traceback") == 3 and recorded.stderr.endswith("Deadline: too slow\n")
    started = time.monotonic()
    replay_twice(app, recorded)
    assert time.monotonic() - started < 10  # no 30-second sleep on replay


def test_what_an_exception_from_a_handler_kept_alive_is_freed_when_it_is_caught(program):
    """subprocess.run interrupted by Ctrl-C: the Popen, kept by the traceback's frames, is
    freed (its __del__ polls the child) as the exception is dropped, in both runs."""
    app = program("""
        import signal, time

        class Child:
            def __del__(self):
                print("freed", time.monotonic() > 0)

        def on_alarm(signum, frame):
            raise KeyboardInterrupt

        def run():
            child = Child()
            time.sleep(30)

        signal.signal(signal.SIGALRM, on_alarm)
        signal.setitimer(signal.ITIMER_REAL, 0.05)
        try:
            run()
        except KeyboardInterrupt:
            print("caught")
        print("after")
    """)
    recorded = app.record()
    assert recorded.output == (0, "caught\nfreed True\nafter\n", "")
    replay_twice(app, recorded)


# -- what the program sees, and no real signals on replay ------------------------------------
def test_getsignal_signal_and_self_sent_signals_as_without_retrace(program):
    source = """
        import os, signal
        print(signal.getsignal(signal.SIGINT) is signal.default_int_handler,
              signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGUSR1), signal.getsignal(signal.SIGPIPE))
        seen = []
        def handler(signum, frame):
            seen.append(signal.Signals(signum).name)
        print(signal.signal(signal.SIGUSR2, handler), signal.getsignal(signal.SIGUSR2) is handler)
        print(signal.signal(signal.SIGUSR2, signal.SIG_IGN) is handler, signal.getsignal(signal.SIGUSR2))
        for bad in (signal.SIGKILL, 999):
            try:
                signal.signal(bad, handler)
            except (OSError, ValueError) as exc:
                print(type(exc).__name__, exc)
        try:
            signal.signal(signal.SIGUSR2, "nonsense")
        except TypeError as exc:
            print("TypeError", exc)
        signal.signal(signal.SIGUSR1, handler)
        signal.signal(signal.SIGALRM, handler)
        signal.raise_signal(signal.SIGUSR1)
        os.kill(os.getpid(), signal.SIGUSR1)
        signal.alarm(1)
        signal.pause()  # a second while recording; none on replay
        print("seen:", seen)
        print("mask:", sorted(signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGUSR2])))
        signal.raise_signal(signal.SIGUSR2)  # blocked (and ignored): nothing happens
        print("pending:", sorted(signal.sigpending()))
        signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGUSR2])
        signal.signal(signal.SIGHUP, signal.SIG_DFL)
        signal.raise_signal(signal.SIGHUP)  # the default action: dies of it
        print("not reached")
    """
    app = program(source)
    plain = run([PYTHON, str(app.script)], cwd=app.dir)
    recorded = app.record()
    assert recorded.output == plain.output  # retrace's own handlers are invisible
    assert recorded.returncode == -signal.SIGHUP
    assert "seen: ['SIGUSR1', 'SIGUSR1', 'SIGALRM']" in recorded.stdout
    started = time.monotonic()
    replayed = app.replay()
    assert time.monotonic() - started < 0.9  # pause() did not wait for a real alarm
    assert replayed.output == recorded.output  # dies of SIGHUP too, quietly


def test_replay_ignores_real_signals_for_handled_numbers(program):
    """Replay takes deliveries from the recording only: a real signal sent to the replaying
    process neither runs the program's handler nor kills it."""
    app = program("""
        import signal
        signal.signal(signal.SIGUSR1, lambda signum, frame: print("handler ran"))
        print("ready", flush=True)
        total = sum(range(30_000_000))  # as long on replay: a real signal arrives meanwhile
        print("done", total)
    """)
    recorded = app.record()
    assert recorded.stdout == "ready\ndone 449999985000000\n", recorded.stderr
    proc = subprocess.Popen([LAUNCHER, "--replay", str(app.recording)], cwd=app.root, env=_clean_env(),
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline() == "ready\n"
        proc.send_signal(signal.SIGUSR1)
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert (proc.returncode, "ready\n" + out, err) == recorded.output



# -- signals in threaded programs ------------------------------------------------------------
THREADED_SIGNALS = """
import signal, sys, threading, time
log = []
stop = threading.Event()

def on_usr1(signum, frame):
    print("USR1 with", len(log), "entries", flush=True)

signal.signal(signal.SIGUSR1, on_usr1)

def worker(k):
    while not stop.is_set():
        log.append((k, time.time()))
        time.sleep(0.002)

workers = [threading.Thread(target=worker, args=(k,)) for k in range(2)]
for t in workers:
    t.start()
print("ready", flush=True)
try:
    if sys.argv[1] == "sleep":
        while True:
            time.sleep(0.01)
    else:
        workers[0].join()  # waits for a thread that only stops when told to
except KeyboardInterrupt:
    print("Ctrl-C with", len(log), "entries", flush=True)
stop.set()
for t in workers:
    t.join()
print("done", len(log), "entries")
"""


@pytest.mark.parametrize("main_waits_in", ["sleep", "join"])
def test_handlers_in_a_threaded_program_run_in_order_with_the_other_threads(program, main_waits_in):
    """The main thread runs handlers while the workers run: while it sleeps (a boundary
    call, without the baton) or waits in join (parked by the scheduler)."""
    app = program(THREADED_SIGNALS)
    running = Running(app, main_waits_in)
    try:
        running.wait_for("ready")
        for pause in (0.05, 0.03):
            time.sleep(random.uniform(pause, 2 * pause))
            running.send(signal.SIGUSR1)
        running.wait_for("entries\nUSR1")
        time.sleep(random.uniform(0.02, 0.05))
        running.send(signal.SIGINT)
        recorded = running.finish()
    finally:
        running.stop()
    assert recorded.returncode == 0, recorded.stderr
    assert recorded.stdout.count("USR1 with") == 2 and "Ctrl-C with" in recorded.stdout
    replay_twice(app, recorded)
