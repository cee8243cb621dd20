"""Rows of the compatibility matrix (tests/compat_matrix.py): libraries that do their I/O
and their waiting in C (issue #14) -- pyzmq, gRPC -- and the threads that wait there.

A thread blocked inside a C call that is no boundary must never stop the others (the
scheduler switches it out where it is), and what libzmq and gRPC's core send and receive
is recorded at their Python API, so the replay (in a network namespace with no
interfaces) reaches no peer."""

from __future__ import annotations

import os
import signal
import subprocess
import textwrap

import pytest

from conftest import PYTHON, assert_same_run, needs, run
from threadsupport import record_ok, replay_ok


def _twice(app, recorded):
    for _ in range(2):
        assert_same_run(recorded, replay_ok(app))


C_QUEUE = """
    import _queue, threading, time

    jobs = _queue.SimpleQueue()  # the C one: get() waits in C, and no boundary of retrace's is there
    seen = []

    def producer():
        for number in range(5):
            seen.append((number, time.time() > 0))
            jobs.put(number * 10)

    thread = threading.Thread(target=producer)
    thread.start()
    print([jobs.get() for _ in range(5)], len(seen))
    thread.join()
"""


def test_a_thread_blocked_in_c_does_not_stop_the_others(program):
    """The main thread waits in C for a queue only the other thread fills: recording would
    hang if the waiting thread kept its turn; replay must switch it out at the same call."""
    app = program(C_QUEUE)
    recorded = record_ok(app, timeout=60)
    assert recorded.stdout == "[0, 10, 20, 30, 40] 5\n"
    _twice(app, recorded)


ZMQ_THREADS = """
    import threading
    import zmq

    context = zmq.Context.instance()
    ports, ready = [], threading.Event()

    def server():
        socket = context.socket(zmq.REP)
        ports.append(socket.bind_to_random_port("tcp://127.0.0.1"))
        ready.set()
        poller = zmq.Poller()
        poller.register(socket, zmq.POLLIN)
        answered = 0
        while answered < 3:
            if socket in dict(poller.poll(2000)):
                request = socket.recv_json()
                socket.send_json({"echo": request, "n": answered})
                answered += 1
        socket.close()

    thread = threading.Thread(target=server)
    thread.start()
    ready.wait()
    client = context.socket(zmq.REQ)
    client.connect(f"tcp://127.0.0.1:{ports[0]}")
    for number in range(3):
        client.send_json({"i": number})
        print(client.recv_json())
    publisher, subscriber = context.socket(zmq.PUB), context.socket(zmq.SUB)
    port = publisher.bind_to_random_port("tcp://127.0.0.1")
    subscriber.connect(f"tcp://127.0.0.1:{port}")
    subscriber.setsockopt_string(zmq.SUBSCRIBE, "news")
    received = None
    for _ in range(200):  # (a subscription takes a moment to reach the publisher)
        publisher.send_multipart([b"news", b"payload"])
        if subscriber.poll(20):
            received = subscriber.recv_multipart()
            break
    print(received, isinstance(client, zmq.Socket), client.type == zmq.REQ)
    for socket in (client, publisher, subscriber):
        socket.close()
    thread.join()
    context.term()
"""


@pytest.mark.compat("pyzmq")
def test_pyzmq_between_threads(program):
    needs("zmq")
    app = program(ZMQ_THREADS)
    recorded = record_ok(app, timeout=60)
    assert "{'echo': {'i': 2}, 'n': 2}" in recorded.stdout
    assert "[b'news', b'payload'] True True" in recorded.stdout
    _twice(app, recorded)


ZMQ_PROCESSES = """
    import multiprocessing, sys
    import zmq

    def worker(port):
        context = zmq.Context()
        socket = context.socket(zmq.PULL)
        socket.connect(f"tcp://127.0.0.1:{port}")
        total = sum(socket.recv_pyobj() for _ in range(4))
        print("worker got", total, flush=True)
        socket.close()
        context.term()

    if __name__ == "__main__":
        multiprocessing.set_start_method(sys.argv[1])
        context = zmq.Context()
        pusher = context.socket(zmq.PUSH)
        port = pusher.bind_to_random_port("tcp://127.0.0.1")
        child = multiprocessing.Process(target=worker, args=(port,))
        child.start()
        for number in (1, 2, 3, 4):
            pusher.send_pyobj(number)
        child.join()
        print("parent done", child.exitcode)
        pusher.close()
        context.term()
"""


@pytest.mark.compat("pyzmq")
@pytest.mark.parametrize("start_method", ["fork", "spawn"])
def test_pyzmq_between_processes(program, start_method):
    needs("zmq")
    app = program(ZMQ_PROCESSES)
    recorded = record_ok(app, start_method, timeout=90)
    assert recorded.stdout == "worker got 10\nparent done 0\n"
    _twice(app, recorded)


GRPC_SERVER = """
    import sys, time
    from concurrent import futures
    import grpc

    def echo(request, context):
        if request == b"slow":
            time.sleep(3)
        if request == b"bad":
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "no bad requests")
        return b"echo:" + request

    def count(request, context):
        for number in range(int(request)):
            yield b"n%d" % number

    handlers = grpc.method_handlers_generic_handler("demo.Demo", {
        "Echo": grpc.unary_unary_rpc_method_handler(echo),
        "Count": grpc.unary_stream_rpc_method_handler(count),
    })
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    server.add_generic_rpc_handlers((handlers,))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    print(port, flush=True)
    if sys.argv[1:] == ["serve"]:
        server.wait_for_termination()
    else:  # a client in the same program
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            print(channel.unary_unary("/demo.Demo/Echo")(b"hello", timeout=10))
        server.stop(None)
"""

GRPC_CLIENT = """
    import sys
    import grpc

    with grpc.insecure_channel(f"127.0.0.1:{sys.argv[1]}") as channel:
        echo = channel.unary_unary("/demo.Demo/Echo")
        print(echo(b"hello", timeout=10))
        print(list(channel.unary_stream("/demo.Demo/Count")(b"3", timeout=10)))
        response, call = echo.with_call(b"again", timeout=10)
        print(response, call.code())
        for request in (b"bad", b"slow"):
            try:
                echo(request, timeout=0.5)
            except grpc.RpcError as exc:
                print(type(exc).__name__, exc.code(), exc.details())
        print(echo.future(b"later", timeout=10).result())
"""


@pytest.mark.compat("grpc")
def test_grpc_client_against_a_server_in_another_process(program, tmp_path):
    needs("grpc")
    server_script = tmp_path / "server.py"
    server_script.write_text(textwrap.dedent(GRPC_SERVER))
    server = subprocess.Popen([PYTHON, str(server_script), "serve"], stdout=subprocess.PIPE, text=True)
    try:
        port = server.stdout.readline().strip()
        assert port.isdigit()
        app = program(GRPC_CLIENT)
        recorded = record_ok(app, port, timeout=60)
    finally:
        os.kill(server.pid, signal.SIGKILL)
        server.wait()
    assert recorded.stdout.splitlines() == [
        "b'echo:hello'", "[b'n0', b'n1', b'n2']", "b'echo:again' StatusCode.OK",
        "_InactiveRpcError StatusCode.INVALID_ARGUMENT no bad requests",
        "_InactiveRpcError StatusCode.DEADLINE_EXCEEDED Deadline Exceeded", "b'echo:later'"]
    _twice(app, recorded)  # the server is gone


@pytest.mark.compat("grpc")
def test_grpc_server_and_client_in_one_recorded_program(program):
    """gRPC's threads wait in C: recording must finish and print what a plain run prints
    (a server in the recorded program is not replayed yet: its port is the outside world)."""
    needs("grpc")
    app = program(GRPC_SERVER)
    plain = run([PYTHON, str(app.script)], cwd=app.dir)
    recorded = record_ok(app, timeout=60)
    assert recorded.stdout.splitlines()[1:] == plain.stdout.splitlines()[1:] == ["b'echo:hello'"]
