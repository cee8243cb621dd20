"""Sealed secrets do not break replay (issue #13).

A program that only passes a secret on (to ``connect``, into an ``Authorization``
header, over a socket) replays exactly without any key: the recording sealed every
occurrence of the secret with the same ``*``s the replay gives the program, and
compares call arguments in their sealed form. What the program computes from a
secret can differ, so a replay without the key says so up front (or, strict,
refuses); with the key (a passphrase, or the private key file of the public key the
recording was sealed to) it is exact. No secret is ever in the recording directory.
"""

from __future__ import annotations

import http.server
import json
import os
import shutil
import socketserver
import stat
import threading

import pytest

from conftest import LAUNCHER, Result, run
from netsupport import Recording
from services import POSTGRES_PASSWORD, postgres_with_password  # noqa: F401 (fixture)
from threadsupport import record_ok, replay_ok

TOKEN = "tok-7f3a9c2e5b1d"
NOTICE = "retrace: replaying with "


def everything_stored(recording) -> bytes:
    """Every byte of the recording directory (code snapshot included)."""
    return b"".join(path.read_bytes() for path in recording.rglob("*") if path.is_file())


def assert_nowhere(recording, *secrets: str) -> None:
    stored = everything_stored(recording)
    for secret in secrets:
        assert secret.encode() not in stored, f"{secret!r} is in the recording"


def assert_exact_but_announced(recorded: Result, replayed: Result) -> str:
    """The replay is the recorded run, plus the one line that says it ran with '*'s."""
    assert replayed.returncode == recorded.returncode, replayed.stderr
    assert replayed.stdout == recorded.stdout
    notice, _, rest = replayed.stderr.partition("\n")
    assert notice.startswith(NOTICE) and "as '*'s" in notice, replayed.stderr
    assert rest == recorded.stderr
    return notice


def assert_exact(recorded: Result, replayed: Result) -> None:
    assert (replayed.returncode, replayed.stdout, replayed.stderr) == \
        (recorded.returncode, recorded.stdout, recorded.stderr)


def keygen(path) -> str:
    made = run([LAUNCHER, "keygen", str(path)])
    assert made.returncode == 0, made.stderr
    return made.stdout.strip()


# -- passing a secret on: exact without any key --------------------------------------------
POSTGRES = """
    import os, sys
    import psycopg2, psycopg

    port = int(sys.argv[1])
    conn = psycopg2.connect(host="127.0.0.1", port=port, user="postgres", password=os.environ["DB_PASSWORD"],
                            dbname="postgres")
    with conn, conn.cursor() as cur:
        cur.execute("select current_user, 6 * 7")
        print("psycopg2", cur.fetchone())
    conn.close()
    url = f"postgresql://postgres:{os.environ['DB_PASSWORD']}@127.0.0.1:{port}/postgres"
    with psycopg.connect(url) as conn:
        print("psycopg", conn.execute("select current_user, 6 * 7").fetchone())
"""


def test_postgres_with_a_password_from_the_environment_replays_exactly_without_a_key(
        program, postgres_with_password):
    pytest.importorskip("psycopg2")
    pytest.importorskip("psycopg")
    app = program(POSTGRES)
    wrong = app.record(str(postgres_with_password.port), env={"DB_PASSWORD": "not-the-password"})
    assert wrong.returncode != 0 and "password authentication failed" in wrong.stderr  # (the server checks it)
    shutil.rmtree(app.recording)
    recorded = record_ok(app, str(postgres_with_password.port), env={"DB_PASSWORD": POSTGRES_PASSWORD})
    assert "psycopg2 ('postgres', 42)" in recorded.stdout and "psycopg ('postgres', 42)" in recorded.stdout
    postgres_with_password.remove()
    assert_nowhere(app.recording, POSTGRES_PASSWORD)
    notice = assert_exact_but_announced(recorded, replay_ok(app))
    assert "1 sealed secret as '*'s" in notice, notice


class _TokenHTTPServer(http.server.ThreadingHTTPServer):
    daemon_threads = True


def _token_http_server():
    """Answers 200 with {"user", "seen"} to `Authorization: Bearer TOKEN`, 401 otherwise."""
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            given = self.headers.get("Authorization", "")
            ok = given == f"Bearer {TOKEN}"
            body = json.dumps({"user": "alice" if ok else None, "seen": given.partition(" ")[2]}).encode()
            self.send_response(200 if ok else 401)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = _TokenHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


class _TokenLineServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


def _token_line_server():
    """A line protocol: `HELLO <token>` -> `WELCOME alice <token>` (or `DENIED`)."""
    class Handler(socketserver.StreamRequestHandler):
        def handle(self):
            word, _, token = self.rfile.readline().decode().strip().partition(" ")
            reply = f"WELCOME alice {token}" if (word, token) == ("HELLO", TOKEN) else "DENIED"
            self.wfile.write(reply.encode() + b"\n")

    server = _TokenLineServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


CLIENTS = """
    import json, os, socket, sys, urllib.request
    import requests

    token = os.environ["API_TOKEN"]
    http_port, line_port = int(sys.argv[1]), int(sys.argv[2])
    answer = requests.get(f"http://127.0.0.1:{http_port}/me", headers={"Authorization": f"Bearer {token}"},
                          timeout=10)
    print("requests", answer.status_code, answer.json()["user"], answer.json()["seen"] == token)
    request = urllib.request.Request(f"http://127.0.0.1:{http_port}/me", headers={"Authorization": "Bearer " + token})
    with urllib.request.urlopen(request, timeout=10) as answer:
        data = json.load(answer)
        print("urllib", answer.status, data["user"], data["seen"] == token)
    with socket.create_connection(("127.0.0.1", line_port), timeout=10) as sock:
        sock.sendall(f"HELLO {token}\\n".encode())
        reply = sock.makefile().readline().split()
        print("socket", reply[:2], reply[2] == token)
"""


def test_a_token_sent_in_a_header_and_over_a_socket_replays_exactly_without_a_key(program):
    pytest.importorskip("requests")
    app = program(CLIENTS)
    web, line = _token_http_server(), _token_line_server()
    try:
        recorded = record_ok(app, str(web.server_address[1]), str(line.server_address[1]),
                             env={"API_TOKEN": TOKEN, "no_proxy": "*", "NO_PROXY": "*"})
    finally:
        for server in (web, line):
            server.shutdown()
            server.server_close()
    assert recorded.stdout.splitlines() == ["requests 200 alice True", "urllib 200 alice True",
                                            "socket ['WELCOME', 'alice'] True"]
    assert_nowhere(app.recording, TOKEN)
    assert_exact_but_announced(recorded, replay_ok(app))


# -- computing from a secret: announced without the key, exact with it ------------------------
FLASK = """
    import json, os
    from flask import Flask, request, session
    from werkzeug.serving import make_server

    app = Flask(__name__)
    app.secret_key = os.environ["FLASK_SECRET_KEY"]

    @app.route("/login")
    def login():
        session["user"] = request.args["user"]
        return "hello " + session["user"]

    @app.route("/profile")
    def profile():
        user = session.get("user")
        if user is None:
            return "anonymous"
        with open(os.path.join("profiles", user + ".json")) as handle:
            return json.load(handle)["name"]

    server = make_server("127.0.0.1", 0, app)
    print(server.server_port, flush=True)
    for _ in range(3):
        server.handle_request()
    print("served")
"""


def test_flask_sessions_signed_with_a_secret_key_from_the_environment(program, tmp_path):
    pytest.importorskip("flask")
    import requests

    public = keygen(tmp_path / "retrace.key")
    app = program(FLASK)
    app.write("profiles/alice.json", '{"name": "Alice Liddell"}')
    secret_key = "flask-signing-key-0b9e8d7c"
    recording = Recording(app, env={"FLASK_SECRET_KEY": secret_key, "RETRACE_SEAL_TO": public})
    try:
        base = f"http://127.0.0.1:{int(recording.first_line)}"
        with requests.Session() as client:
            pages = [client.get(base + path, timeout=10).text for path in ("/login?user=alice", "/profile",
                                                                           "/profile")]
    finally:
        code, out, err = recording.finish()
    assert pages == ["hello alice", "Alice Liddell", "Alice Liddell"]
    recorded = Result(code, out, err)
    assert code == 0, err
    (app.dir / "profiles" / "alice.json").unlink()
    private = (tmp_path / "retrace.key").read_text().rpartition("retrace-seal-sk1:")[2].strip()
    assert_nowhere(app.recording, secret_key, private)

    # Without the key the session cookie it signed and got back is '*'s: the profile's
    # file is not read where the recording read it, and the report names the secrets.
    without = replay_ok(app)
    assert without.stderr.startswith(NOTICE), without.stderr
    assert without.returncode == 86, without.stderr
    assert "FLASK_SECRET_KEY (environment)" in without.stderr and "header cookie" in without.stderr, without.stderr
    assert "expected: io.open at" in without.stderr

    assert_exact(recorded, replay_ok(app, env={"RETRACE_KEY_FILE": str(tmp_path / "retrace.key")}))


DERIVED = """
    import hashlib, os, sys
    token = os.environ["API_TOKEN"]
    print("digest", hashlib.sha256(token.encode()).hexdigest()[:12])
    print("first", token[:4], "length", len(token))
    print("passed on", os.path.exists(f"/nonexistent/{token}/cache"))
"""


def test_sealed_to_a_public_key_production_holds_no_secret(program, tmp_path):
    keyfile = tmp_path / "retrace.key"
    public = keygen(keyfile)
    assert public.startswith("retrace-seal-pk1:")
    assert stat.S_IMODE(os.stat(keyfile).st_mode) == 0o600
    private = [line for line in keyfile.read_text().splitlines() if line.startswith("retrace-seal-sk1:")][0]
    again = run([LAUNCHER, "keygen", str(keyfile)])
    assert again.returncode != 0 and again.stderr.count("\n") == 1 and "never overwrites" in again.stderr

    app = program(DERIVED)
    public_file = tmp_path / "retrace.pub"
    public_file.write_text(public + "\n")
    recorded = record_ok(app, env={"API_TOKEN": TOKEN, "RETRACE_SEAL_TO": str(public_file)})  # (a path to it)
    assert_nowhere(app.recording, TOKEN, private.partition(":")[2], str(public_file))

    assert_exact(recorded, replay_ok(app, env={"RETRACE_KEY_FILE": str(keyfile)}))
    by_option = run([LAUNCHER, "--replay", str(app.recording), "--key-file", str(keyfile)], no_network=True)
    assert_exact(recorded, by_option)

    without = replay_ok(app)
    assert without.returncode == 0 and without.stderr.startswith(NOTICE)
    assert "no key to open them (RETRACE_KEY_FILE or RETRACE_KEY replays exactly)" in without.stderr
    assert "first **** length 16" in without.stdout and "passed on False" in without.stdout
    assert without.stdout.splitlines()[0] != recorded.stdout.splitlines()[0]  # (the digest is of '*'s)

    other = tmp_path / "other.key"
    keygen(other)
    wrong = replay_ok(app, env={"RETRACE_KEY_FILE": str(other)})
    assert wrong.returncode == 65 and wrong.stdout == ""
    assert wrong.stderr == f"retrace: the key file {other} does not open this recording (it was sealed to {public})\n"

    strict = run([LAUNCHER, "--replay", str(app.recording), "--strict-secrets"], no_network=True)
    assert strict.returncode == 65 and strict.stdout == "" and strict.stderr.count("\n") == 1, strict.stderr
    assert "(refused: --strict-secrets)" in strict.stderr
    strict_with_key = run([LAUNCHER, "--replay", str(app.recording), "--strict-secrets", "--key-file",
                           str(keyfile)], no_network=True)
    assert_exact(recorded, strict_with_key)


def test_a_damaged_sealed_value_is_one_line(program):
    app = program(DERIVED)
    record_ok(app, env={"API_TOKEN": TOKEN, "RETRACE_KEY": "a passphrase"})
    settings_path = app.recording / "settings.json"
    settings = json.loads(settings_path.read_text())
    token = settings["sealed_env"]["API_TOKEN"][0][3]
    settings["sealed_env"]["API_TOKEN"][0][3] = token[:-8] + ("A" if token[-8] != "A" else "B") + token[-7:]
    settings_path.write_text(json.dumps(settings))
    damaged = replay_ok(app, env={"RETRACE_KEY": "a passphrase"})
    assert damaged.returncode == 65 and damaged.stdout == "" and damaged.stderr.count("\n") == 1, damaged.stderr
    assert damaged.stderr.startswith("retrace: ")


# -- what counts as a secret ----------------------------------------------------------------
ARGUMENTS = """
    import os, subprocess, sys
    from urllib.parse import urlsplit

    url = urlsplit(sys.argv[2])
    print("db", url.hostname, url.username, "password sealed" if set(url.password) == {"*"} else "password here")
    print("billing", os.environ["BILLING_ACCOUNT"][:5])
    child = subprocess.run([sys.executable, "-c", "import os; print('child', len(os.environ['HANDED_DOWN']))"],
                           env={"HANDED_DOWN": os.environ["BILLING_ACCOUNT"], "PATH": os.environ["PATH"]},
                           capture_output=True, text=True)
    print(child.stdout.strip())
"""


def test_named_secrets_credentials_in_arguments_and_a_childs_environment(program):
    app = program(ARGUMENTS)
    billing, password = "acct-99887766", "pw-55aa66bb"
    recorded = run([LAUNCHER, "--recording", str(app.recording), "--secret", "BILLING_ACCOUNT", str(app.script),
                    "--db", f"postgresql://app:{password}@db.internal/app"], cwd=app.dir,
                   env={"BILLING_ACCOUNT": billing, "RETRACE_KEY": "k"})
    assert recorded.returncode == 0, recorded.stderr
    assert recorded.stdout.splitlines() == ["db db.internal app password here", "billing acct-",
                                            "child 13"]
    assert_nowhere(app.recording, billing, password)
    listed = run([LAUNCHER, "inspect", str(app.recording), "--secrets"]).stdout
    assert "environment  BILLING_ACCOUNT: environment variable, 13 characters" in listed
    assert "HANDED_DOWN: known secret (a secret of the parent process)" in listed

    assert_exact(recorded, replay_ok(app, env={"RETRACE_KEY": "k"}))
    without = replay_ok(app)
    assert without.returncode == 0 and without.stderr.startswith(NOTICE), without.stderr
    assert without.stdout.splitlines() == ["db db.internal app password sealed", "billing *****", "child 13"]


def test_a_keyed_recording_of_a_program_without_threads_ends(program):
    """The first encryption, in the flusher thread, imports ``threading`` (cryptography's
    binding does); the program never did: its exit must not wait for the flusher."""
    app = program("""
        import os, sys, time
        token = os.environ["API_TOKEN"]
        for _ in range(3):
            os.path.exists("/nonexistent/" + token)
            time.sleep(0.1)  # (past a flush: the flusher encrypts while the program runs)
        print("done", "threading" in sys.modules)
    """)
    for key in ({"RETRACE_KEY": "a passphrase"}, {"RETRACE_SEAL_TO": keygen(app.root / "retrace.key")}):
        shutil.rmtree(app.recording, ignore_errors=True)
        recorded = record_ok(app, env={"API_TOKEN": TOKEN, **key}, timeout=30)
        opened = {"RETRACE_KEY": key["RETRACE_KEY"]} if "RETRACE_KEY" in key else \
            {"RETRACE_KEY_FILE": str(app.root / "retrace.key")}
        assert_exact(recorded, replay_ok(app, env=opened))
