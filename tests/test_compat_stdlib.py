"""Rows of the compatibility matrix (tests/compat_matrix.py) that need no service:
libraries that read the world in their own ways, command-line apps with prompts."""

from __future__ import annotations

import pytest

from conftest import assert_same_run
from threadsupport import record_and_replay

READERS = """
    import getpass, locale, logging, os, tempfile, time
    from datetime import datetime
    from zoneinfo import ZoneInfo

    logging.basicConfig(level=logging.INFO, format="%(asctime)s.%(msecs)03d %(levelname)s %(message)s")
    logging.info("starting in %s", os.getcwd())
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as handle:
        handle.write("scratch")
    print("temp", os.path.basename(handle.name), open(handle.name).read())
    os.unlink(handle.name)
    directory = tempfile.mkdtemp()
    print("mkdtemp", os.path.isdir(directory), len(os.path.basename(directory)))
    os.rmdir(directory)
    print("zone", datetime.now(ZoneInfo("Asia/Tokyo")).isoformat(), datetime.now(ZoneInfo("UTC")).tzname())
    print("locale", locale.setlocale(locale.LC_ALL, ""), locale.getlocale(), locale.getpreferredencoding(False))
    print("user", getpass.getuser())
    logging.warning("done at %.3f", time.time())
"""


@pytest.mark.compat("stdlib-readers")
def test_logging_tempfile_zoneinfo_locale_getpass(program):
    app = program(READERS)
    recorded, _ = record_and_replay(app, env={"LC_ALL": "C.UTF-8", "USER": "recorded-user"})
    assert "user recorded-user" in recorded.stdout and " INFO starting in " in recorded.stderr
    # another machine: another user, locale and temp dir; the replay must not see them
    replayed = app.replay(env={"LC_ALL": "C", "USER": "someone-else", "TMPDIR": "/nonexistent"})
    assert_same_run(recorded, replayed)


CLICK_APP = """
    import click, time

    @click.command()
    @click.option("--count", default=2)
    @click.option("--name", prompt="Your name")
    def hello(count, name):
        secret = click.prompt("Pick a number", type=int)
        if click.confirm("Shout?"):
            name = name.upper()
        for _ in range(count):
            click.echo(f"Hello {name} {secret * 2} {time.time() > 0}")

    hello()
"""

TYPER_APP = """
    import typer

    def main(city: str = typer.Option(..., prompt=True), days: int = 1):
        answer = typer.prompt("Units", default="metric")
        typer.echo(f"{city} for {days} days in {answer}")
        raise typer.Exit(3 if city == "Nowhere" else 0)

    typer.run(main)
"""


@pytest.mark.compat("cli-prompts")
@pytest.mark.parametrize("source, args, stdin, code", [
    (CLICK_APP, ["--count", "3"], "Ada\n21\ny\n", 0),
    (TYPER_APP, ["--days", "5"], "Nowhere\n\n", 3),
], ids=["click", "typer"])
def test_command_line_apps_with_prompts(program, source, args, stdin, code):
    app = program(source)
    recorded = app.record(*args, stdin=stdin)
    assert recorded.returncode == code, recorded.stderr
    replayed = app.replay(stdin="")  # the answers come from the recording
    assert_same_run(recorded, replayed)


EXAMPLE_TESTS = """
    import os, random, time

    def test_passes():
        assert time.time() > 0

    def test_fails():
        value = random.random()
        print("captured output", os.urandom(2).hex())
        assert value > 2, f"value was {value}"

    def test_uses_tmp_path(tmp_path):
        (tmp_path / "x.txt").write_text("hello")
        assert (tmp_path / "x.txt").read_text() == "hello"
"""


EXAMPLE_CONFTEST = """
    import pytest

    def pytest_report_header(config):
        return "example plugin: loaded"

    @pytest.fixture
    def token():
        import uuid
        return uuid.uuid4().hex
"""


@pytest.mark.compat("pytest")
def test_recording_a_pytest_run_with_a_failing_test(program):
    """pytest under recording: its report, the failure's captured output, a plugin
    (conftest.py) and a fixture, then a second run that reads the cache the first one
    wrote (--lf). Each replays with the cache and pytest's temporary directories gone."""
    import shutil

    app = program(EXAMPLE_TESTS + "\n    def test_token(token):\n        assert len(token) == 32\n",
                  name="test_example.py")
    app.write("conftest.py", EXAMPLE_CONFTEST)
    recorded = app.record(python_args=["-m", "pytest", "-p", "no:randomly", "--basetemp", "pytest-tmp"])
    assert recorded.returncode == 1, recorded.stdout + recorded.stderr
    assert "1 failed, 3 passed" in recorded.stdout and "example plugin: loaded" in recorded.stdout
    assert "captured output" in recorded.stdout and "value was" in recorded.stdout
    cache = app.dir / ".pytest_cache"
    assert (cache / "v" / "cache" / "lastfailed").exists()
    shutil.rmtree(app.dir / "pytest-tmp")
    moved = app.root / "cache-of-the-first-run"
    cache.rename(moved)
    assert_same_run(recorded, app.replay(timeout=60))

    # The second run reads the cache: only the failed test runs again.
    moved.rename(cache)
    shutil.rmtree(app.recording)
    again = app.record(python_args=["-m", "pytest", "-p", "no:randomly", "--lf"])
    assert again.returncode == 1 and "run-last-failure: rerun previous 1 failure" in again.stdout, again.stdout
    assert "1 failed, 3 deselected" in again.stdout
    shutil.rmtree(cache)
    assert_same_run(again, app.replay(timeout=60))
