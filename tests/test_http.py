"""HTTP clients and servers replay because the layers below them do.

No library is patched here: ``http.client``, ``urllib.request``, ``requests``/
``urllib3``, ``http.server`` and werkzeug/Flask run for real in both modes over
the socket, resolver and readiness leaves. Servers are stopped (and clients
absent) on replay, which runs without network where possible.
"""

import json
import os

import pytest

from conftest import assert_same_run
from netsupport import HttpServer, Recording, events

try:
    import requests
except ImportError:  # pragma: no cover - a test extra
    requests = None


def record_ok(app, *args, **kwargs):
    recorded = app.record(*args, **kwargs)
    assert recorded.returncode == 0, recorded.stderr
    return recorded


STDLIB_CLIENTS = """
    import http.client, urllib.request, urllib.error, json, sys
    port = int(sys.argv[1])
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    c.request("GET", "/first")
    r = c.getresponse()
    print(r.status, r.getheader("Content-Type"), json.loads(r.read()))
    c.request("POST", "/second", body=json.dumps({"x": 1}), headers={"Content-Type": "application/json"})
    r = c.getresponse()
    print(r.status, json.loads(r.read()))
    c.close()
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/third") as r:
        print("urllib", r.status, json.loads(r.read()))
    request = urllib.request.Request(f"http://localhost:{port}/fourth", data=json.dumps({"y": [1, 2]}).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request) as r:
        print("urllib post", r.status, json.loads(r.read()))
    try:
        urllib.request.urlopen(f"http://127.0.0.1:{port + 1 if port < 65535 else 1}/nothing", timeout=2)
    except urllib.error.URLError as e:
        print("urllib error", type(e.reason).__name__)
"""


@pytest.mark.compat("stdlib-http")
def test_http_client_and_urllib_get_and_post_json(program):
    app = program(STDLIB_CLIENTS)
    with HttpServer() as server:
        recorded = record_ok(app, str(server.port), env={"no_proxy": "*"})
    assert len(server.tokens) == 4
    for token in server.tokens:
        assert token in recorded.stdout
    assert "socket.sendall" in events(app.recording)
    assert_same_run(recorded, app.replay())


REQUESTS = """
    import requests, sys
    port = int(sys.argv[1])
    base = f"http://127.0.0.1:{port}"
    r = requests.get(f"{base}/get", params={"q": "a b"})
    print(r.status_code, r.headers["Content-Type"], r.json())
    with requests.Session() as session:
        r = session.post(f"{base}/post", json={"order": 7, "items": ["x", "y"]})
        print(r.status_code, r.json())
        print(session.get(f"{base}/again", timeout=5).json())
    try:
        requests.get("http://no-such-host.invalid/", timeout=2)
    except requests.exceptions.ConnectionError as e:
        print("dns failure", type(e).__name__)
"""


@pytest.mark.compat("requests")
@pytest.mark.skipif(requests is None, reason="requests is not installed")
def test_requests_get_post_and_session(program):
    app = program(REQUESTS)
    with HttpServer() as server:
        recorded = record_ok(app, str(server.port), env={"no_proxy": "*", "RES_OPTIONS": "timeout:1 attempts:1"})
    assert len(server.tokens) == 3
    for token in server.tokens:
        assert token in recorded.stdout
    assert "dns failure ConnectionError" in recorded.stdout
    assert_same_run(recorded, app.replay())


SERVER = """
    import http.server, json, os
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = json.dumps({"path": self.path, "id": os.urandom(3).hex()}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        def do_POST(self):
            data = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            print("posted", data, flush=True)
            self.send_response(204)
            self.end_headers()
    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    print(server.server_address[1], flush=True)
    for _ in range(3):
        server.handle_request()
    server.server_close()
    print("served 3")
"""


def test_recorded_http_server_replays_its_requests_without_clients(program):
    import urllib.request

    app = program(SERVER)
    recording = Recording(app)
    base = f"http://127.0.0.1:{int(recording.first_line)}"
    secret = os.urandom(4).hex()
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    got = [json.loads(opener.open(f"{base}/a?{secret}", timeout=10).read())]
    post = urllib.request.Request(f"{base}/b", data=json.dumps({"secret": secret}).encode())
    assert opener.open(post, timeout=10).status == 204
    got.append(json.loads(opener.open(f"{base}/c", timeout=10).read()))
    code, out, err = recording.finish()
    assert code == 0, err
    assert f"posted {{'secret': '{secret}'}}" in out and f'"GET /a?{secret} HTTP/1.1" 200' in err
    replayed = app.replay(timeout=20)  # nobody connects now: a real accept() would wait forever
    assert (replayed.returncode, replayed.stdout, replayed.stderr) == (code, out, err)
    assert got[0]["path"] == f"/a?{secret}"


FLASK_APP = """
    import sys, requests
    from flask import Flask, request, jsonify
    from werkzeug.serving import make_server

    PRICES = f"http://127.0.0.1:{sys.argv[1]}"
    app = Flask(__name__)

    @app.post("/order")
    def order():
        data = request.get_json()
        price = requests.get(f"{PRICES}/price/{data['item']}", timeout=5).json()
        if data["quantity"] <= 0:
            raise ValueError(f"bad order: quantity {data['quantity']}")
        return jsonify(item=data["item"], total=data["quantity"] * 10, price_token=price["token"])

    server = make_server("127.0.0.1", 0, app, threaded=False)
    print(server.server_port, flush=True)
    for _ in range(3):
        server.handle_request()
    server.server_close()
    raise SystemExit(1)
"""


@pytest.mark.compat("flask")
def test_flask_app_calling_an_http_service_replays_responses_and_traceback(program):
    pytest.importorskip("flask")
    if requests is None:
        pytest.skip("requests is not installed")
    app = program(FLASK_APP)
    with HttpServer() as prices:
        recording = Recording(app, str(prices.port))
        base = f"http://127.0.0.1:{int(recording.first_line)}"
        client = requests.Session()
        client.trust_env = False
        answers = [client.post(f"{base}/order", json={"item": "book", "quantity": q}, timeout=10)
                   for q in (2, 3, -1)]
        code, out, err = recording.finish()
    assert code == 1, err
    assert [a.status_code for a in answers] == [200, 200, 500]
    assert [a.json()["price_token"] for a in answers[:2]] == prices.tokens[:2]
    assert "ValueError: bad order: quantity -1" in err and "Exception on /order [POST]" in err
    replayed = app.replay(timeout=30)
    assert (replayed.returncode, replayed.stdout, replayed.stderr) == (code, out, err)


FLASK_THREADED = """
    import os, sys, time
    from flask import Flask, jsonify, request
    from werkzeug.serving import make_server

    app = Flask(__name__)
    hits = []

    @app.get("/item/<int:n>")
    def item(n):
        time.sleep(0.01 * (n % 3))   # requests overlap
        hits.append(n)
        return jsonify(n=n, token=os.urandom(3).hex(), at=time.time(), seen=len(hits))

    server = make_server("127.0.0.1", 0, app, threaded=True)
    server.daemon_threads = False  # server_close() waits for the requests under way
    print(server.server_port, flush=True)
    for _ in range(12):
        server.handle_request()
    server.server_close()
    print("served", sorted(hits))
"""


@pytest.mark.compat("flask")
def test_flask_threaded_server_under_concurrent_clients(program):
    pytest.importorskip("flask")
    if requests is None:
        pytest.skip("requests is not installed")
    import concurrent.futures

    app = program(FLASK_THREADED)
    recording = Recording(app)
    base = f"http://127.0.0.1:{int(recording.first_line)}"

    def get(n):
        with requests.Session() as client:
            client.trust_env = False
            return client.get(f"{base}/item/{n}", timeout=10).json()

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(get, range(12)))
    code, out, err = recording.finish()
    assert code == 0, err
    assert [a["n"] for a in answers] == list(range(12)) and sorted(a["seen"] for a in answers) == list(range(1, 13))
    replayed = app.replay(timeout=60)
    assert (replayed.returncode, replayed.stdout, replayed.stderr) == (code, out, err)
