#!/usr/bin/env python3
"""Benchmark: plain python vs record vs replay, in one run, as ratios.

    .venv/bin/python scripts/bench.py [--runs 5] [--out bench-results/latest.json]

Each workload is a small program run as a whole process (wall time, median of
``--runs``): plainly with ``python``, recorded with ``retrace-python``, and
replayed. Per-call costs subtract the same program's run with zero calls, so
start-up does not count. Timing lives here, never in the test suite.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

PYTHON = sys.executable
LAUNCHER = shutil.which("retrace-python", path=os.path.dirname(sys.executable)) or "retrace-python"

WORKLOADS = {
    "startup": ("pass", 0),
    "time.time": ("import time\nt = time.time\nfor _ in range({n}):\n    t()\n", 200_000),
    "file read": (
        "import os\np = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'data.txt')\n"
        "for _ in range({n}):\n    with open(p) as f:\n        f.read()\n",
        20_000,
    ),
    "pure compute": (
        "def work(n):\n    total = 0\n    for i in range(n):\n        total += i * i % 7\n    return total\n"
        "work({n})\n",
        5_000_000,
    ),
}


INPROCESS_COMPUTE = """\
import time
def work(n):
    total = 0
    for i in range(n):
        total += i * i % 7
    return total
best = None
for _ in range(7):
    start = time.perf_counter()
    work(1_000_000)
    elapsed = time.perf_counter() - start
    best = elapsed if best is None else min(best, elapsed)
print(best)
"""


def inprocess_compute(runs: int, workdir: str) -> dict:
    """Compute timed inside the process (best of 7 loops), plain vs recorded.

    Whole-process timings of a compute program move by several percent with
    nothing but how the interpreter was started (runpy vs a script); timing the
    loop itself shows what recording costs pure Python code. Replay is not
    measured this way: its clock readings are the recorded ones.
    """
    script = os.path.join(workdir, "compute_inprocess.py")
    with open(script, "w") as handle:
        handle.write(INPROCESS_COMPUTE)
    plain, record = [], []
    for index in range(runs):
        out = subprocess.run([PYTHON, script], env=_clean_env(), capture_output=True, text=True, check=True)
        plain.append(float(out.stdout))
        rec = os.path.join(workdir, f"inproc{index}")
        out = subprocess.run([LAUNCHER, "--recording", rec, script], env=_clean_env(), capture_output=True,
                             text=True, check=True)
        record.append(float(out.stdout))
        shutil.rmtree(rec)
    return {"plain_loop_s": min(plain), "record_loop_s": min(record), "record_ratio": min(record) / min(plain)}


def _clean_env() -> dict:
    return {k: v for k, v in os.environ.items() if not k.startswith(("RETRACE", "PYTHONHASHSEED"))}


def _timed(argv, cwd) -> float:
    start = time.perf_counter()
    proc = subprocess.run(argv, cwd=cwd, env=_clean_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"{argv} failed: {proc.stderr.decode()[-500:]}")
    return elapsed


def measure(source: str, n: int, runs: int, workdir: str) -> dict:
    script = os.path.join(workdir, "prog.py")
    with open(script, "w") as handle:
        handle.write(source.format(n=n))
    with open(os.path.join(workdir, "data.txt"), "w") as handle:
        handle.write("x" * 200)
    plain, record, replay, sizes, events = [], [], [], [], []
    for index in range(runs):
        plain.append(_timed([PYTHON, script], workdir))
        rec = os.path.join(workdir, f"rec{index}")
        record.append(_timed([LAUNCHER, "--recording", rec, script], workdir))
        replay.append(_timed([LAUNCHER, "--replay", rec], workdir))
        sizes.append(os.path.getsize(os.path.join(rec, "trace.bin")))
        shutil.rmtree(rec)
    return {
        "plain": statistics.median(plain),
        "record": statistics.median(record),
        "replay": statistics.median(replay),
        "plain_spread": max(plain) - min(plain),
        "trace_bytes": statistics.median(sizes),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--out", default="bench-results/latest.json")
    args = parser.parse_args()

    results = {}
    with tempfile.TemporaryDirectory(prefix="retrace-bench-") as workdir:
        for name, (source, n) in WORKLOADS.items():
            full = measure(source, n, args.runs, workdir)
            row = dict(full, calls=n)
            if n and name != "pure compute":
                empty = measure(source, 0, args.runs, workdir)
                per_call = lambda mode: (full[mode] - empty[mode]) / n * 1e6  # noqa: E731
                row["plain_us_per_call"] = per_call("plain")
                row["record_added_us_per_call"] = per_call("record") - per_call("plain")
                row["replay_us_per_call"] = per_call("replay")
                row["bytes_per_call"] = (full["trace_bytes"] - empty["trace_bytes"]) / n
            results[name] = row
        loop = inprocess_compute(args.runs, workdir)

    start = results["startup"]
    compute = results["pure compute"]
    compute["record_ratio_without_startup"] = (compute["record"] - start["record"]) / (compute["plain"] - start["plain"])
    compute["replay_ratio_without_startup"] = (compute["replay"] - start["replay"]) / (compute["plain"] - start["plain"])

    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    payload = {"python": sys.version.split()[0], "runs": args.runs, "machine": os.uname().machine,
               "cpus": os.cpu_count(), "results": results, "compute_in_process": loop}
    with open(args.out, "w") as handle:
        json.dump(payload, handle, indent=2)

    print(f"{'workload':<14}{'plain s':>9}{'record s':>10}{'replay s':>10}{'rec/plain':>11}{'rep/plain':>11}"
          f"{'+rec us/call':>14}{'rep us/call':>13}{'B/call':>8}")
    for name, row in results.items():
        extra = ""
        if "record_added_us_per_call" in row:
            extra = (f"{row['record_added_us_per_call']:>14.2f}{row['replay_us_per_call']:>13.2f}"
                     f"{row['bytes_per_call']:>8.1f}")
        print(f"{name:<14}{row['plain']:>9.3f}{row['record']:>10.3f}{row['replay']:>10.3f}"
              f"{row['record'] / row['plain']:>11.2f}{row['replay'] / row['plain']:>11.2f}{extra}")
    print(f"pure compute timed in-process (best loop): record {loop['record_ratio']:.3f}x plain")
    print(f"pure compute without start-up: record {compute['record_ratio_without_startup']:.3f}x, "
          f"replay {compute['replay_ratio_without_startup']:.3f}x plain")
    print(f"(median of {args.runs} runs; results in {args.out})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
