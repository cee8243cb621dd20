"""Loopback servers and clients the network tests run in the test process.

The recorded programs talk to these; each test stops (and joins) them before
replay, which runs inside ``unshare -n`` where possible, so a replay that
really connected would fail or print other tokens: every server answers each
connection or request with a fresh random token.
"""

from __future__ import annotations

import http.server
import json
import os
import secrets
import shutil
import socket
import socketserver
import struct
import subprocess
import threading

from conftest import LAUNCHER, _clean_env

from retrace.trace.model import Event, iter_events
from retrace.trace.reader import TraceReader


def events(recording) -> list[str]:
    """Boundary names of the recorded events, in order."""
    return [e.boundary for e in iter_events(TraceReader(str(recording / "trace.bin"))) if isinstance(e, Event)]


class _Threaded:
    """A socketserver running in a thread of the test process until ``stop``."""

    server: socketserver.BaseServer

    def __init__(self) -> None:
        self.tokens: list[str] = []
        self._thread = None

    @property
    def port(self) -> int:
        return self.server.server_address[1]

    def token(self) -> str:
        token = secrets.token_hex(6)
        self.tokens.append(token)
        return token

    def start(self):
        self._thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self.server.shutdown()
            self._thread.join(10)
            self._thread = None
        self.server.server_close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info):
        self.stop()


class _TCPServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    block_on_close = True


class EchoServer(_Threaded):
    """Per connection: each line read is answered ``echo:<line> token:<fresh token>``."""

    def __init__(self) -> None:
        super().__init__()
        outer = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self):
                for line in self.rfile:
                    reply = b"echo:" + line.rstrip(b"\n") + b" token:" + outer.token().encode() + b"\n"
                    self.wfile.write(reply)

        self.server = _TCPServer(("127.0.0.1", 0), Handler)


class RudeServer:
    """Accepts connections, reads one chunk, then either never answers (``reset=False``)
    or resets the connection (``reset=True``)."""

    def __init__(self, *, reset: bool) -> None:
        self._reset = reset
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.05)
        self._stop = threading.Event()
        self._held: list[socket.socket] = []
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self.port = self._listener.getsockname()[1]

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            conn.settimeout(2)
            try:
                conn.recv(100)
            except OSError:
                pass
            if self._reset:
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                conn.close()
            else:
                self._held.append(conn)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc_info):
        self._stop.set()
        self._thread.join(10)
        self._listener.close()
        for conn in self._held:
            conn.close()


class _HTTPServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = True


class HttpServer(_Threaded):
    """GET answers ``{"path", "token"}``; POST with a JSON body answers ``{"echo", "token"}`` (201)."""

    def __init__(self, ssl_context=None) -> None:
        super().__init__()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _send(self, status, payload):
                body = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):
                self._send(200, {"path": self.path, "token": outer.token()})

            def do_POST(self):
                data = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                self._send(201, {"echo": data, "token": outer.token()})

            def log_message(self, *args):
                pass

        self.server = _HTTPServer(("127.0.0.1", 0), Handler)
        if ssl_context is not None:
            self.server.socket = ssl_context.wrap_socket(self.server.socket, server_side=True)


def make_certificate(directory) -> tuple[str, str] | None:
    """A self-signed certificate for localhost/127.0.0.1 (cert path, key path), or None."""
    openssl = shutil.which("openssl")
    if not openssl:
        return None
    cert, key = os.path.join(directory, "cert.pem"), os.path.join(directory, "key.pem")
    done = subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert,
         "-days", "2", "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
        capture_output=True, timeout=60,
    )
    return (cert, key) if done.returncode == 0 else None


class Recording:
    """A program being recorded in the background (a server the test talks to)."""

    def __init__(self, app, *args: str, env: dict | None = None) -> None:
        self.proc = subprocess.Popen(
            [LAUNCHER, "--recording", str(app.recording), str(app.script), *args],
            cwd=app.dir, env=_clean_env({"no_proxy": "*", "NO_PROXY": "*", **(env or {})}), stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        first = self.proc.stdout.readline()
        if not first:
            self.proc.kill()
            raise AssertionError(f"the recorded program printed nothing: {self.proc.stderr.read()}")
        self.first_line = first

    def finish(self, timeout: float = 30):
        """Wait for the program to end; (returncode, stdout including the first line, stderr)."""
        try:
            out, err = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.communicate()
            raise
        return self.proc.returncode, self.first_line + out, err
