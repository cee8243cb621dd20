"""The compatibility matrix (issue #8): its rows, and docs/compatibility.md made from
the test results.

Each row is a library (or a group of them) exercised by tests marked
``@pytest.mark.compat("row-id")``: a real program using it is recorded, the world it
talked to is taken away, and the replay must print what the recording printed.
conftest.py collects the outcome of every marked test; when a session has run all of
them, the document that the outcomes make must be the committed one (a stale matrix
fails the run; ``RETRACE_WRITE_COMPAT=1`` rewrites it). Rows whose tests are not
written yet stay in the matrix as "not tested yet", never dropped.
"""

from __future__ import annotations

from importlib import metadata

DOC = "docs/compatibility.md"

# id -> (library as shown, distributions whose versions are shown, what is covered, known limits)
ROWS = {
    "stdlib-http": ("http.client, urllib.request", (), "GET/POST with JSON bodies, errors, DNS failure", ""),
    "requests": ("requests + urllib3", ("requests", "urllib3"),
                 "sessions and connection pools, GET/POST JSON, DNS failure", ""),
    "flask": ("Flask on werkzeug", ("flask", "werkzeug"),
              "a threaded werkzeug server under concurrent clients outside the recording; an app calling "
              "another HTTP service; its 500 traceback", ""),
    "stdlib-readers": ("logging, tempfile, zoneinfo, locale, getpass", (),
                       "timestamps in log records, temporary files and names, local time in a zone, the locale, "
                       "the user name", ""),
    "cli-prompts": ("click, typer", ("click", "typer"), "command-line apps with options and prompts read from stdin",
                    ""),
    "django": ("Django", ("django",), "the test client, views, a 500, the ORM on an SQLite file (deleted before "
               "the replay); `runserver` with its autoreloader (the server in a child process, a thread "
               "watching every module's file) and with `--noreload`, under a client outside the recording, "
               "stopped by Ctrl-C; system checks", ""),
    "fastapi": ("FastAPI on uvicorn", ("fastapi", "uvicorn", "pydantic"),
                "ASGI under asyncio, concurrent requests from an httpx client outside the recording, the server "
                "shut down from a handler", ""),
    "postgres": ("psycopg2, psycopg 3, SQLAlchemy", ("psycopg2-binary", "psycopg", "sqlalchemy"),
                 "a PostgreSQL server started by the tests (stopped, its data removed before the replay): "
                 "DDL, inserts with RETURNING, timestamptz/numeric/uuid/array/jsonb values, DictCursor, "
                 "RealDictCursor, a named (server-side) cursor, execute_values, register_uuid, an error's "
                 "pgcode; psycopg 3 with a row factory, a transaction block, its errors; SQLAlchemy's ORM "
                 "with a connection pool, a unique violation rolled back",
                 "libpq does its I/O in C: the drivers are recorded at their Python API (connections, "
                 "cursors and rows are handles); psycopg 3's AsyncConnection is not recorded yet"),
    "redis": ("redis-py", ("redis",),
              "a redis-server started by the tests (stopped before the replay): strings with a TTL, counters, "
              "a pipeline of hashes and lists, a Lua script, a blocking pop timing out, INFO, pub/sub, an error "
              "reply; redis.asyncio with concurrent commands", ""),
    "celery": ("Celery (Redis broker)", ("celery", "kombu", "billiard"),
               "a worker (prefork pool of forked processes, and solo) recorded while a client outside the "
               "recording sends tasks through a redis-server the tests start; a failing task; warm shutdown by "
               "SIGTERM; replayed with the broker gone, whole and the worker alone",
               "the banner shows the app's address (id()), which differs on replay; how the pool's processes "
               "interleave on a shared stderr is not replayed (each process's own output is)"),
    "httpx-aiohttp": ("httpx (sync, async), aiohttp", ("httpx", "aiohttp"),
                      "GET/POST JSON from a client, concurrent requests under asyncio, against a server outside "
                      "the recording", ""),
    "pytest": ("pytest", ("pytest",),
               "`retrace-python -m pytest` on a project with a failing test: the report with the failure's "
               "captured output, a conftest.py plugin (report header, fixture), tmp_path; a second run with "
               "`--lf` reading the cache the first wrote; each replayed with the cache and temp dirs gone", ""),
    "numpy": ("numpy random generators", ("numpy",), "default_rng and the legacy global generator, both seeded "
              "from the entropy pool; a seeded generator", ""),
}


def version(distributions) -> str:
    found = []
    for name in distributions:
        try:
            found.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            found.append(f"{name} (not installed)")
    return ", ".join(found) or "Python's own"


def status(outcomes: list[tuple[str, str]]) -> str:
    """A row's status from its tests' outcomes [(outcome, reason)]."""
    if not outcomes:
        return "not tested yet"
    failed = [reason for outcome, reason in outcomes if outcome == "failed"]
    if failed:
        return "failing"
    xfailed = [reason for outcome, reason in outcomes if outcome == "xfailed"]
    if xfailed:
        return "known failure: " + "; ".join(sorted(set(xfailed)))
    skipped = [reason for outcome, reason in outcomes if outcome == "skipped"]
    if len(skipped) == len(outcomes):
        return "skipped: " + "; ".join(sorted(set(skipped)))
    passed = sum(1 for outcome, _ in outcomes if outcome == "passed")
    return f"works ({passed} test{'s' if passed != 1 else ''})"


def render(results: dict[str, list[tuple[str, str]]]) -> str:
    lines = [
        "# Compatibility",
        "",
        "Generated from the test results (tests/compat_matrix.py); a test run that has run every row "
        "fails if this file is stale. Each row is a real program recorded through the launcher and "
        "replayed with the world it talked to gone; the replay must print what the recording printed.",
        "",
        "| library | versions tested | what is covered | status | known limits |",
        "|---|---|---|---|---|",
    ]
    for row, (library, distributions, covers, limits) in ROWS.items():
        outcomes = results.get(row, [])
        shown = version(distributions) if outcomes else "—"
        lines.append(f"| {library} | {shown} | {covers} | {status(outcomes)} | {limits or '—'} |")
    return "\n".join(lines) + "\n"
