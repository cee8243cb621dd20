"""The net family's recorded values and patches: they round-trip with their types, name real
functions, and our socket class is a subclass of the real one."""

import socket
import ssl

from retrace.boundaries import _socketobj, net


def test_recorded_values_round_trip_with_their_types():
    from retrace.trace.values import decode_tag, to_wire
    from retrace.trace import cbor

    def round_trip(value):
        return cbor.loads(cbor.dumps(to_wire(value)), tag_hook=decode_tag)

    samples = [
        (b"data", ("127.0.0.1", 8080)),                              # recvfrom
        (5, [(1, 1, b"\x03\x00\x00\x00")], 0, None),                  # recvmsg_into, as stored
        [(2, 1, 6, "", ("127.0.0.1", 80))],                           # getaddrinfo
        ("localhost", ["alias"], ["127.0.0.1"]),                      # gethostbyname_ex
        {"subject": ((("commonName", "localhost"),),), "version": 3},  # getpeercert
        ("TLS_AES_256_GCM_SHA384", "TLSv1.3", 256),                   # cipher
    ]
    for value in samples:
        back = round_trip(value)
        assert back == value and type(back) is type(value)


def test_every_resolver_patch_names_a_real_function():
    import _socket

    for patch in net.FAMILY.patches:
        if patch.module == "_socket" and not patch.optional:
            assert callable(getattr(_socket, patch.attr)), patch
        if patch.module == "ssl" and patch.attr.startswith("SSLContext."):
            assert hasattr(ssl.SSLContext, patch.attr.partition(".")[2]), patch


def test_socket_class_is_a_subclass_of_the_real_one():
    from retrace.engine.replayer import Replayer

    class FakeReader:
        path, tear = "x", None

        def chunks(self):
            return iter(())

    engine = Replayer(FakeReader(), stop=lambda error: None)
    cls = _socketobj.make_socket_class(engine, socket.socket)
    assert issubclass(cls, socket.socket) and cls.__name__ == "socket" and cls.__module__ == "socket"
    sock = cls.__new__(cls)
    assert sock.__class__.__qualname__ == "socket"
    for name in ("recv", "send", "connect", "accept", "makefile", "recv_into", "sendall", "dup"):
        assert callable(getattr(cls, name))
