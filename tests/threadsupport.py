"""Helpers for the threaded end-to-end tests (tests/test_threads.py).

Everything here runs through the real launcher (``conftest.Program`` and
``netsupport.Recording``). A replay that hangs fails the test through a
subprocess timeout instead of hanging the run; load-generating clients are
threads of the test process, joined before a helper returns.
"""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import threading
import time

import pytest

from conftest import PYTHON, Result, assert_same_run, run
from netsupport import Recording


def _trace_items(app):
    """The items of the root's trace, in order."""
    from retrace.trace.reader import TraceReader

    for items in TraceReader(str(app.recording / "trace.bin")).chunks():
        yield from items


def recorded_switch_outs(app) -> int:
    """How many switch-outs by time (``{"p": spot}`` items) the recording holds."""
    return sum(1 for item in _trace_items(app) if type(item) is dict and "p" in item)


def recorded_collections_before_hand_overs(app) -> int:
    """How many collections (``{"g": ...}`` items) the trace notes directly before a
    switch-out by time or a hand-over."""
    found, previous = 0, None
    for item in _trace_items(app):
        if type(previous) is dict and "g" in previous and (type(item) is int or type(item) is dict and "p" in item):
            found += 1
        previous = item
    return found


def stress_count() -> int:
    """How many record+replay rounds a stress test makes (RETRACE_STRESS_COUNT, default 3)."""
    return max(1, int(os.environ.get("RETRACE_STRESS_COUNT", "3")))


def use_recording(app, name: str) -> None:
    """Point ``app`` at a fresh recording directory (several recordings of one program)."""
    app.recording = app.root / name


def record_ok(app, *args, timeout: float = 60, code: int = 0, **kwargs) -> Result:
    """Record; the program must exit with ``code`` within ``timeout``."""
    try:
        recorded = app.record(*args, timeout=timeout, **kwargs)
    except subprocess.TimeoutExpired:
        pytest.fail(f"recording did not finish within {timeout} s (hung?)")
    assert recorded.returncode == code, recorded.stderr
    return recorded


def replay_ok(app, *, timeout: float = 60, **kwargs) -> Result:
    """Replay; a replay that does not end within ``timeout`` fails the test."""
    try:
        return app.replay(timeout=timeout, **kwargs)
    except subprocess.TimeoutExpired:
        pytest.fail(f"replay did not finish within {timeout} s: it must end or diverge (exit 86), never hang")


def record_and_replay(app, *args, **kwargs) -> tuple[Result, Result]:
    """Record (must exit 0), replay, and check the replay is the same run."""
    recorded = record_ok(app, *args, **kwargs)
    replayed = replay_ok(app)
    assert_same_run(recorded, replayed)
    return recorded, replayed


def plain(app, *args, timeout: float = 60) -> Result:
    """Run the program with python directly (no launcher, no retrace)."""
    return run([PYTHON, str(app.script), *args], cwd=app.dir, timeout=timeout)


def plain_outputs(app, runs: int, *args) -> list[str]:
    outputs = []
    for _ in range(runs):
        result = plain(app, *args)
        assert result.returncode == 0, result.stderr
        outputs.append(result.stdout)
    return outputs


class LoadError(AssertionError):
    pass


def load(port: int, paths: list[str], *, clients: int = 4, timeout: float = 10) -> list[tuple[int, dict]]:
    """GET every path from ``clients`` threads at once (one connection per request).

    Returns ``(status, json body)`` per path, in the order of ``paths``. Raises
    LoadError if any request failed; every client thread is joined first.
    """
    results: list = [None] * len(paths)
    errors: list[BaseException] = []
    start = threading.Barrier(clients)

    def client(indices):
        try:
            start.wait(timeout)
        except threading.BrokenBarrierError as exc:
            errors.append(exc)
            return
        for index in indices:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
            try:
                conn.request("GET", paths[index], headers={"Connection": "close"})
                response = conn.getresponse()
                results[index] = (response.status, json.loads(response.read()))
            except Exception as exc:  # noqa: BLE001 - reported below
                errors.append(exc)
            finally:
                conn.close()

    threads = [threading.Thread(target=client, args=(range(k, len(paths), clients),), daemon=True)
               for k in range(clients)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + timeout * (len(paths) + 2)
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    if any(thread.is_alive() for thread in threads):
        raise LoadError("client threads did not finish")
    if errors:
        raise LoadError(f"{len(errors)} requests failed: {errors[:3]!r}")
    return results


def serve_under_load(app, paths: list[str], *args: str, clients: int = 4, timeout: float = 60):
    """Record ``app`` (a server printing its port first, then serving ``len(paths)``
    requests and exiting) while the test process loads it from ``clients`` threads.

    Returns ``(Result of the recording, responses)``. The recorded process is
    killed if the load fails, so a broken server never outlives the test.
    """
    recording = Recording(app, *args)
    try:
        port = int(recording.first_line)
        responses = load(port, paths, clients=clients)
    except BaseException:
        recording.proc.kill()
        recording.proc.communicate()
        raise
    code, out, err = recording.finish(timeout=timeout)
    return Result(code, out, err), responses
