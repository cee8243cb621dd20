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
        2_000_000,
    ),
}


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

    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    payload = {"python": sys.version.split()[0], "runs": args.runs, "machine": os.uname().machine,
               "cpus": os.cpu_count(), "results": results}
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
    print(f"(median of {args.runs} runs; results in {args.out})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
