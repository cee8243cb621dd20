"""Real database and broker servers the compatibility rows start themselves.

Each server runs from the machine's own binaries (Debian's packages, installed by
``.ci/run`` when missing), in a temporary directory, on a free loopback port; the test
stops it (by its pid) before the replay and removes its data. Never a service the
machine happens to run.
"""

from __future__ import annotations

import glob
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import pytest


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_for_port(port: int, process: subprocess.Popen, log: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"server did not start: {open(log).read()[-2000:]}") from None
            time.sleep(0.05)


def _stop(process: subprocess.Popen, sig: int = signal.SIGTERM) -> None:
    if process.poll() is None:
        process.send_signal(sig)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _as_service_user(user: str, directory: str) -> dict:
    """Popen arguments: servers that refuse to run as root (PostgreSQL) run as their
    package's user, owning their temporary directory (the pid is the server's own)."""
    if os.geteuid() != 0:
        return {}
    shutil.chown(directory, user, user)
    return {"user": user, "group": user, "extra_groups": []}


POSTGRES_PASSWORD = "pg-Secr3t-4711"


class _Server:
    """A server process of ours: its temporary directory, its port, its log."""

    stop_signal = signal.SIGTERM

    def __init__(self, name: str) -> None:
        self.dir = tempfile.mkdtemp(prefix=f"retrace-{name}-")
        self.port = free_port()
        self.process: subprocess.Popen | None = None

    def _run(self, argv: list[str], **popen):
        log = os.path.join(self.dir, "server.log")
        with open(log, "w") as out:
            self.process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, cwd=self.dir, **popen)
        _wait_for_port(self.port, self.process, log)
        return self

    def stop(self) -> None:
        if self.process is not None:
            _stop(self.process, self.stop_signal)
            self.process = None

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


class Postgres(_Server):
    """``initdb`` + ``postgres`` on a free port, trusting local connections (or, given a
    ``password``, asking for it: SCRAM)."""

    stop_signal = signal.SIGINT  # "fast" shutdown

    def __init__(self, password: str | None = None) -> None:
        self.password = password
        found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
        bindir = os.path.dirname(found[-1]) if found else None
        if bindir is None and shutil.which("initdb"):
            bindir = os.path.dirname(os.path.realpath(shutil.which("initdb")))
        if bindir is None:
            pytest.skip("PostgreSQL's server is not installed (.ci/run installs Debian's postgresql)")
        self.bindir = bindir
        super().__init__("pg")

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def start(self) -> "Postgres":
        os.chmod(self.dir, 0o700)
        as_user = _as_service_user("postgres", self.dir)
        data = os.path.join(self.dir, "data")
        auth = ["-A", "trust"]
        if self.password is not None:
            password_file = os.path.join(self.dir, "password")
            with open(password_file, "w") as handle:
                handle.write(self.password + "\n")
            if as_user:
                shutil.chown(password_file, "postgres", "postgres")
            auth = ["-A", "scram-sha-256", f"--pwfile={password_file}"]
        subprocess.run([f"{self.bindir}/initdb", "-D", data, "-U", "postgres", *auth, "--no-sync",
                        "-E", "UTF8", "--locale", "C"], check=True, capture_output=True, cwd=self.dir, **as_user)
        return self._run([f"{self.bindir}/postgres", "-D", data, "-p", str(self.port), "-h", "127.0.0.1",
                          "-k", self.dir, "-c", "fsync=off"], **as_user)


class Redis(_Server):
    """``redis-server`` on a free port, no persistence."""

    def __init__(self) -> None:
        self.binary = shutil.which("redis-server") or (
            "/usr/bin/redis-server" if os.path.exists("/usr/bin/redis-server") else None)
        if self.binary is None:
            pytest.skip("redis-server is not installed (.ci/run installs Debian's redis-server)")
        super().__init__("redis")

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> "Redis":
        return self._run([self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                          "--appendonly", "no", "--dir", self.dir])


def _serving(server_class, **options):
    server = server_class(**options).start()
    try:
        yield server
    finally:
        server.remove()


@pytest.fixture
def postgres():
    yield from _serving(Postgres)


@pytest.fixture
def postgres_with_password():
    """A server that asks for the password ``POSTGRES_PASSWORD`` (tests/services.py)."""
    yield from _serving(Postgres, password=POSTGRES_PASSWORD)


@pytest.fixture
def redis_server():
    yield from _serving(Redis)
