"""Secrets are not stored in plain text (issue #7): sealing, RETRACE_KEY, placeholders.

A program reads a config file with a password and a database URL, a server's
answer with a session cookie, and an API token from its environment; it prints
digests of them (so a replay that got anything but the exact secrets prints
something else). The recording must not contain any of them in plain text.
"""

from __future__ import annotations

import http.server
import json
import threading

import pytest

from conftest import LAUNCHER, assert_same_run, run

PASSWORD, DB_PASSWORD, COOKIE, TOKEN = "hunter2hunter2", "s3cr3tpw", "session=9f8e7d6c5b4a", "tok-123456789"

PROGRAM = """\
import hashlib, os, sys, urllib.request

def digest(text):
    return hashlib.sha256(text.encode()).hexdigest()[:12]

config = open("app.ini").read()
print("config", digest(config), len(config))
answer = urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/login", timeout=10)
cookie = answer.headers["Set-Cookie"]
print("cookie", digest(cookie), len(cookie), answer.read().decode())
print("token", digest(os.environ["MY_API_TOKEN"]))
print("db url", os.environ["DATABASE_URL"].split("@")[1])
password = [line.split("=", 1)[1].strip() for line in config.splitlines() if line.startswith("password")][0]
print("password looks sealed" if set(password) == {"*"} else "password is there")
"""


class CookieServer:
    """An HTTP server outside the recording that hands out a session cookie."""

    def __init__(self) -> None:
        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                body = b"welcome"
                self.send_response(200)
                self.send_header("Set-Cookie", COOKIE)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def recorded(program):
    def make(**env):
        app = program(PROGRAM)
        app.write("app.ini", f"[db]\nhost = db.internal\npassword = {PASSWORD}\n")
        server = CookieServer()
        try:
            result = app.record(str(server.port), env={"MY_API_TOKEN": TOKEN,
                                                       "DATABASE_URL": f"postgres://app:{DB_PASSWORD}@db/app", **env})
        finally:
            server.close()
        assert result.returncode == 0, result.stderr
        (app.dir / "app.ini").unlink()
        return app, result
    return make


def stored_bytes(recording) -> bytes:
    return b"".join(path.read_bytes() for path in recording.rglob("*") if path.is_file() and "run" not in path.parts)


def test_secrets_are_sealed_and_a_replay_with_the_key_is_exact(recorded):
    app, result = recorded(RETRACE_KEY="correct horse battery staple")
    assert "password is there" in result.stdout
    stored = stored_bytes(app.recording)
    for secret in (PASSWORD, DB_PASSWORD, COOKIE.split("=")[1], TOKEN, "correct horse"):
        assert secret.encode() not in stored, secret
    replayed = app.replay(env={"RETRACE_KEY": "correct horse battery staple"})
    assert_same_run(result, replayed)


def test_without_the_key_the_replay_sees_placeholders(recorded):
    app, result = recorded(RETRACE_KEY="correct horse battery staple")
    replayed = app.replay()
    assert replayed.returncode == 0, replayed.stderr
    assert "password looks sealed" in replayed.stdout
    assert replayed.stdout != result.stdout
    lines = dict(line.split(" ", 1) for line in replayed.stdout.splitlines())
    recorded_lines = dict(line.split(" ", 1) for line in result.stdout.splitlines())
    assert lines["config"] != recorded_lines["config"] and lines["config"].endswith(recorded_lines["config"][-3:])
    assert lines["db"] == recorded_lines["db"]  # (what follows the sealed password is kept)
    wrong = app.replay(env={"RETRACE_KEY": "another key"})
    assert wrong.returncode == 65
    assert wrong.stderr == ("retrace: RETRACE_KEY does not open this recording's sealed values (it was sealed "
                            "with another key)\n")


def test_recorded_without_a_key_the_secrets_are_gone(recorded):
    app, result = recorded()
    stored = stored_bytes(app.recording)
    for secret in (PASSWORD, DB_PASSWORD, TOKEN):
        assert secret.encode() not in stored
    replayed = app.replay(env={"RETRACE_KEY": "any"})  # (no key was used: nothing to open)
    assert "password looks sealed" in replayed.stdout


def test_a_divergence_caused_by_a_placeholder_says_so(program):
    app = program("""
        import os, time
        if os.environ["SERVICE_TOKEN"].startswith("tok"):
            time.time()
        else:
            os.getpid()
    """)
    assert app.record(env={"SERVICE_TOKEN": "tok-abcdef", "RETRACE_KEY": "k"}).returncode == 0
    assert app.replay(env={"RETRACE_KEY": "k"}).returncode == 0
    replayed = app.replay()
    assert replayed.returncode == 86
    assert replayed.stderr.startswith("retrace: replaying with 1 sealed secret as '*'s: no key to open them")
    assert ("(1 sealed secret of this recording reached the program as '*'s: SERVICE_TOKEN (environment); "
            "if its course depends on one, that is the cause: replay with the key it was sealed with "
            "(RETRACE_KEY_FILE or RETRACE_KEY) to be exact)") in replayed.stderr


def test_inspect_secrets_lists_what_was_sealed(recorded):
    app, _ = recorded(RETRACE_KEY="k")
    listed = run([LAUNCHER, "inspect", str(app.recording), "--secrets"])
    assert listed.returncode == 0, listed.stderr
    text = listed.stdout
    assert text.startswith("sealed secrets: kept encrypted (recorded with RETRACE_KEY")
    assert "environment  MY_API_TOKEN: environment variable, 13 characters" in text
    assert "environment  DATABASE_URL: url password, 8 characters" in text
    assert "setting password, 14 " in text and "header set-cookie, 20 bytes" in text
    for secret in (PASSWORD, DB_PASSWORD, TOKEN, COOKIE):
        assert secret not in text
    as_json = json.loads(run([LAUNCHER, "inspect", str(app.recording), "--secrets", "--json"]).stdout)
    assert as_json["schema"] == "retrace.secrets/1" and as_json["keyed"] is True
    assert all(secret["kept"] for secret in as_json["secrets"])


def test_sealing_can_be_switched_off(recorded):
    app, result = recorded(RETRACE_SECRETS="off")
    assert PASSWORD.encode() in stored_bytes(app.recording)
    assert_same_run(result, app.replay())
    listed = run([LAUNCHER, "inspect", str(app.recording), "--secrets"])
    assert listed.stdout == "secrets were not sealed (recorded with RETRACE_SECRETS=off, or by an older retrace)\n"
