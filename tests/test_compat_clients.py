"""Rows of the compatibility matrix (tests/compat_matrix.py): HTTP client libraries
against a server outside the recording (gone at replay), and numpy's random
generators (seeded from the entropy pool)."""

from __future__ import annotations

import pytest

from conftest import assert_same_run
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
