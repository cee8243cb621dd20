"""The programs people run every day, replayed byte-identical with their world gone.

Each case builds the world a real program needs (a project, its inputs, a server
outside the recording), records the program through the launcher, tears the world
down, and replays it twice as on another machine (tests/realworld/conftest.py).
The programs are real releases from PyPI, pinned in tests/constraints.txt.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import threading
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from worlds import free_port

from conftest import needs

pytestmark = pytest.mark.realworld

UNFORMATTED = """\
import os
x = [1,2,
 3]
def f( a ):
  return a
"""


def test_pytest_runs_a_librarys_own_suite_from_its_sdist(world, sdists):
    """six's own tests, from its source distribution, run by pytest in the unpacked tree."""
    needs("pytest")
    shutil.copytree(sdists("six", "1.17.0"), world.dir, dirs_exist_ok=True)
    recorded = world.record("-m", "pytest", "-q", "-p", "no:cacheprovider", "test_six.py")
    assert recorded.returncode == 0, recorded.stdout + recorded.stderr
    assert " passed" in recorded.stdout
    world.tear_down()
    world.assert_replays(recorded)


def test_pytest_runs_more_itertools_suite_with_threads_and_subtests(world, sdists):
    """more-itertools' own tests from its sdist: 765 tests and 21,194 subtests, some of
    them racing threads over shared closures (serialize, synchronized); pytest's capture
    redirects descriptors 1 and 2 while each runs."""
    needs("pytest")
    shutil.copytree(sdists("more_itertools", "11.2.1"), world.dir, dirs_exist_ok=True)
    recorded = world.record("-m", "pytest", "-q", "-p", "no:cacheprovider", "tests", timeout=600)
    assert recorded.returncode == 0, recorded.stdout[-2000:] + recorded.stderr
    assert "765 passed, 21194 subtests passed" in recorded.stdout
    world.tear_down()
    world.assert_replays(recorded, timeout=600)


def test_pip_installs_a_wheel_and_compiles_it(world):
    """pip installs six's wheel into a folder: unpacks it, writes its RECORD, and compiles
    the modules it installed with compileall (importlib's own file access, for pip)."""
    fetched = subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary", ":all:",
                              "-d", str(world.dir), "six==1.17.0"], capture_output=True, text=True, timeout=300)
    assert fetched.returncode == 0, fetched.stderr
    wheel = next(world.dir.glob("six-1.17.0-*.whl")).name
    recorded = world.record("-m", "pip", "install", "--no-index", "--no-deps", "--no-cache-dir",
                            "--disable-pip-version-check", "--target", "installed", wheel)
    assert recorded.returncode == 0, recorded.stdout + recorded.stderr
    assert "Successfully installed six-1.17.0" in recorded.stdout
    assert list((world.dir / "installed" / "__pycache__").glob("six.*.pyc")), "pip compiled nothing"
    world.tear_down()
    world.assert_replays(recorded)


def test_black_formats_with_a_process_pool(world):
    """black checks six files in two worker processes, which print the diffs."""
    needs("black")
    for i in range(6):
        world.write(f"src/m{i}.py", UNFORMATTED)
    recorded = world.record("-m", "black", "--diff", "--check", "-W", "2", "src")
    assert recorded.returncode == 1, recorded.stderr
    assert recorded.stdout.count("+++ ") == 6 and "6 files would be reformatted" in recorded.stderr
    assert len(world.processes()) >= 2, "black used no worker processes"
    world.tear_down()
    world.assert_replays(recorded)


def test_flake8_lints_with_jobs(world):
    needs("flake8")
    for i in range(6):
        world.write(f"src/m{i}.py", UNFORMATTED)
    recorded = world.record("-m", "flake8", "-j", "2", "src")
    assert recorded.returncode == 1, recorded.stderr
    assert recorded.stdout.count("F401 'os' imported but unused") == 6
    assert len(world.processes()) >= 2, "flake8 used no worker processes"
    world.tear_down()
    world.assert_replays(recorded)


def test_sphinx_builds_html_in_parallel(world):
    needs("sphinx")
    names = [chr(ord("a") + i) for i in range(12)]
    world.write("docs/conf.py", 'project = "corpus"\nextensions = []\n')
    world.write("docs/index.rst", "Corpus\n======\n\n.. toctree::\n\n" + "".join(f"   {n}\n" for n in names))
    for name in names:
        world.write(f"docs/{name}.rst", f"Page {name}\n=======\n\nText *{name}* ``code`` and a :ref:`genindex`.\n")
    recorded = world.record("-m", "sphinx", "-j", "2", "-b", "html", "docs", "out")
    assert recorded.returncode == 0, recorded.stderr
    assert "build succeeded" in recorded.stdout
    assert len(world.processes()) >= 2, "sphinx read no documents in parallel"
    world.tear_down()
    world.assert_replays(recorded)


TYPED = """\
from typing import Iterable


def total(values: Iterable[int]) -> str:
    return sum(values)


print(total(["a", "b"]))
"""


def test_mypy_checks_a_package(world):
    """mypy (compiled with mypyc; its parser is Rust, reading files by name) on a package,
    with its cache in the project folder: four errors, exit 1."""
    needs("mypy")
    world.write("pkg/__init__.py", "")
    world.write("pkg/typed.py", TYPED)
    world.write("pkg/other.py", "from pkg.typed import total\n\nVALUE: int = total([1, 2])\n")
    recorded = world.record("-m", "mypy", "pkg")
    assert recorded.returncode == 1, recorded.stdout + recorded.stderr
    assert "Found 4 errors in 2 files" in recorded.stdout, recorded.stdout
    world.tear_down()
    world.assert_replays(recorded)


class _Echo(BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps({"path": self.path, "agent": self.headers.get("User-Agent", "")[:6]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_httpie_against_a_local_server(world):
    """httpie's `http` command against a server that is stopped before the replay."""
    needs("httpie")
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/items?q=1"
        recorded = world.record("-m", "httpie", "--print=HBhb", "--pretty=format", "GET", url, "X-Test:yes")
    finally:
        server.shutdown()
        server.server_close()
    assert recorded.returncode == 0, recorded.stderr
    assert '"path": "/items?q=1"' in recorded.stdout
    world.tear_down()
    world.assert_replays(recorded)


WSGI_APP = """\
import os, time

def app(environ, start_response):
    body = f"{environ['PATH_INFO']} {environ.get('QUERY_STRING')} worker {os.getpid()} at {time.time():.3f}\\n".encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
"""


def _get_items(port: int, count: int = 6) -> list[bytes]:
    answers = []
    for i in range(count):
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/item/{i}?q={i * 7}", timeout=30) as answer:
            answers.append(answer.read())
    return answers


def test_gunicorn_with_two_workers_under_a_client_then_sigterm(world):
    """A prefork server: the master, two forked workers serving an outside client (their
    access log on the shared stdout), SIGTERM to the master, the workers' SIGTERM."""
    needs("gunicorn")
    port = free_port()
    world.write("wsgiapp.py", WSGI_APP)
    answers = []
    recorded = world.record_server("-m", "gunicorn", "-w", "2", "-b", f"127.0.0.1:{port}", "--access-logfile", "-",
                                   "wsgiapp:app", port=port, clients=lambda: answers.extend(_get_items(port)))
    assert recorded.returncode == 0, recorded.stderr
    assert len(answers) == 6 and recorded.stdout.count('"GET /item/') == 6, (answers, recorded.stdout)
    assert "Handling signal: term" in recorded.stderr
    assert len(world.processes()) >= 2
    world.tear_down()
    world.assert_replays(recorded)
    alone = world.assert_each_replays_alone()
    served = "".join(alone[worker].stdout for worker in world.processes())
    assert sorted(served.splitlines()) == sorted(recorded.stdout.splitlines())  # each worker's own access log


def test_http_server_module_under_a_client_then_sigint(world):
    port = free_port()
    world.write("index.html", "<p>hello</p>\n")
    for i in range(6):
        world.write(f"item/{i}", f"item {i}\n")
    answers = []
    recorded = world.record_server("-m", "http.server", "-b", "127.0.0.1", str(port), port=port,
                                   clients=lambda: answers.extend(_get_items(port)), stop=signal.SIGINT)
    assert [a.decode() for a in answers] == [f"item {i}\n" for i in range(6)]
    assert recorded.stderr.count('"GET /item/') == 6, recorded.stderr
    world.tear_down()
    world.assert_replays(recorded)


NOTES_MODELS = """\
from django.db import models


class Note(models.Model):
    text = models.CharField(max_length=100)
    created = models.DateTimeField(auto_now_add=True)
"""

ADDNOTE_COMMAND = """\
from django.core.management.base import BaseCommand

from notes.models import Note


class Command(BaseCommand):
    help = "Adds a note."

    def add_arguments(self, parser):
        parser.add_argument("text")

    def handle(self, text, **options):
        note = Note.objects.create(text=text)
        self.stdout.write(f"note {note.id}: {note.text} at {note.created.isoformat()} of {Note.objects.count()}")
"""

MANAGE_STEPS = """\
import os
import sys

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "site1.settings")
from django.core.management import execute_from_command_line

for argv in (["migrate"], ["addnote", "hello"], ["addnote", "again"], ["help", "--commands"]):
    execute_from_command_line(["manage.py", *argv])
"""


def test_django_migrate_and_a_custom_management_command(world):
    """A project made by django-admin: migrate on SQLite, then the app's own command, then
    `help --commands`, whose list comes from listing the apps' command folders."""
    needs("django")
    import subprocess
    import sys

    made = subprocess.run([sys.executable, "-m", "django", "startproject", "site1", "."], cwd=world.dir,
                          capture_output=True, text=True)
    assert made.returncode == 0, made.stderr
    world.write("notes/__init__.py", "")
    world.write("notes/models.py", NOTES_MODELS)
    world.write("notes/management/__init__.py", "")
    world.write("notes/management/commands/__init__.py", "")
    world.write("notes/management/commands/addnote.py", ADDNOTE_COMMAND)
    settings = world.dir / "site1" / "settings.py"
    settings.write_text(settings.read_text() + '\nINSTALLED_APPS += ["notes"]\n')
    made = subprocess.run([sys.executable, "manage.py", "makemigrations", "notes"], cwd=world.dir,
                          capture_output=True, text=True)
    assert made.returncode == 0, made.stderr
    world.write("steps.py", MANAGE_STEPS)
    recorded = world.record("steps.py")
    assert recorded.returncode == 0, recorded.stderr
    assert "Applying notes.0001_initial... OK" in recorded.stdout and "note 2: again" in recorded.stdout
    assert "addnote" in recorded.stdout.split("note 2: again")[1]
    world.tear_down()
    world.assert_replays(recorded)
