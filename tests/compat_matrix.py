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
               "recording sends tasks through a redis-server the tests start; a failing task; tasks that drop a "
               "redis client each (its pool's finalizer asks os.getpid() when the collector runs); warm "
               "shutdown by SIGTERM; replayed with the broker gone, whole and the worker alone",
               "the banner shows the app's address (id()), which differs on replay"),
    "httpx-aiohttp": ("httpx (sync, async), aiohttp", ("httpx", "aiohttp"),
                      "GET/POST JSON from a client, concurrent requests under asyncio, against a server outside "
                      "the recording", ""),
    "pytest": ("pytest", ("pytest",),
               "`retrace-python -m pytest` on a project with a failing test: the report with the failure's "
               "captured output, a conftest.py plugin (report header, fixture), tmp_path; a second run with "
               "`--lf` reading the cache the first wrote; each replayed with the cache and temp dirs gone", ""),
    "coverage": ("coverage.py", ("coverage",),
                 "coverage's API measuring a module imported by the recorded program (its report printed); "
                 "`retrace-python -m coverage run --branch app.py` and `-m coverage run -m pytest`, and the "
                 "same through coverage's console script under `RETRACE=1`, each replayed with the data file "
                 "(and pytest's temp dirs) gone; the program's own `sys.settrace`/`setprofile` tracers in its "
                 "threads (tests/test_cotenants.py)",
                 "with retrace installed from a checkout by links (its files outside site-packages) coverage "
                 "measures retrace's own code too, which differs on replay"),
    "numpy": ("numpy", ("numpy",), "default_rng and the legacy global generator, both seeded from the entropy "
              "pool; a seeded generator; `fromfile`/`tofile` by name and on open files (binary, text, counts, "
              "offsets, positions), `np.save`/`np.load`, `savetxt`/`loadtxt`, the files deleted before the replay",
              "numpy reads and writes a file object's descriptor in C: retrace moves those bytes through "
              "Python (boundaries/cfiles.py); `np.memmap` is not recorded yet"),
    "pandas": ("pandas", ("pandas",), "`read_csv`/`to_csv` of files deleted before the replay, groupby, describe, "
               "`Timestamp.now()`, NaT, date ranges; datetimes stay the stdlib's own classes", ""),
    "pillow": ("Pillow", ("pillow",), "PNG, JPEG and GIF saved by name and into an open file, opened again, "
               "a thumbnail, the files deleted before the replay", ""),
    "pyzmq": ("pyzmq", ("pyzmq",), "REQ/REP with a Poller and PUB/SUB between threads of one program; PUSH/PULL "
              "to a multiprocessing child (fork and spawn); replayed with no network",
              "contexts, sockets and pollers are handles (libzmq does its I/O in C); `zmq.asyncio` and "
              "`zmq.proxy` are not recorded yet"),
    "grpc": ("gRPC (grpcio)", ("grpcio",), "a client's unary, streaming, `with_call` and `future` calls and "
             "its `RpcError`s (INVALID_ARGUMENT, DEADLINE_EXCEEDED) against a server in another process, "
             "stopped before the replay; a server and a client in one recorded program (recording only)",
             "channels and their calls are handles (gRPC's core does its I/O in C); a server in the recorded "
             "program records, but replaying it needs its port (its handlers run on gRPC's threads)"),
    "pyopenssl": ("pyOpenSSL", ("pyopenssl",), "a TLS server and client over sockets, in two threads of one "
                  "program: a self-signed certificate made with `OpenSSL.crypto`, the handshake, send/recv, "
                  "the cipher and the peer's certificate; replayed with no network",
                  "OpenSSL does the socket's I/O in C: contexts, connections and the certificates they return "
                  "are handles"),
    "uvloop": ("uvloop", ("uvloop",), "`uvloop.run` and `uvloop.install` of an asyncio TCP server and its clients, "
               "replayed with no network",
               "libuv does its I/O in C: under retrace uvloop's loop is asyncio's selector loop (an instance of "
               "`uvloop.Loop`), so its speed is asyncio's and uvloop-only methods are missing"),
    "cryptography": ("cryptography", ("cryptography",), "RSA, EC, Ed25519 and X25519 keys generated, PSS and "
                     "ECDSA signatures, OAEP encryption, `ssl.RAND_bytes`: the replay gives the recorded keys "
                     "and bytes", "DH and DSA parameter generation is not recorded yet"),
    "lxml": ("lxml", ("lxml",), "`etree.parse` by name (plain and gzip-compressed) and from a file object, "
             "`ElementTree.write` to a name (with compression), a missing file's and a syntax error's exception, "
             "the files deleted before the replay",
             "libxml2's own network access (a URL given to parse), external DTDs and XInclude read in C "
             "are not recorded"),
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


SWEEP_BEGIN, SWEEP_END = "<!-- sweep -->", "<!-- /sweep -->"  # (scripts/sweep_libraries.py writes between)


def sweep_section(current: str | None) -> str:
    """The library sweep's table as the document has it (the sweep writes it, not the tests)."""
    if current and SWEEP_BEGIN in current and SWEEP_END in current:
        return current[current.index(SWEEP_BEGIN):current.index(SWEEP_END) + len(SWEEP_END)]
    return f"{SWEEP_BEGIN}\nNot swept yet: `python scripts/sweep_libraries.py --write-doc`.\n{SWEEP_END}"


def render(results: dict[str, list[tuple[str, str]]], current: str | None = None) -> str:
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
    lines += [
        "",
        "## The library sweep",
        "",
        "The most-used PyPI libraries (by download rank), each imported and used by a small program "
        "(written by hand for the most-used ones; the import and a stable fact for the rest) that runs "
        "plain, recorded and replayed with its project directory gone and no network "
        "(`scripts/sweep_libraries.py`; CI runs its top-40 subset, tests/test_library_sweep.py). "
        "Outcomes, worst first: the recorder crashed (a signal or another exit status than the plain "
        "run), the recording printed something else than the plain run, the replay diverged.",
        "",
        sweep_section(current),
    ]
    return "\n".join(lines) + "\n"
