"""Real third-party programs, recorded in a world the test builds, replayed as on another machine.

(Its fixtures, ``world`` and ``sdists``, are tests/conftest.py's: a second conftest.py
would clash with that one, which this imports from.)

A ``World`` is a project folder, a HOME and a TMPDIR of the program's own. The program
records there through the launcher; then the world is deleted (and any server the test
started is stopped), and the recording is replayed twice from somewhere else, with
another HOME, TMPDIR and working directory -- the second time with no network and as
another user (``unshare -n -U``, where the test may create them: conftest.run). stdout, stderr and the exit code must
be byte-identical to the recording's, every time.
"""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from conftest import CAN_UNSHARE_NET, LAUNCHER, Program, Result, _clean_env, assert_same_run, run
from services import free_port  # noqa: F401 (the corpus's tests take it from here)


def wait_for_port(port: int, process: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the server ended before it listened: {process.communicate()}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"nothing listens on port {port}")


class World:
    """The world a real program records in: deleted before it replays."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.world = root / "world"
        self.dir = self.world / "project"
        self.home = self.world / "home"
        # TMPDIR short, under /tmp: a multiprocessing manager binds a Unix socket there,
        # whose path may not be longer than 107 bytes (pytest-xdist's test paths are long).
        self.tmp = Path(tempfile.mkdtemp(prefix="rt-world-"))
        for folder in (self.dir, self.home):
            folder.mkdir(parents=True)
        self.recording = root / "recording"

    write = Program.write  # (a file of the project: relative path, dedented text)

    @property
    def env(self) -> dict:
        return {"HOME": str(self.home), "TMPDIR": str(self.tmp)}

    def record(self, *argv: str, timeout: float = 300) -> Result:
        """``python ARGV...`` recorded in the project folder."""
        return run([LAUNCHER, "--recording", str(self.recording), *argv], cwd=self.dir, env=self.env,
                   timeout=timeout)

    def record_server(self, *argv: str, port: int, clients, stop=signal.SIGTERM, timeout: float = 120) -> Result:
        """A server recorded while ``clients()`` talks to it from outside, then sent ``stop``."""
        server = subprocess.Popen([LAUNCHER, "--recording", str(self.recording), *argv], cwd=self.dir,
                                  env=_clean_env(self.env), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True)
        try:
            wait_for_port(port, server)
            clients()
            time.sleep(0.3)  # (the last access log lines)
            server.send_signal(stop)
            out, err = server.communicate(timeout=timeout)
        finally:
            if server.poll() is None:
                server.kill()
                server.communicate()
        return Result(server.returncode, out, err)

    def processes(self) -> list[str]:
        folder = self.recording / "processes"
        return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []

    def tear_down(self) -> None:
        shutil.rmtree(self.world)
        shutil.rmtree(self.tmp, ignore_errors=True)

    def assert_each_replays_alone(self, timeout: float = 300) -> dict:
        """Every process of the tree replays alone (``--process``), offline, ending as it
        ended when recorded, without a word from retrace. Returns each one's replay."""
        from test_processes import recorded_exit

        alone = {}
        for process in ["0", *self.processes()]:
            replayed = run([LAUNCHER, "--replay", str(self.recording), "--process", process], timeout=timeout,
                           no_network=CAN_UNSHARE_NET)
            assert replayed.returncode == recorded_exit(self.recording, process), (process, replayed.stderr)
            assert "retrace:" not in replayed.stderr, (process, replayed.stderr)
            alone[process] = replayed
        return alone

    def assert_replays(self, recorded: Result, timeout: float = 300) -> None:
        """Twice, each time from another folder with another HOME and TMPDIR; the second
        time with no network, as another user."""
        assert not self.world.exists(), "tear the world down first"
        for attempt, offline in ((1, False), (2, True)):
            elsewhere = self.root / f"elsewhere{attempt}"
            for name in ("home", "tmp", "cwd"):
                (elsewhere / name).mkdir(parents=True)
            env = {"HOME": str(elsewhere / "home"), "TMPDIR": str(elsewhere / "tmp")}
            replayed = run([LAUNCHER, "--replay", str(self.recording)], cwd=elsewhere / "cwd", env=env,
                           timeout=timeout, no_network=offline and CAN_UNSHARE_NET)
            assert_same_run(recorded, replayed)
