"""Sockets replay with the world gone: servers stopped, no network (``unshare -n``).

Every server the tests start answers with a fresh random token per connection
or request, so a replay that really connected (it cannot, inside ``unshare -n``)
would print other tokens or fail.
"""

import os
import socket
import ssl
import time

import pytest

from conftest import CAN_UNSHARE_NET, LAUNCHER, PYTHON, assert_same_run, run
from netsupport import EchoServer, HttpServer, Recording, RudeServer, events, make_certificate



def record_ok(app, *args, **kwargs):
    recorded = app.record(*args, **kwargs)
    assert recorded.returncode == 0, recorded.stderr
    return recorded


# -- a client --------------------------------------------------------------------------
CLIENT = """
    import socket, sys
    port = int(sys.argv[1])
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    print(type(s) is socket.socket, isinstance(s, socket.SocketType), s.family, s.type, s.gettimeout())
    s.sendall(b"one\\n")
    print("recv", s.recv(1024))
    s.send(b"two\\n")
    buf = bytearray(200)
    n = s.recv_into(buf)
    print("recv_into", n, bytes(buf[:n]))
    f = s.makefile("rwb")
    f.write(b"three\\n")
    f.flush()
    print("makefile", f.readline())
    f.close()
    print(s.getpeername()[1] == port, s.getsockname()[0], s.fileno() > 2)
    s.close()
    print(repr(s))
    with socket.socket() as t:
        t.connect(("127.0.0.1", port))
        t.sendall(b"four\\n")
        print("again", t.recv(1024))
"""


def test_client_replays_the_answers_with_the_server_gone(program):
    app = program(CLIENT)
    with EchoServer() as server:
        recorded = record_ok(app, str(server.port))
    assert len(server.tokens) == 4
    for token in server.tokens:  # the output depends on the server, once per connection
        assert token in recorded.stdout
    names = events(app.recording)
    assert {"socket.connect", "socket.sendall", "socket.recv", "socket.recv_into", "socket.close"} <= set(names)
    replayed = app.replay()
    assert_same_run(recorded, replayed)
    assert_same_run(recorded, app.replay())


WRITELINES = """
    import asyncio, sys

    async def main():
        reader, writer = await asyncio.open_connection("127.0.0.1", int(sys.argv[1]))
        writer.writelines([b"one\\n", b"two\\n"])  # (3.12+: socket.sendmsg of an islice)
        await writer.drain()
        print(await reader.readline(), await reader.readline())
        writer.close()
        await writer.wait_closed()

    asyncio.run(main())
"""


def test_buffers_given_as_an_iterator_are_sent_once_and_replayed(program):
    """``sendmsg`` reads its buffers once: asyncio's ``writelines`` (3.12+) hands it an
    ``islice`` of its queue. Before, the recorder's call key used up the iterator, the real
    call sent nothing, and the program waited for an answer forever while recorded."""
    app = program(WRITELINES)
    with EchoServer() as server:
        recorded = record_ok(app, str(server.port), timeout=30)
    assert recorded.stdout.count("echo:") == 2, recorded.stdout
    assert_same_run(recorded, app.replay())


def test_replay_needs_no_network():
    """The premise of every test here: replays run where nothing can connect."""
    if not CAN_UNSHARE_NET:
        pytest.skip("unshare -n is not available")
    probe = "import socket\ntry:\n socket.create_connection(('127.0.0.1', 9), timeout=1)\nexcept OSError as e:\n print(e.errno)"
    result = run(["unshare", "-n", PYTHON, "-c", probe])
    assert result.stdout.strip() in ("101", "111"), result  # ENETUNREACH or ECONNREFUSED


# -- a server --------------------------------------------------------------------------
SERVER = """
    import socket, os
    server = socket.create_server(("127.0.0.1", 0))
    print(server.getsockname()[1], flush=True)
    for i in range(3):
        conn, addr = server.accept()
        with conn:
            request = conn.recv(1024)
            token = os.urandom(4).hex()
            conn.sendall(b"answer to " + request + b" " + token.encode())
            print("served", addr[0], request, token, flush=True)
    server.close()
    print("done")
"""


def test_recorded_server_replays_the_connections_it_accepted(program):
    app = program(SERVER)
    recording = Recording(app)
    port = int(recording.first_line)
    answers = []
    payloads = [os.urandom(6).hex().encode() for _ in range(3)]
    for payload in payloads:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as client:
            client.sendall(payload)
            answers.append(client.recv(1024))
    code, out, err = recording.finish()
    assert code == 0, err
    for payload, answer in zip(payloads, answers):
        assert payload.decode() in out and answer.startswith(b"answer to " + payload)
    replayed = app.replay(timeout=20)  # no client now: a real accept() would wait forever
    assert (replayed.returncode, replayed.stdout, replayed.stderr) == (code, out, err)


# -- errors --------------------------------------------------------------------------------
ERRORS = """
    import socket, sys, time
    refused_port, silent_port, reset_port = map(int, sys.argv[1:])
    def attempt(what, call):
        started = time.monotonic()
        try:
            result = call()
        except OSError as e:
            print(what, type(e).__name__, e.errno, e, isinstance(e, socket.timeout))
        else:
            print(what, "ok", result)
    attempt("refused", lambda: socket.create_connection(("127.0.0.1", refused_port)))
    s = socket.create_connection(("127.0.0.1", silent_port))
    s.settimeout(0.4)
    s.sendall(b"hello")
    attempt("timeout", lambda: s.recv(10))
    s.close()
    r = socket.create_connection(("127.0.0.1", reset_port))
    r.sendall(b"hello")
    time.sleep(0.2)
    attempt("reset", lambda: r.recv(10))
    r.close()
    attempt("dns", lambda: socket.getaddrinfo("no-such-host.invalid", 80))
    attempt("gethostbyname", lambda: socket.gethostbyname("no-such-host.invalid"))
    n = socket.socket()
    n.setblocking(False)
    attempt("non-blocking", lambda: n.connect(("127.0.0.1", silent_port)))
    print(n.getblocking(), n.gettimeout())
    n.close()
    attempt("closed", lambda: n.send(b"x"))
"""


def test_errors_replay_as_the_same_exceptions(program):
    app = program(ERRORS)
    unused = socket.socket()
    unused.bind(("127.0.0.1", 0))  # bound, not listening: connections are refused
    with unused, RudeServer(reset=False) as silent, RudeServer(reset=True) as resetting:
        recorded = record_ok(app, str(unused.getsockname()[1]), str(silent.port), str(resetting.port),
                             env={"RES_OPTIONS": "timeout:1 attempts:1"})  # a slow resolver stays quick
    out = recorded.stdout
    assert "refused ConnectionRefusedError 111" in out
    assert "timeout TimeoutError None timed out True" in out
    assert "reset ConnectionResetError 104" in out
    assert "dns gaierror" in out and "gethostbyname gaierror" in out
    assert "non-blocking BlockingIOError 115" in out
    assert "closed OSError 9" in out
    started = time.monotonic()
    replayed = app.replay()
    assert time.monotonic() - started < 5
    assert_same_run(recorded, replayed)


# -- local sockets ---------------------------------------------------------------------------
LOCAL = """
    import socket, os, array
    a, b = socket.socketpair()
    print("pair", a.family, a.type, a.proto, type(a) is socket.socket)
    b.sendall(b"ping")
    print(a.recv(10))
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.bind(("127.0.0.1", 0))
    v = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    v.sendto(b"datagram", u.getsockname())
    data, addr = u.recvfrom(100)
    print("udp", data, addr[0], addr[1] == v.getsockname()[1])
    v.sendto(b"into", 0, u.getsockname())
    buf = bytearray(10)
    n, addr = u.recvfrom_into(buf)
    print("udp into", n, bytes(buf[:n]))
    u.close(); v.close()
    path = os.path.abspath("server.sock")
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(path)
    listener.listen()
    client = socket.socket(socket.AF_UNIX)
    client.connect(path)
    conn, _ = listener.accept()
    print("unix", conn.getsockname() == path, os.path.exists(path))
    r, w = os.pipe()
    socket.send_fds(client, [b"fds"], [r])
    msg, fds, flags, addr = socket.recv_fds(conn, 10, 2)
    print("fds", msg, len(fds))
    client.sendmsg([b"scat", b"tered"])
    bufs = [bytearray(3), bytearray(10)]
    n, anc, flags, addr = conn.recvmsg_into(bufs)
    print("recvmsg_into", n, bufs)
    d = conn.dup()
    print("dup", d.family, d.fileno() != conn.fileno())
    e = socket.fromfd(conn.fileno(), socket.AF_UNIX, socket.SOCK_STREAM)
    print("fromfd", e.type, e.getsockopt(socket.SOL_SOCKET, socket.SO_TYPE))
    print("detach", e.detach() > 2, e.fileno())
    for s in (d, conn, client, listener, a, b):
        s.close()
    os.unlink(path)
    print(socket.getaddrinfo("127.0.0.1", 80, type=socket.SOCK_STREAM))
    print(socket.gethostbyname("127.0.0.1"), socket.getnameinfo(("127.0.0.1", 80), socket.NI_NUMERICHOST))
"""


def test_local_sockets_unix_paths_and_descriptors(program):
    app = program(LOCAL)
    recorded = record_ok(app)
    assert "unix True True" in recorded.stdout
    assert not (app.dir / "server.sock").exists()
    replayed = app.replay()
    assert_same_run(recorded, replayed)
    assert not (app.dir / "server.sock").exists()  # replay binds nothing


# -- replay makes no socket at all --------------------------------------------------------------
MANY = """
    import socket
    sockets = [socket.socket() for _ in range(1500)]
    a, b = socket.socketpair()
    print(len(sockets), sockets[-1].fileno(), a.fileno(), b.fileno())
"""


def test_replay_opens_no_descriptor_for_the_sockets_it_replays(program):
    """1500 sockets recorded; replayed with a limit of 40 open descriptors."""
    app = program(MANY)
    recorded = run(["bash", "-c", f'ulimit -n 4096 && exec "$0" --recording "$1" "$2"', LAUNCHER,
                    str(app.recording), str(app.script)], cwd=app.dir)
    assert recorded.returncode == 0, recorded.stderr
    assert recorded.stdout.startswith("1500 ")
    plain = run(["bash", "-c", 'ulimit -n 40 && exec "$0" "$1"', PYTHON, str(app.script)], cwd=app.dir)
    assert "Too many open files" in plain.stderr  # real sockets would not fit
    replayed = run(["bash", "-c", 'ulimit -n 40 && exec "$0" --replay "$1"', LAUNCHER, str(app.recording)])
    assert_same_run(recorded, replayed)


# -- the garbage collector closes files and sockets at other moments on replay -----------------
GC = """
    import socket, gc
    class Holder:
        def __init__(self, f):
            self.f = f
            self.me = self
    total = 0
    for i in range(300):
        a, b = socket.socketpair()
        f = a.makefile("rb")
        a.close()          # the real close waits for the file ...
        Holder(f)          # ... which lives in a cycle: the collector closes it, some time
        b.send(b"hi")
        total += len(b.recv(0) or b"")
        b.close()
        junk = [[j] for j in range(50)]
        lost = socket.socket()  # never closed: its finalizer closes it
    print("done", total)
"""


def test_closes_made_by_the_garbage_collector_are_not_events(program):
    app = program(GC)
    recorded = record_ok(app)
    for _ in range(2):
        assert_same_run(recorded, app.replay())


# -- TLS -------------------------------------------------------------------------------------
TLS = """
    import socket, ssl, sys, http.client, json
    port = int(sys.argv[1])
    ctx = ssl.create_default_context(cafile="cert.pem")
    print(ctx.cert_store_stats()["x509_ca"], len(ctx.get_ca_certs()))
    with socket.create_connection(("127.0.0.1", port)) as raw:
        with ctx.wrap_socket(raw, server_hostname="localhost") as s:
            print(type(s).__name__, isinstance(s, socket.socket), s.version(), s.cipher()[0])
            print(s.getpeercert()["subject"], len(s.getpeercert(True)), s.selected_alpn_protocol())
            s.sendall(b"GET /raw HTTP/1.0\\r\\nHost: localhost\\r\\n\\r\\n")
            data = b""
            while chunk := s.recv(4096):
                data += chunk
            print(data.split(b"\\r\\n")[0], json.loads(data.split(b"\\r\\n\\r\\n")[1]))
    c = http.client.HTTPSConnection("localhost", port, context=ctx, timeout=5)
    c.request("POST", "/https", body=json.dumps({"n": 1}), headers={"Content-Type": "application/json"})
    r = c.getresponse()
    print(r.status, json.loads(r.read()))
    c.close()
    try:
        ssl.create_default_context().wrap_socket(socket.create_connection(("127.0.0.1", port)),
                                                 server_hostname="localhost")
    except ssl.SSLCertVerificationError as e:
        print("untrusted", type(e).__name__, e.reason)
"""


def test_tls_replays_without_server_or_certificates(program, tmp_path):
    made = make_certificate(str(tmp_path))
    if made is None:
        pytest.skip("no openssl command to make a certificate")
    cert, key = made
    app = program(TLS)
    os.replace(cert, app.dir / "cert.pem")
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(app.dir / "cert.pem", key)
    keylog = tmp_path / "keys.log"  # create_default_context() opens it in C when this is set
    with HttpServer(server_context) as server:
        recorded = record_ok(app, str(server.port), env={"SSLKEYLOGFILE": str(keylog)})
    assert len(server.tokens) == 2 and all(t in recorded.stdout for t in server.tokens)
    assert "TLSv1.3" in recorded.stdout and "untrusted SSLCertVerificationError" in recorded.stdout
    assert keylog.stat().st_size > 0
    keylog.unlink()
    (app.dir / "cert.pem").unlink()
    os.unlink(key)
    assert_same_run(recorded, app.replay())
    assert not keylog.exists()
