"""Rows of the compatibility matrix (tests/compat_matrix.py): HTTP client libraries
against a server outside the recording (gone at replay), and numpy's random
generators (seeded from the entropy pool)."""

from __future__ import annotations

import pytest

from conftest import assert_same_run, needs
from netsupport import HttpServer
from threadsupport import record_ok, replay_ok

HTTPX = """
    import asyncio, sys, httpx
    base = f"http://127.0.0.1:{sys.argv[1]}"
    with httpx.Client(trust_env=False) as client:
        print("get", client.get(f"{base}/a").json())
        print("post", client.post(f"{base}/b", json={"n": 1}).status_code)

    async def main():
        async with httpx.AsyncClient(trust_env=False) as client:
            answers = await asyncio.gather(*(client.get(f"{base}/c{i}") for i in range(3)))
        print("async", sorted(answer.json()["path"] for answer in answers), len({a.json()["token"] for a in answers}))

    asyncio.run(main())
"""

AIOHTTP = """
    import asyncio, sys, aiohttp
    base = f"http://127.0.0.1:{sys.argv[1]}"

    async def main():
        async with aiohttp.ClientSession(trust_env=False) as session:
            async def get(path):
                async with session.get(f"{base}{path}") as answer:
                    return await answer.json()
            answers = await asyncio.gather(*(get(f"/d{i}") for i in range(3)))
            async with session.post(f"{base}/e", json={"k": "v"}) as answer:
                posted = (answer.status, await answer.json())
        print("aiohttp", sorted(a["path"] for a in answers), posted[0], posted[1]["echo"])

    asyncio.run(main())
"""


@pytest.mark.compat("httpx-aiohttp")
@pytest.mark.parametrize("library, source, requests_made", [("httpx", HTTPX, 5), ("aiohttp", AIOHTTP, 4)])
def test_http_client_libraries(program, library, source, requests_made):
    pytest.importorskip(library)
    app = program(source)
    with HttpServer() as server:
        recorded = record_ok(app, str(server.port), env={"no_proxy": "*"})
    assert len(server.tokens) == requests_made
    assert_same_run(recorded, replay_ok(app))


NUMPY = """
    import numpy as np
    rng = np.random.default_rng()
    print("rng", rng.integers(0, 1000, 5).tolist(), float(rng.random()))
    print("legacy", np.random.randint(0, 1000, 3).tolist(), float(np.random.rand()))
    print("seeded", np.random.default_rng(42).integers(0, 100, 3).tolist())
"""


@pytest.mark.compat("numpy")
def test_numpy_random_generators(program):
    pytest.importorskip("numpy")
    app = program(NUMPY)
    recorded = record_ok(app)
    assert_same_run(recorded, replay_ok(app))


PYOPENSSL = """
    import socket, threading
    from OpenSSL import SSL, crypto

    key = crypto.PKey()
    key.generate_key(crypto.TYPE_RSA, 2048)
    cert = crypto.X509()
    cert.get_subject().CN = "localhost"
    cert.set_serial_number(7)
    cert.gmtime_adj_notBefore(0)
    cert.gmtime_adj_notAfter(3600)
    cert.set_issuer(cert.get_subject())
    cert.set_pubkey(key)
    cert.sign(key, "sha256")
    server_context = SSL.Context(SSL.TLS_METHOD)
    server_context.use_privatekey(key)
    server_context.use_certificate(cert)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)

    def serve():
        accepted, _ = listener.accept()
        tls = SSL.Connection(server_context, accepted)
        tls.set_accept_state()
        tls.do_handshake()
        tls.sendall(b"echo:" + tls.recv(100))
        tls.shutdown()
        accepted.close()

    server = threading.Thread(target=serve)
    server.start()
    client = SSL.Connection(SSL.Context(SSL.TLS_METHOD), socket.create_connection(listener.getsockname()))
    client.set_connect_state()
    client.do_handshake()
    client.sendall(b"hello")
    print(client.recv(100), client.get_protocol_version_name(), client.get_cipher_name() is not None)
    print(client.get_peer_certificate().get_subject().CN, client.get_peer_certificate().get_serial_number())
    server.join()
"""


@pytest.mark.compat("pyopenssl")
def test_pyopenssl_server_and_client(program):
    """OpenSSL reads and writes the sockets' descriptors in C: recorded at pyOpenSSL's
    API, the replay never touches a socket (before, OpenSSL failed with EBADF there)."""
    needs("OpenSSL")
    app = program(PYOPENSSL)
    recorded = app.record(timeout=120)
    assert recorded.returncode == 0, recorded.stderr
    assert recorded.stdout.startswith("b'echo:hello' TLSv1.3 True\nlocalhost 7\n"), recorded.stdout
    for _ in range(2):
        assert_same_run(recorded, app.replay(timeout=120))
