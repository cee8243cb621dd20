#!/usr/bin/env python3
"""Benchmark process trees: plain python vs record vs replay, in one run, as ratios.

    .venv/bin/python scripts/bench_processes.py [--runs 5] [--tasks 2000] [--children 10] [--out FILE]

Workloads (issue #5: the cost of recording every process of a tree):

- ``pool fork`` / ``pool spawn``: a ``multiprocessing.Pool(4)`` mapping ``--tasks``
  small computations (each reads the clock and a random number), under the fork
  and the spawn start method: every worker is a recorded process.
- ``pool printing``: the same pool (fork) whose tasks each print a line to the
  stdout the workers share with their parent (flushed): the cost of recording the
  tree's output order, and of replaying in it (engine/outputorder.py).
- ``python children``: ``--children`` runs of ``subprocess.run([sys.executable,
  child.py])``, one after another: the cost of starting a recorded interpreter.

Wall time of the whole tree (median of ``--runs``); each replay's stdout and exit
code are compared with its recording ("same" column). Timing lives here, never
in the test suite.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_threads import LAUNCHER, PYTHON, _check, _run, summary  # noqa: E402  (same-directory script)

POOL = """\
import multiprocessing as mp, random, sys, time

def task(i):
    x = 0
    for j in range(200):
        x += (i * j) % 7
    return x + (time.time() > 0) + (random.random() < 2)

if __name__ == "__main__":
    with mp.get_context(sys.argv[1]).Pool(4) as pool:
        print(sum(pool.map(task, range(int(sys.argv[2])), chunksize=16)))
"""

PRINTING = """\
import multiprocessing as mp, sys

def task(i):
    print("task", i, "line", i * 7, flush=True)
    return i

if __name__ == "__main__":
    with mp.get_context("fork").Pool(4) as pool:
        print(sum(pool.map(task, range(int(sys.argv[1])), chunksize=16)))
"""

PARENT = """\
import subprocess, sys
outputs = [subprocess.run([sys.executable, "child.py", str(i)], capture_output=True, text=True).stdout
           for i in range(int(sys.argv[1]))]
print(len(outputs), sum(len(o) for o in outputs))
"""

CHILD = """\
import random, sys, time
print(sys.argv[1], random.random(), time.time())
"""


def measure(name: str, argv: list[str], runs: int, workdir: str) -> dict:
    plain, record, replay, same, processes = [], [], [], [], []
    for index in range(runs):
        took, proc = _run([PYTHON, *argv], workdir)
        _check(proc, f"{name}: plain run")
        plain.append(took)
        rec = os.path.join(workdir, f"rec{index}")
        took, recorded = _run([LAUNCHER, "--recording", rec, *argv], workdir)
        _check(recorded, f"{name}: recording")
        record.append(took)
        took, replayed = _run([LAUNCHER, "--replay", rec], workdir)
        replay.append(took)
        same.append((replayed.returncode, replayed.stdout) == (recorded.returncode, recorded.stdout))
        children = os.path.join(rec, "processes")
        processes.append(1 + (len(os.listdir(children)) if os.path.isdir(children) else 0))
        shutil.rmtree(rec)
    return {
        "name": name,
        **summary(plain, record, replay),
        "processes": statistics.median(processes),
        "replays_same": sum(same),
        "runs": runs,
    }


def run_all(runs: int, tasks: int, children: int, workdir: str) -> list[dict]:
    for name, text in (("pool.py", POOL), ("printing.py", PRINTING), ("parent.py", PARENT), ("child.py", CHILD)):
        with open(os.path.join(workdir, name), "w") as handle:
            handle.write(text)
    return [
        measure("pool fork", ["pool.py", "fork", str(tasks)], runs, workdir),
        measure("pool spawn", ["pool.py", "spawn", str(tasks)], runs, workdir),
        measure("pool printing", ["printing.py", str(tasks)], runs, workdir),
        measure("python children", ["parent.py", str(children)], runs, workdir),
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--tasks", type=int, default=2000, help="pool tasks per run")
    parser.add_argument("--children", type=int, default=10, help="Python children per run")
    parser.add_argument("--out", default=None, help="also write the results as JSON to this file")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="retrace-bench-processes-") as workdir:
        results = run_all(args.runs, args.tasks, args.children, workdir)

    if args.out:
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        with open(args.out, "w") as handle:
            json.dump({"python": sys.version.split()[0], "cpus": os.cpu_count(), "results": results}, handle, indent=2)

    print(f"{'workload':<18}{'procs':>6}{'plain s':>9}{'record s':>10}{'replay s':>10}{'rec/plain':>11}"
          f"{'rep/plain':>11}{'same':>7}")
    for row in results:
        print(f"{row['name']:<18}{row['processes']:>6.0f}{row['plain_s']:>9.3f}{row['record_s']:>10.3f}"
              f"{row['replay_s']:>10.3f}{row['record_ratio']:>11.2f}{row['replay_ratio']:>11.2f}"
              f"{row['replays_same']:>4}/{args.runs}")
    print(f"(median of {args.runs} runs; {args.tasks} pool tasks, {args.children} Python children; "
          "'same' = replays whose stdout and exit code equal the recording's)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
