"""asyncio's selector event loop replays over sockets, selectors and clocks.

Nothing of asyncio is patched: the loop's self-pipe (``socketpair``), its
``epoll`` selector, non-blocking connects and reads, and ``time.monotonic`` are
leaves; so streams, servers, ``sleep`` and timeouts replay, and replay does not
wait for timers.
"""

import os
import ssl
import sys
import time

import pytest

from conftest import assert_same_run, needs
from netsupport import EchoServer, HttpServer, events, make_certificate

ROUND_TRIPS = """
    import asyncio, time

    async def handle(reader, writer):
        line = await reader.readline()
        writer.write(b"got " + line)
        await writer.drain()
        writer.close()
        await writer.wait_closed()

    async def main():
        started = time.monotonic()
        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        for i in range(3):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"hello %d\\n" % i)
            await writer.drain()
            print(await reader.read())
            writer.close()
            await writer.wait_closed()
        await asyncio.sleep(0.3)
        try:
            await asyncio.wait_for(asyncio.sleep(10), 0.3)
        except asyncio.TimeoutError:
            print("wait_for timed out")
        results = await asyncio.gather(*(asyncio.sleep(0.1 * i, result=i) for i in range(4)))
        print("gather", results)
        server.close()
        await server.wait_closed()
        print("elapsed", round(time.monotonic() - started, 1))

    asyncio.run(main())
"""


def test_start_server_open_connection_sleep_and_timeouts(program):
    app = program(ROUND_TRIPS)
    started = time.monotonic()
    recorded = app.record()
    recording_took = time.monotonic() - started
    assert recorded.returncode == 0, recorded.stderr
    assert "wait_for timed out" in recorded.stdout and "elapsed 0.9" in recorded.stdout
    names = set(events(app.recording))
    assert {"socket.socketpair", "select.epoll", "select.epoll.poll", "socket.connect", "socket.recv",
            "socket._accept"} <= names
    started = time.monotonic()
    replayed = app.replay()
    replay_took = time.monotonic() - started
    assert_same_run(recorded, replayed)
    assert replay_took < recording_took - 0.5, (recording_took, replay_took)
    assert_same_run(recorded, app.replay())


CLIENT = """
    import asyncio, sys

    async def main(port):
        for word in ("alpha", "beta"):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(word.encode() + b"\\n")
            await writer.drain()
            print(await asyncio.wait_for(reader.readline(), 5))
            writer.close()
            await writer.wait_closed()
        try:
            await asyncio.open_connection("127.0.0.1", int(sys.argv[2]))
        except OSError as e:
            print("refused", type(e).__name__, e.errno)

    asyncio.run(main(int(sys.argv[1])))
"""


def test_asyncio_client_replays_with_the_server_gone(program):
    import socket

    app = program(CLIENT)
    unused = socket.socket()
    unused.bind(("127.0.0.1", 0))
    with unused, EchoServer() as server:
        recorded = app.record(str(server.port), str(unused.getsockname()[1]))
    assert recorded.returncode == 0, recorded.stderr
    assert len(server.tokens) == 2 and all(t in recorded.stdout for t in server.tokens)
    assert "refused ConnectionRefusedError 111" in recorded.stdout
    assert_same_run(recorded, app.replay())


EAGER_TASKS = """
    import asyncio, os, sys, time

    async def fetch(n, port):
        stamp = time.time()  # (an eager task runs this at once, inside create_task)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(f"task {n}\\n".encode())
        await writer.drain()
        line = await reader.readline()
        writer.close()
        await writer.wait_closed()
        return n, stamp > 0, line.decode().split(" token:")[0], os.urandom(2).hex()

    async def main(port):
        asyncio.get_running_loop().set_task_factory(asyncio.eager_task_factory)
        tasks = [asyncio.create_task(fetch(n, port)) for n in range(4)]
        print("started", [task.done() for task in tasks])
        print(await asyncio.gather(*tasks))

    asyncio.run(main(int(sys.argv[1])))
"""


@pytest.mark.skipif(sys.version_info < (3, 12), reason="asyncio's eager tasks are 3.12's")
def test_eager_tasks_replay_with_the_server_gone(program):
    """3.12's eager task factory: a task's first steps run inside create_task, before the
    caller goes on; the order of its calls (clock, connect, entropy) replays."""
    app = program(EAGER_TASKS)
    with EchoServer() as server:
        recorded = app.record(str(server.port))
    assert recorded.returncode == 0, recorded.stderr
    assert "echo:task 3" in recorded.stdout and len(server.tokens) == 4
    assert_same_run(recorded, app.replay())
    assert_same_run(recorded, app.replay())


TLS_CLIENT = """
    import asyncio, ssl, sys

    async def main(port):
        context = ssl.create_default_context(cafile="cert.pem")
        reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=context,
                                                       server_hostname="localhost")
        writer.write(b"GET /aio HTTP/1.0\\r\\nHost: localhost\\r\\n\\r\\n")
        await writer.drain()
        data = await reader.read()
        print(data.split(b"\\r\\n")[0], data.split(b"\\r\\n\\r\\n")[1])
        print(writer.get_extra_info("ssl_object").version(), writer.get_extra_info("cipher")[0])
        writer.close()
        try:
            await writer.wait_closed()
        except (ssl.SSLError, ConnectionError) as e:
            print("closing", type(e).__name__)

    asyncio.run(main(int(sys.argv[1])))
"""


def test_asyncio_tls_replays_without_server_or_certificates(program, tmp_path):
    made = make_certificate(str(tmp_path))
    if made is None:
        pytest.skip("no openssl command to make a certificate")
    cert, key = made
    app = program(TLS_CLIENT)
    os.replace(cert, app.dir / "cert.pem")
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(app.dir / "cert.pem", key)
    with HttpServer(server_context) as server:
        recorded = app.record(str(server.port))
    assert recorded.returncode == 0, recorded.stderr
    assert len(server.tokens) == 1 and server.tokens[0] in recorded.stdout
    assert "ssl.MemoryBIO.read" in events(app.recording)
    (app.dir / "cert.pem").unlink()
    assert_same_run(recorded, app.replay())


WAITER = """
    import asyncio, select, socket, time
    started = time.perf_counter()
    time.sleep(0.5)
    a, b = socket.socketpair()
    print("select", select.select([a], [], [], 0.5))
    a.settimeout(0.5)
    try:
        a.recv(1)
    except TimeoutError:
        print("recv timed out")
    async def main():
        await asyncio.sleep(0.25)
        try:
            await asyncio.wait_for(asyncio.sleep(5), 0.25)
        except asyncio.TimeoutError:
            print("wait_for timed out")
    asyncio.run(main())
    print("waited", round(time.perf_counter() - started, 1))
"""


def test_replay_of_an_io_bound_program_does_not_wait(program, capsys):
    """Sleeps, select and socket timeouts and asyncio timers: 2 s recorded, replayed at once."""
    app = program(WAITER)
    started = time.monotonic()
    recorded = app.record()
    recording_took = time.monotonic() - started
    assert recorded.returncode == 0, recorded.stderr
    waited = float(recorded.stdout.rsplit("waited ", 1)[1])
    assert waited >= 2.0, recorded.stdout  # (more on a loaded machine)
    started = time.monotonic()
    replayed = app.replay()
    replay_took = time.monotonic() - started
    assert_same_run(recorded, replayed)
    with capsys.disabled():
        sys.stderr.write(f"\n[io-bound program: recorded in {recording_took:.2f} s, "
                         f"replayed in {replay_took:.2f} s]\n")
    assert recording_took >= 2.0 and replay_took < 1.5, (recording_took, replay_took)


DROPPED_LOOPS = """
    import asyncio
    for i in range(60):
        loop = asyncio.new_event_loop()   # never closed: the collector finalizes it, some time
        loop.run_until_complete(asyncio.sleep(0))
        junk = [[j] for j in range(3000)]
    print("done")
"""


def test_event_loops_closed_by_the_garbage_collector(program):
    app = program(DROPPED_LOOPS)
    recorded = app.record()
    assert recorded.returncode == 0, recorded.stderr
    names = events(app.recording)
    assert names.count("select.epoll") == 61 and names.count("select.epoll.close") <= 1
    for _ in range(2):
        assert_same_run(recorded, app.replay())


UVLOOP = """
    import asyncio, time
    import uvloop

    async def handle(reader, writer):
        data = await reader.readline()
        writer.write(b"echo " + data)
        await writer.drain()
        writer.close()

    async def main():
        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        answers = []
        for word in (b"alpha", b"beta"):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(word + b"\\n")
            answers.append(await reader.readline())
            writer.close()
        server.close()
        await server.wait_closed()
        await asyncio.sleep(0.01)
        return answers, isinstance(asyncio.get_running_loop(), uvloop.Loop), time.time() > 0

    print(uvloop.run(main()))
    uvloop.install()
    print(asyncio.run(asyncio.sleep(0, "installed")))
"""


@pytest.mark.compat("uvloop")
def test_uvloop_programs_run_on_a_loop_whose_io_is_recorded(program):
    """uvloop does its I/O in libuv, in C: under retrace its loop is asyncio's (an instance
    of uvloop.Loop), so a server and its clients replay with no network."""
    needs("uvloop")
    app = program(UVLOOP)
    recorded = app.record()
    assert recorded.returncode == 0, recorded.stderr
    assert recorded.stdout == "([b'echo alpha\\n', b'echo beta\\n'], True, True)\ninstalled\n"
    assert_same_run(recorded, app.replay())
