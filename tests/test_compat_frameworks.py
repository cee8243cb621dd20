"""Rows of the compatibility matrix (tests/compat_matrix.py): web frameworks."""

from __future__ import annotations

import pytest

from conftest import assert_same_run
from threadsupport import record_ok, replay_ok

DJANGO = """
    import os, time, uuid
    import django
    from django.conf import settings

    settings.configure(
        DEBUG=False, SECRET_KEY="x" * 50, ROOT_URLCONF=__name__, ALLOWED_HOSTS=["*"], USE_TZ=True,
        DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3",
                               "NAME": os.path.join(os.getcwd(), "db.sqlite3")}},
        INSTALLED_APPS=["django.contrib.contenttypes"],
    )
    django.setup()

    from django.db import connection, models
    from django.http import JsonResponse
    from django.test import Client
    from django.urls import path
    from django.utils import timezone

    class Note(models.Model):
        text = models.CharField(max_length=100)
        token = models.CharField(max_length=32)
        created = models.DateTimeField()

        class Meta:
            app_label = "notes"

    with connection.schema_editor() as editor:
        editor.create_model(Note)

    def add(request):
        note = Note.objects.create(text=request.GET.get("text", ""), token=uuid.uuid4().hex, created=timezone.now())
        return JsonResponse({"id": note.id, "token": note.token, "created": note.created.isoformat()})

    def listing(request):
        return JsonResponse({"notes": [[n.id, n.text, n.token] for n in Note.objects.order_by("id")]})

    def broken(request):
        raise ValueError("no such note")

    urlpatterns = [path("add", add), path("list", listing), path("broken", broken)]

    client = Client(raise_request_exception=False)
    for word in ("alpha", "beta"):
        print(client.get("/add", {"text": word}).json())
    print(client.get("/list").json())
    print("broken", client.get("/broken").status_code)
    print("count", Note.objects.count(), time.time() > 0)
"""


@pytest.mark.compat("django")
def test_django_test_client_and_orm_on_sqlite(program):
    pytest.importorskip("django")
    app = program(DJANGO)
    recorded = record_ok(app)
    assert "broken 500" in recorded.stdout and "count 2 True" in recorded.stdout
    (app.dir / "db.sqlite3").unlink()  # the database is gone
    assert_same_run(recorded, replay_ok(app))


DJANGO_CHECKS = """
    from django.conf import settings
    settings.configure()
    from django.core import checks

    def make(n):
        def check(app_configs, **kwargs):
            return []
        check.__name__ = f"check{n}"
        return check

    made = [make(n) for n in range(40)]         # made in one order (addresses rising)...
    for check in reversed(made):                 # ...registered in the other
        checks.register(check)
    registry = checks.registry.CheckRegistry()   # a registry made after start-up too
    for check in reversed(made):
        registry.register(check, "mine")
    print([c.__name__ for c in checks.registry.registry.get_checks() if c in made])
    print([c.__name__ for c in registry.get_checks()])
"""


@pytest.mark.compat("django")
def test_django_system_checks_run_in_registration_order(program):
    """Django iterates a set of check functions, whose order follows their addresses, and
    the checks stat files: recording and replay allocate differently, so both run the
    checks in registration order (retrace/boundaries/orderings.py)."""
    pytest.importorskip("django")
    app = program(DJANGO_CHECKS)
    recorded = record_ok(app)
    expected = str([f"check{n}" for n in reversed(range(40))])
    assert recorded.stdout == f"{expected}\n{expected}\n"
    assert_same_run(recorded, replay_ok(app))


FASTAPI = """
    import asyncio, socket, time, uuid
    import uvicorn
    from fastapi import FastAPI

    N = 6
    app = FastAPI()
    served = []

    @app.get("/item/{n}")
    async def item(n: int):
        await asyncio.sleep(0.01 * (n % 3))   # requests overlap
        served.append(n)
        if len(served) >= N:
            server.should_exit = True
        return {"n": n, "token": uuid.uuid4().hex, "at": time.time()}

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    print(sock.getsockname()[1], flush=True)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    server.run(sockets=[sock])
    print("served", sorted(served))
"""


@pytest.mark.compat("fastapi")
def test_fastapi_on_uvicorn_under_an_httpx_client(program):
    httpx = pytest.importorskip("httpx")
    pytest.importorskip("fastapi")
    import concurrent.futures

    from netsupport import Recording

    app = program(FASTAPI)
    recording = Recording(app)
    port = int(recording.first_line)

    def get(n):
        with httpx.Client(trust_env=False) as client:
            return client.get(f"http://127.0.0.1:{port}/item/{n}", timeout=10).json()

    with concurrent.futures.ThreadPoolExecutor(3) as pool:
        answers = list(pool.map(get, range(6)))
    code, out, err = recording.finish()
    assert code == 0, err
    assert [a["n"] for a in answers] == list(range(6))
    replayed = app.replay(timeout=60)
    assert (replayed.returncode, replayed.stdout, replayed.stderr) == (code, out, err)


DJANGO_RUNSERVER = """
    import sys, time, uuid
    from django.conf import settings

    settings.configure(DEBUG=False, SECRET_KEY="x" * 50, ROOT_URLCONF=__name__, ALLOWED_HOSTS=["*"],
                       INSTALLED_APPS=["django.contrib.staticfiles"], USE_TZ=True, DATABASES={})
    from django.http import JsonResponse
    from django.urls import path

    def item(request, n):
        return JsonResponse({"n": n, "token": uuid.uuid4().hex, "at": time.time()})

    urlpatterns = [path("item/<int:n>", item)]

    if __name__ == "__main__":
        from django.core.management import execute_from_command_line
        execute_from_command_line(sys.argv)
"""


@pytest.mark.compat("django")
@pytest.mark.parametrize("autoreload", [False, True], ids=["noreload", "autoreloader"])
def test_django_runserver_under_clients_then_ctrl_c(program, autoreload):
    """With its autoreloader, runserver runs the server in a child process (a Python
    subprocess: a sub-recording) while a thread of the child stats every module's file
    each second; Ctrl-C reaches both (the terminal's process group)."""
    pytest.importorskip("django")
    requests = pytest.importorskip("requests")
    import os
    import signal
    import socket
    import subprocess
    import time

    from conftest import LAUNCHER, _clean_env

    app = program(DJANGO_RUNSERVER, name="manage.py")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    options = [] if autoreload else ["--noreload"]
    server = subprocess.Popen([LAUNCHER, "--recording", str(app.recording), str(app.script), "runserver",
                               *options, f"127.0.0.1:{port}"], cwd=app.dir, env=_clean_env(),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        session = requests.Session()
        session.trust_env = False
        deadline = time.monotonic() + 30
        while True:
            try:
                session.get(f"http://127.0.0.1:{port}/item/0", timeout=2)
                break
            except requests.ConnectionError:
                assert time.monotonic() < deadline and server.poll() is None, server.stderr.read()
                time.sleep(0.1)
        answers = [session.get(f"http://127.0.0.1:{port}/item/{n}", timeout=5).json() for n in range(1, 4)]
        if autoreload:
            time.sleep(1.5)  # the reloader's thread looks at the files again
        os.killpg(server.pid, signal.SIGINT)  # Ctrl-C, as a developer stops it
        out, err = server.communicate(timeout=30)
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGKILL)
            server.communicate()
    assert server.returncode == 0, err
    assert [answer["n"] for answer in answers] == [1, 2, 3]
    assert '"GET /item/3 HTTP/1.1" 200' in err
    if autoreload:
        assert (app.recording / "processes" / "0.1").is_dir()  # the server ran in a child
    replayed = app.replay(timeout=60)
    assert (replayed.returncode, replayed.stdout, replayed.stderr) == (0, out, err)
