"""Shared fixtures: run programs through the real, installed ``retrace-python``.

End-to-end tests write a small program into ``tmp_path``, record it in a
subprocess through the launcher, change the world, replay it (inside a network
namespace with no interfaces when we may create one), and compare.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

# Started as a background job of a shell, this process ignores SIGINT, and so would every
# program a test starts (an ignored signal stays ignored across exec): the Ctrl-C tests
# would fail. A handler is reset to the default at exec instead.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

LAUNCHER = shutil.which("retrace-python", path=os.path.dirname(sys.executable)) or shutil.which("retrace-python")
PYTHON = sys.executable


def _can_unshare_net() -> bool:
    unshare = shutil.which("unshare")
    if not unshare or os.geteuid() != 0:
        return False
    try:
        return subprocess.run([unshare, "-n", "true"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


CAN_UNSHARE_NET = _can_unshare_net()

# A replay with no network also runs as another user (uid and gid 12345 in a user
# namespace: the files it reads stay readable, the ids the process has are not the
# recording's), where unshare can map one.
ANOTHER_USER = ["-U", "--map-user=12345", "--map-group=12345"]
if not CAN_UNSHARE_NET or subprocess.run(["unshare", "-n", *ANOTHER_USER, "true"], capture_output=True,
                                         timeout=10).returncode != 0:
    ANOTHER_USER = []


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str

    @property
    def output(self) -> tuple[int, str, str]:
        return self.returncode, self.stdout, self.stderr


def _clean_env(extra: dict | None = None) -> dict:
    """This environment for a program under test: none of retrace's variables, and no
    secret of the machine's (a CI token would be sealed, and every replay would say so)."""
    from retrace.sealing import find_secrets, secret_name

    env = {k: v for k, v in os.environ.items() if not k.startswith(("RETRACE", "PYTHONHASHSEED", "COV_CORE"))
           and not secret_name(k) and not find_secrets(v)}
    env.pop("PYTHONPATH", None)
    if extra:
        env.update(extra)
    return env


def needs(module: str) -> None:
    """Skip unless ``module`` is installed (found, not imported: the test process stays clean)."""
    import importlib.util

    if importlib.util.find_spec(module) is None:
        pytest.skip(f"{module} is not installed")


_ELSEWHERE: list = []  # this test process's "other machine" (removed at its exit)


def elsewhere() -> Path:
    """A HOME, TMPDIR and working directory that the recording never saw."""
    if not _ELSEWHERE:
        import atexit
        import tempfile

        root = Path(tempfile.mkdtemp(prefix="retrace-elsewhere-"))
        for name in ("home", "tmp", "cwd"):
            (root / name).mkdir()
        atexit.register(shutil.rmtree, root, True)
        _ELSEWHERE.append(root)
    return _ELSEWHERE[0]


def run(argv: list[str], *, cwd=None, env=None, stdin: str | None = None, timeout: float = 60,
        no_network: bool = False) -> Result:
    """``argv`` in the test's environment; a replay (``--replay``) as on another machine:
    another HOME and TMPDIR (and working directory) unless the test gives its own; with
    ``no_network``, in a network namespace of its own and as another user."""
    if argv and argv[0] is None:  # (LAUNCHER: not installed where this python is)
        pytest.skip("retrace-python is not installed next to this interpreter: bash scripts/test.sh installs it")
    if "--replay" in argv:
        other = elsewhere()
        env = {"HOME": str(other / "home"), "TMPDIR": str(other / "tmp"), **(env or {})}
        cwd = cwd or other / "cwd"
    if no_network and CAN_UNSHARE_NET:
        argv = ["unshare", "-n", *ANOTHER_USER, *argv]
    proc = subprocess.run(
        argv, cwd=cwd, env=_clean_env(env), input=stdin if stdin is not None else "",
        capture_output=True, text=True, timeout=timeout,
    )
    return Result(proc.returncode, proc.stdout, proc.stderr)


class Program:
    """A program in a temp dir, recorded and replayed through the launcher."""

    def __init__(self, root: Path, source: str, name: str = "app.py") -> None:
        self.root = root
        self.dir = root / "project"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.script = self.dir / name
        self.script.write_text(textwrap.dedent(source))
        self.recording = root / "recording"

    def write(self, relpath: str, text: str) -> Path:
        path = self.dir / relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
        return path

    def record(self, *args: str, python_args=(), env=None, stdin=None, timeout=60) -> Result:
        return run(
            [LAUNCHER, "--recording", str(self.recording), *python_args, str(self.script), *args],
            cwd=self.dir, env=env, stdin=stdin, timeout=timeout,
        )

    def replay(self, *, cwd=None, env=None, timeout=60, stdin: str | None = None,
               process: str | None = None) -> Result:
        """The whole recorded process tree, or one ``process`` of it alone, as on another
        machine: another HOME, TMPDIR and working directory (unless the test gives its own),
        and no network."""
        alone = [] if process is None else ["--process", process]
        elsewhere = self.root / "elsewhere"
        for name in ("home", "tmp", "cwd"):
            (elsewhere / name).mkdir(parents=True, exist_ok=True)
        env = {"HOME": str(elsewhere / "home"), "TMPDIR": str(elsewhere / "tmp"), **(env or {})}
        return run([LAUNCHER, "--replay", str(self.recording), *alone], cwd=cwd or (elsewhere / "cwd"), env=env,
                   stdin=stdin, timeout=timeout, no_network=True)


@pytest.fixture(autouse=True)
def _launcher_installed(request):
    """A test that runs the launcher skips, with one reason, where it is not installed
    (``pip install .`` into this interpreter's environment puts it there)."""
    if LAUNCHER is None and ({"program", "world"} & set(request.fixturenames)
                             or "LAUNCHER" in vars(request.module)):
        pytest.skip("retrace-python is not installed next to this interpreter: bash scripts/test.sh installs it")


@pytest.fixture
def program(tmp_path):
    """``program(source)`` -> Program; the temp dir is removed by pytest's tmp_path."""

    def make(source: str, name: str = "app.py") -> Program:
        return Program(tmp_path, source, name)

    return make


# -- the real-programs corpus (tests/realworld/) ------------------------------------------
@pytest.fixture
def world(tmp_path):
    """A real program's world (tests/realworld/worlds.py)."""
    from realworld.worlds import World

    made = World(tmp_path)
    yield made
    shutil.rmtree(made.tmp, ignore_errors=True)  # (outside tmp_path: tests/realworld/worlds.py)


@pytest.fixture(scope="session")
def sdists(tmp_path_factory):
    """``sdists(name, version)``: the source distribution from PyPI, unpacked; its path."""
    cache = tmp_path_factory.mktemp("sdists")

    def fetch(name: str, version: str) -> Path:
        unpacked = cache / f"{name}-{version}"
        if not unpacked.is_dir():
            done = subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--no-binary", ":all:",
                                   "-d", str(cache), f"{name}=={version}"], capture_output=True, text=True,
                                  timeout=300)
            assert done.returncode == 0, done.stderr
            archive = next(cache.glob(f"{name.replace('-', '_')}-{version}.tar.gz"), None) or next(
                cache.glob(f"{name}-{version}.tar.gz"))
            shutil.unpack_archive(archive, cache)
        return unpacked

    return fetch


def make_tree(root):
    """A small directory tree under ``root``: files of known sizes, a subfolder, a symlink."""
    tree = root / "tree"
    (tree / "sub" / "deeper").mkdir(parents=True)
    (tree / "a.txt").write_text("a" * 10)
    (tree / "sub" / "b.txt").write_text("b" * 20)
    (tree / "sub" / "deeper" / "c.txt").write_text("c")
    (tree / "data.bin").write_bytes(b"\x00" * 7)
    (tree / "link").symlink_to("sub")
    return tree


def assert_same_run(recorded: Result, replayed: Result) -> None:
    assert replayed.returncode == recorded.returncode, (recorded.stderr, replayed.stderr)
    assert replayed.stdout == recorded.stdout
    assert replayed.stderr == recorded.stderr


# -- the compatibility matrix (tests/compat_matrix.py) ------------------------------------
_compat_results: dict = {}


def pytest_configure(config):
    config.addinivalue_line("markers", "compat(row): a row of the compatibility matrix (tests/compat_matrix.py)")


def pytest_runtest_logreport(report):
    marker = dict(report.user_properties).get("compat_row")  # (user_properties cross from xdist's workers)
    if marker is None:
        return
    if report.when == "call" or (report.when == "setup" and report.outcome != "passed"):
        if hasattr(report, "wasxfail"):
            outcome, reason = ("xfailed", report.wasxfail) if report.outcome == "skipped" else ("failed", "")
        elif report.outcome == "skipped":
            outcome, reason = "skipped", str(report.longrepr[-1]) if isinstance(report.longrepr, tuple) else ""
        else:
            outcome, reason = report.outcome, ""
        _compat_results.setdefault(marker, []).append((outcome, reason))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    marker = item.get_closest_marker("compat")
    if marker is not None:
        outcome.get_result().user_properties.append(("compat_row", marker.args[0]))


def pytest_collection_modifyitems(session, config, items):
    session.compat_expected = {item.get_closest_marker("compat").args[0] for item in items
                               if item.get_closest_marker("compat") is not None}


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error):
    """pytest-xdist's controller collects nothing itself: the rows come from its workers."""
    _compat_expected_by_workers.update(node.workeroutput.get("compat_expected", ()))


_compat_expected_by_workers: set = set()


def pytest_sessionfinish(session, exitstatus):
    """When every row's tests ran: the matrix they make must be docs/compatibility.md
    (judged where the reports of every test arrive: xdist's controller, or the one process)."""
    import compat_matrix

    expected = getattr(session, "compat_expected", set())
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:  # an xdist worker: its collection goes to the controller
        workeroutput["compat_expected"] = sorted(expected)
        return
    expected = expected or _compat_expected_by_workers
    if not expected or set(_compat_results) != expected or not _all_rows_with_tests_collected(session):
        return
    path = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), compat_matrix.DOC)
    try:
        with open(path) as handle:
            current = handle.read()
    except OSError:
        current = None
    text = compat_matrix.render(_compat_results, current)
    if os.environ.get("RETRACE_WRITE_COMPAT"):
        with open(path, "w") as handle:
            handle.write(text)
        return
    if current != text:
        session.config.pluginmanager.get_plugin("terminalreporter").write_line(
            f"{compat_matrix.DOC} is stale (the compatibility tests say otherwise): "
            "run the suite with RETRACE_WRITE_COMPAT=1 and commit it", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def _all_rows_with_tests_collected(session) -> bool:
    """Only a run of the whole suite judges the matrix (not `-k`, not one file)."""
    return not session.config.option.keyword and not session.config.option.markexpr and \
        len(session.config.args) <= 1 and all(not arg.endswith(".py") and "::" not in arg
                                              for arg in session.config.args)
