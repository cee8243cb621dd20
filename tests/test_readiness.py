"""select/poll/epoll/selectors replay the recorded readiness, at once.

The programs wait on sockets fed by a server of the test (stopped before
replay) and on timeouts; replay hands back the recorded ready lists without
waiting, and must not be slowed by the recorded timeouts.
"""

import time

from conftest import assert_same_run
from netsupport import EchoServer, events


READINESS = """
    import socket, select, selectors, sys, time
    port = int(sys.argv[1])
    remote = socket.create_connection(("127.0.0.1", port))
    a, b = socket.socketpair()
    b.sendall(b"ping")
    remote.sendall(b"hello\\n")
    time.sleep(0.2)
    r, w, x = select.select([remote, a, b], [b], [], 2.0)
    print("select", [s is remote for s in r], [s is a for s in r], [s is b for s in w], x)
    print("token", remote.recv(100).split()[-1])
    print("select by number", select.select([a.fileno()], (), [], 0) == ([a.fileno()], [], []))
    a.recv(100)
    print("select timeout", select.select([a], [], [], 0.3))

    p = select.poll()
    p.register(a, select.POLLIN)
    p.register(remote)
    remote.sendall(b"again\\n")
    time.sleep(0.2)
    print("poll", sorted((fd == remote.fileno(), ev) for fd, ev in p.poll(1000)))
    print("token", remote.recv(100).split()[-1])
    p.modify(remote, select.POLLOUT)
    print("poll out", [(fd == remote.fileno(), ev) for fd, ev in p.poll(1000)])
    p.unregister(remote)
    try:
        p.unregister(remote)
    except KeyError:
        print("poll: unregister twice raises KeyError")
    print("poll timeout", p.poll(300))

    ep = select.epoll()
    print("epoll", type(ep).__name__, ep.fileno() > 2, ep.closed)
    ep.register(a.fileno(), select.EPOLLIN)
    b.send(b"x")
    print("epoll ready", [(fd == a.fileno(), ev) for fd, ev in ep.poll(1)])
    a.recv(10)
    print("epoll timeout", ep.poll(0.3))
    try:
        ep.register(a, select.EPOLLIN)
    except FileExistsError as e:
        print("epoll twice", e.errno)
    with open(__file__) as f:
        try:
            ep.register(f, select.EPOLLIN)
        except PermissionError as e:
            print("epoll on a file", e.errno)
    ep.unregister(a)
    ep.close()
    print("epoll closed", ep.closed)
    try:
        ep.fileno()
    except ValueError as e:
        print(e)

    print(type(selectors.DefaultSelector()).__name__)
    for cls in (selectors.DefaultSelector, selectors.PollSelector, selectors.SelectSelector,
                selectors.EpollSelector):
        with cls() as sel:
            sel.register(a, selectors.EVENT_READ, "a")
            sel.register(remote, selectors.EVENT_READ, "remote")
            remote.sendall(b"more\\n")
            b.send(b"y")
            time.sleep(0.1)
            ready = sorted(key.data for key, ev in sel.select(1))
            print(cls.__name__, ready, remote.recv(100).split()[-1], a.recv(10))
            print(cls.__name__, "timeout", sel.select(0.1))

    class Holder:  # a builtin kept as a class attribute does not become a method
        wait = select.select
    print("class attribute", Holder().wait([], [], [], 0))
    from select import select as imported
    print("alias", imported([b], [], [], 0))
    for s in (a, b, remote):
        s.close()
"""


def test_select_poll_epoll_selectors_replay_at_once(program):
    app = program(READINESS)
    with EchoServer() as server:
        started = time.monotonic()
        recorded = app.record(str(server.port))
        recording_took = time.monotonic() - started
    assert recorded.returncode == 0, recorded.stderr
    assert len(server.tokens) == 6
    for token in server.tokens:
        assert token in recorded.stdout
    assert "epoll twice 17" in recorded.stdout and "epoll on a file 1" in recorded.stdout
    assert "select [True, False] [False, True] [True] []" in recorded.stdout
    names = set(events(app.recording))
    assert {"select.select", "select.poll.poll", "select.epoll", "select.epoll.poll", "select.epoll.register",
            "select.epoll.close"} <= names
    started = time.monotonic()
    replayed = app.replay()
    replay_took = time.monotonic() - started
    assert_same_run(recorded, replayed)
    assert recording_took > 2.0 and replay_took < recording_took - 1.0, (recording_took, replay_took)


BUILTINS_IN_CLASSES = """
    import logging, selectors, socket, time
    class Clock:
        now = time.monotonic  # a builtin in a class: called without the instance
    print(type(Clock().now()).__name__)
    logging.basicConfig(format="%(asctime)s %(levelname)s %(message)s")  # Formatter.converter = time.localtime
    logging.warning("logged")
    a, b = socket.socketpair()
    b.send(b"x")
    with selectors.SelectSelector() as sel:  # SelectSelector._select = select.select
        sel.register(a, selectors.EVENT_READ)
        print([key.fileobj is a for key, events in sel.select(1)])
"""


def test_replaced_builtins_kept_as_class_attributes_are_not_methods(program):
    """The installer keeps replacements of builtin functions unbound, as the builtins are."""
    app = program(BUILTINS_IN_CLASSES)
    recorded = app.record()
    assert recorded.returncode == 0, recorded.stderr
    assert recorded.stdout == "float\n[True]\n" and " WARNING logged" in recorded.stderr
    time.sleep(1.1)  # the logged time must come from the recording
    assert_same_run(recorded, app.replay())
