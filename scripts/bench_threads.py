#!/usr/bin/env python3
"""Benchmark threads: plain python vs record vs replay, in one run, as ratios.

    .venv/bin/python scripts/bench_threads.py [--runs 5] [--items 20000] [--requests 400] [--out FILE]

Three workloads (issue #4: the cost of deterministic thread scheduling):

- ``threaded program``: 4 threads (2 producers, 2 consumers) passing items
  through a ``queue.Queue``, small computations, a shared ``Lock`` and
  ``time.time()`` calls; wall time of the whole process, plainly with
  ``python``, recorded with ``retrace-python`` and replayed (median of ``--runs``).
- ``CPU threads``: 2 threads computing sums with no boundary call at all, so
  every hand-over between them is a switch-out by time, which replay finds
  again by tracing the running thread to the recorded spot.
- ``threaded HTTP server``: a ``ThreadingHTTPServer`` (a thread per request)
  serving ``--requests`` GETs from a load generator in this process (4 client
  threads, one connection per request) that is not recorded; requests/s seen by
  the clients, plain vs recorded, and the wall time of replaying the recording.

Each replay's stdout and exit code are compared with its recording ("same"
column): a replay that diverged is reported, not hidden. Timing lives here,
never in the test suite.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

PYTHON = sys.executable
LAUNCHER = shutil.which("retrace-python", path=os.path.dirname(sys.executable)) or "retrace-python"
TIMEOUT = 600

THREADED_PROGRAM = """\
import queue, sys, threading, time
ITEMS = int(sys.argv[1])
q = queue.Queue(maxsize=64)
lock = threading.Lock()
totals = {"sum": 0, "stamps": 0, "items": 0}

def producer(k):
    for i in range(ITEMS // 2):
        x = 0
        for j in range(40):           # a small computation
            x += (i * j + k) % 7
        q.put((k, i, x))
        if i % 8 == 0:
            stamp = time.time()
            with lock:
                totals["stamps"] += stamp > 0

def consumer():
    while True:
        item = q.get()
        if item is None:
            return
        with lock:
            totals["sum"] += item[2]
            totals["items"] += 1
        if item[1] % 16 == 0:
            time.time()

producers = [threading.Thread(target=producer, args=(k,)) for k in range(2)]
consumers = [threading.Thread(target=consumer) for _ in range(2)]
for t in producers + consumers:
    t.start()
for t in producers:
    t.join()
for _ in consumers:
    q.put(None)
for t in consumers:
    t.join()
print(totals)
"""

CPU_THREADS = """\
import sys, threading
N = int(sys.argv[1])
totals = [0, 0]

def spin(k):
    s = 0
    for i in range(N):
        s += i * k
    totals[k - 1] = s

threads = [threading.Thread(target=spin, args=(k,)) for k in (1, 2)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print(totals)
"""

HTTP_SERVER = """\
import http.server, json, os, sys
N = int(sys.argv[1])
hits = 0

class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        global hits
        hits += 1
        body = json.dumps({"path": self.path, "token": os.urandom(4).hex(), "hits": hits}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass

class Server(http.server.ThreadingHTTPServer):
    daemon_threads = False   # server_close() joins the handler threads

server = Server(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
for _ in range(N):
    server.handle_request()
server.server_close()
print("served", N, "hits", hits)
"""


def _clean_env() -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RETRACE", "PYTHONHASHSEED", "COV_CORE"))}
    env.pop("PYTHONPATH", None)
    env["no_proxy"] = env["NO_PROXY"] = "*"
    return env


def _run(argv, cwd) -> tuple[float, subprocess.CompletedProcess]:
    start = time.perf_counter()
    proc = subprocess.run(argv, cwd=cwd, env=_clean_env(), capture_output=True, text=True, timeout=TIMEOUT,
                          stdin=subprocess.DEVNULL)
    return time.perf_counter() - start, proc


def _check(proc, what) -> None:
    if proc.returncode != 0:
        raise RuntimeError(f"{what} failed ({proc.returncode}): {proc.stderr[-800:]}")


def summary(plain: list, record: list, replay: list) -> dict:
    """Medians of the three modes' wall times, and their ratios to plain."""
    return {
        "plain_s": statistics.median(plain),
        "record_s": statistics.median(record),
        "replay_s": statistics.median(replay),
        "record_ratio": statistics.median(record) / statistics.median(plain),
        "replay_ratio": statistics.median(replay) / statistics.median(plain),
    }


def threaded_program(runs: int, items: int, workdir: str, name="threaded", text=THREADED_PROGRAM) -> dict:
    script = os.path.join(workdir, f"{name}.py")
    with open(script, "w") as handle:
        handle.write(text)
    plain, record, replay, sizes, same = [], [], [], [], []
    for index in range(runs):
        took, proc = _run([PYTHON, script, str(items)], workdir)
        _check(proc, "plain run")
        plain.append(took)
        rec = os.path.join(workdir, f"{name}{index}")
        took, recorded = _run([LAUNCHER, "--recording", rec, script, str(items)], workdir)
        _check(recorded, "recording")
        record.append(took)
        took, replayed = _run([LAUNCHER, "--replay", rec], workdir)
        replay.append(took)
        same.append((replayed.returncode, replayed.stdout) == (recorded.returncode, recorded.stdout))
        sizes.append(os.path.getsize(os.path.join(rec, "trace.bin")))
        shutil.rmtree(rec)
    return {
        "items": items,
        **summary(plain, record, replay),
        "plain_spread_s": max(plain) - min(plain),
        "trace_bytes": statistics.median(sizes),
        "replays_same": sum(same),
        "runs": runs,
    }


def _load(port: int, requests: int, clients: int) -> float:
    """Issue ``requests`` GETs from ``clients`` threads; seconds from start to the last answer."""
    errors: list[BaseException] = []
    gate = threading.Barrier(clients + 1)

    def client(count):
        gate.wait(30)
        for i in range(count):
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            try:
                conn.request("GET", f"/item/{i}")
                response = conn.getresponse()
                json.loads(response.read())
                if response.status != 200:
                    raise RuntimeError(f"status {response.status}")
            except Exception as exc:  # noqa: BLE001 - reported below
                errors.append(exc)
                return
            finally:
                conn.close()

    shares = [requests // clients + (1 if k < requests % clients else 0) for k in range(clients)]
    threads = [threading.Thread(target=client, args=(share,), daemon=True) for share in shares]
    for thread in threads:
        thread.start()
    gate.wait(30)
    start = time.perf_counter()
    for thread in threads:
        thread.join(TIMEOUT)
    elapsed = time.perf_counter() - start
    if errors or any(thread.is_alive() for thread in threads):
        raise RuntimeError(f"load generator failed: {errors[:3]!r}")
    return elapsed


def _serve(argv, cwd, requests: int, clients: int) -> tuple[float, str, int]:
    """Start a server program, load it; (seconds under load, its stdout, its exit code)."""
    proc = subprocess.Popen(argv, cwd=cwd, env=_clean_env(), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        first = proc.stdout.readline()
        if not first:
            raise RuntimeError(f"server printed nothing: {proc.stderr.read()[-800:]}")
        elapsed = _load(int(first), requests, clients)
        out, err = proc.communicate(timeout=TIMEOUT)
    except BaseException:
        proc.kill()
        proc.communicate()
        raise
    if proc.returncode != 0:
        raise RuntimeError(f"server failed ({proc.returncode}): {err[-800:]}")
    return elapsed, first + out, proc.returncode


def threaded_server(runs: int, requests: int, clients: int, workdir: str) -> dict:
    script = os.path.join(workdir, "server.py")
    with open(script, "w") as handle:
        handle.write(HTTP_SERVER)
    plain, record, replay, same = [], [], [], []
    for index in range(runs):
        plain.append(_serve([PYTHON, script, str(requests)], workdir, requests, clients)[0])
        rec = os.path.join(workdir, f"server{index}")
        took, out, code = _serve([LAUNCHER, "--recording", rec, script, str(requests)], workdir, requests, clients)
        record.append(took)
        took, replayed = _run([LAUNCHER, "--replay", rec], workdir)
        replay.append(took)
        same.append((replayed.returncode, replayed.stdout) == (code, out))
        shutil.rmtree(rec)
    plain_rps = requests / statistics.median(plain)
    record_rps = requests / statistics.median(record)
    return {
        "requests": requests,
        "clients": clients,
        "plain_rps": plain_rps,
        "record_rps": record_rps,
        "record_throughput_ratio": record_rps / plain_rps,
        "plain_load_s": statistics.median(plain),
        "record_load_s": statistics.median(record),
        "replay_s": statistics.median(replay),
        "replays_same": sum(same),
        "runs": runs,
    }


def _print_program(title: str, result: dict, runs: int) -> None:
    print(title)
    print(f"{'':<10}{'plain s':>9}{'record s':>10}{'replay s':>10}{'rec/plain':>11}{'rep/plain':>11}"
          f"{'trace KiB':>11}{'same':>7}")
    print(f"{'':<10}{result['plain_s']:>9.3f}{result['record_s']:>10.3f}{result['replay_s']:>10.3f}"
          f"{result['record_ratio']:>11.2f}{result['replay_ratio']:>11.2f}{result['trace_bytes'] / 1024:>11.1f}"
          f"{result['replays_same']:>4}/{runs}")
    print()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--items", type=int, default=100_000, help="items passed through the queue")
    parser.add_argument("--spins", type=int, default=3_000_000, help="loop passes of each CPU thread")
    parser.add_argument("--requests", type=int, default=1000, help="HTTP requests per run")
    parser.add_argument("--clients", type=int, default=4, help="load generator threads")
    parser.add_argument("--out", default=None, help="also write the results as JSON to this file")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="retrace-bench-threads-") as workdir:
        program = threaded_program(args.runs, args.items, workdir)
        cpu = threaded_program(args.runs, args.spins, workdir, "cpu", CPU_THREADS)
        server = threaded_server(args.runs, args.requests, args.clients, workdir)

    if args.out:
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        payload = {"python": sys.version.split()[0], "runs": args.runs, "machine": os.uname().machine,
                   "cpus": os.cpu_count(), "threaded_program": program, "cpu_threads": cpu,
                   "threaded_server": server}
        with open(args.out, "w") as handle:
            json.dump(payload, handle, indent=2)

    _print_program(f"threaded program: 4 threads, {args.items} queue items (wall time of the whole process)",
                   program, args.runs)
    _print_program(f"CPU threads: 2 threads, {args.spins} loop passes each, no boundary call (switch-outs by time)",
                   cpu, args.runs)
    print(f"threaded HTTP server: {args.requests} requests from {args.clients} unrecorded client threads")
    print(f"{'':<10}{'plain r/s':>10}{'record r/s':>11}{'rec/plain':>11}{'plain s':>9}{'record s':>10}"
          f"{'replay s':>10}{'same':>7}")
    print(f"{'':<10}{server['plain_rps']:>10.0f}{server['record_rps']:>11.0f}"
          f"{server['record_throughput_ratio']:>11.2f}{server['plain_load_s']:>9.3f}{server['record_load_s']:>10.3f}"
          f"{server['replay_s']:>10.3f}{server['replays_same']:>4}/{args.runs}")
    print(f"(median of {args.runs} runs; 'same' = replays whose stdout and exit code equal the recording's"
          + (f"; results in {args.out})" if args.out else ")"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
