"""The library sweep (issue #14): the most-used PyPI libraries, recorded and replayed.

For each library a small program imports it and uses it the way people do (a use
written by hand for the most-used ones; for the rest, the import and a stable fact).
Each program runs three times, as whole processes: plain ``python``, recorded through
the real launcher, replayed (in a network namespace with no interfaces when we may
make one). Outcomes, worst first:

- ``recorder crashed``: the recording ended by a signal, or with another exit status
  than the plain run (the worst: production would have been taken down);
- ``recording differs``: the recorded program printed something else than the plain one;
- ``replay diverged``: the replay's output or status is not the recording's;
- ``pass``; ``skipped`` (not installable here, or too large: the reason says which).

    python scripts/sweep_libraries.py --install            # make .venv-sweep: retrace + every library
    python scripts/sweep_libraries.py                      # run the whole sweep, print the table
    python scripts/sweep_libraries.py --write-doc          # ... and write it into docs/compatibility.md
    python scripts/sweep_libraries.py --only ci            # the pinned top-40 subset CI runs

The table lands between the ``<!-- sweep -->`` markers of docs/compatibility.md.
tests/test_library_sweep.py runs the ``ci`` subset through this same code.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import dataclasses
import os
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "compatibility.md"
BEGIN, END = "<!-- sweep -->", "<!-- /sweep -->"

# Too large to install for a sweep (a GPU stack, a whole cloud SDK's generated clients).
TOO_LARGE = {
    "sglang": "a GPU model server: several GB of wheels",
    "google-cloud-aiplatform": "hundreds of MB of generated clients",
    "awscli": "a command-line tool, not a library (botocore is swept)",
    "uv": "a Rust binary, not a Python library",
    "ruff": "a Rust binary, not a Python library",
    "pip": "the installer itself",
    "transformers": "imports torch when present; its tokenizers are swept",
    "litellm": "pulls a large tree of provider SDKs",
}

# The most-used libraries, by download rank (docs/compatibility.md says when the ranks
# were read): distribution -> (module to import, the program; None: import + a stable fact).
# Programs print stable facts only (lengths, booleans, fixed results), so a plain run and
# a recorded one print the same; what they do may read the clock, entropy and files.
USES: dict[str, tuple[str, str | None]] = {
    "boto3": ("boto3", """
        import boto3
        session = boto3.session.Session(region_name="us-east-1", aws_access_key_id="AKIAEXAMPLE",
                                        aws_secret_access_key="example")
        client = session.client("s3")
        print(client.meta.region_name, type(client).__name__, client.can_paginate("list_objects_v2"))
    """),
    "packaging": ("packaging", """
        from packaging.version import Version
        from packaging.requirements import Requirement
        print(Version("1.10.0") > Version("1.9"), Requirement("requests[socks]>=2.31; python_version>'3'").name)
    """),
    "urllib3": ("urllib3", """
        import urllib3
        pool = urllib3.PoolManager()
        print(urllib3.util.parse_url("https://example.com:8443/a?b=1").port, type(pool).__name__)
        try:
            pool.request("GET", "http://127.0.0.1:9/", retries=False, timeout=0.5)
        except urllib3.exceptions.HTTPError as exc:
            print(type(exc).__name__)
    """),
    "certifi": ("certifi", """
        import certifi, os
        print(os.path.exists(certifi.where()), certifi.where().endswith(".pem"))
    """),
    "idna": ("idna", """
        import idna
        print(idna.encode("bücher.example"), idna.decode("xn--bcher-kva.example"))
    """),
    "requests": ("requests", """
        import requests
        try:
            requests.get("http://127.0.0.1:9/", timeout=0.5)
        except requests.ConnectionError as exc:
            print("ConnectionError", type(exc).__name__)
        print(requests.Request("GET", "https://example.com", params={"q": "x"}).prepare().url)
    """),
    "typing-extensions": ("typing_extensions", """
        from typing_extensions import TypedDict, Literal, get_args
        class Point(TypedDict):
            x: int
        print(get_args(Literal["a", "b"]), Point.__annotations__)
    """),
    "charset-normalizer": ("charset_normalizer", """
        from charset_normalizer import from_bytes
        print(from_bytes("Grüße aus Köln, schöne Straße".encode("cp1252")).best().encoding)
    """),
    "setuptools": ("setuptools", """
        import setuptools
        print(len(setuptools.find_packages(".")) >= 0, hasattr(setuptools, "setup"))
    """),
    "botocore": ("botocore", """
        import botocore.session
        session = botocore.session.get_session()
        print(len(session.get_available_services()) > 100, session.get_config_variable("region") is None)
    """),
    "cryptography": ("cryptography", """
        from cryptography.fernet import Fernet
        from cryptography.hazmat.primitives import hashes
        key = Fernet.generate_key()
        token = Fernet(key).encrypt(b"secret message")
        print(Fernet(key).decrypt(token), len(key))
        digest = hashes.Hash(hashes.SHA256()); digest.update(b"abc"); print(digest.finalize().hex()[:16])
    """),
    "python-dateutil": ("dateutil", """
        from dateutil import parser, relativedelta, tz
        import datetime
        moment = parser.parse("2024-02-29T12:30:00+01:00")
        print(moment + relativedelta.relativedelta(years=1), tz.gettz("Europe/Paris") is not None)
        print(datetime.datetime.now(tz.tzlocal()).tzinfo is not None)
    """),
    "six": ("six", """
        import six
        print(six.PY3, six.ensure_str(b"abc"), list(six.moves.range(3)))
    """),
    "pyyaml": ("yaml", """
        import yaml, datetime
        text = yaml.safe_dump({"when": datetime.date(2024, 1, 2), "list": [1, 2]})
        print(text.strip().splitlines(), yaml.safe_load(text))
    """),
    "pydantic": ("pydantic", """
        import datetime
        from pydantic import BaseModel, Field
        class Event(BaseModel):
            name: str
            when: datetime.datetime = Field(default_factory=datetime.datetime.now)
        event = Event(name="launch")
        print(event.name, type(event.when) is datetime.datetime, Event.model_validate_json('{"name": "x", "when": "2024-01-01T00:00:00"}').when)
    """),
    "pygments": ("pygments", """
        from pygments import highlight
        from pygments.lexers import PythonLexer
        from pygments.formatters import HtmlFormatter
        print(len(highlight("def f(): return 1", PythonLexer(), HtmlFormatter())) > 50)
    """),
    "cffi": ("cffi", """
        import cffi
        ffi = cffi.FFI(); ffi.cdef("int abs(int);"); libc = ffi.dlopen(None)
        print(libc.abs(-7))
    """),
    "click": ("click", """
        import click
        from click.testing import CliRunner
        @click.command()
        @click.option("--name", default="world")
        def hello(name):
            click.echo(f"hello {name}")
        print(CliRunner().invoke(hello, ["--name", "sweep"]).output.strip())
    """),
    "numpy": ("numpy", """
        import numpy as np
        rng = np.random.default_rng()
        values = rng.normal(size=1000)
        np.save("values.npy", values)
        print(np.allclose(np.load("values.npy"), values), np.arange(6).reshape(2, 3).sum(axis=0))
    """),
    "pluggy": ("pluggy", """
        import pluggy
        hookspec, hookimpl = pluggy.HookspecMarker("demo"), pluggy.HookimplMarker("demo")
        class Spec:
            @hookspec
            def act(self, x): ...
        class Plugin:
            @hookimpl
            def act(self, x): return x * 2
        manager = pluggy.PluginManager("demo"); manager.add_hookspecs(Spec); manager.register(Plugin())
        print(manager.hook.act(x=21))
    """),
    "pydantic-core": ("pydantic_core", """
        import pydantic_core
        print(pydantic_core.to_json({"a": [1, 2]}), pydantic_core.from_json('{"b": true}'))
    """),
    "anyio": ("anyio", """
        import anyio
        async def main():
            async with anyio.create_task_group() as group:
                for delay in (0.02, 0.01):
                    group.start_soon(anyio.sleep, delay)
            return await anyio.to_thread.run_sync(sum, [1, 2, 3])
        print(anyio.run(main))
    """),
    "attrs": ("attrs", """
        import attrs
        @attrs.define
        class Point:
            x: int
            y: int = 0
        print(Point(1), attrs.asdict(Point(2, 3)))
    """),
    "protobuf": ("google.protobuf", """
        from google.protobuf import struct_pb2, timestamp_pb2
        message = struct_pb2.Struct(); message.update({"a": 1, "b": "x"})
        stamp = timestamp_pb2.Timestamp(); stamp.GetCurrentTime()
        print(len(message.SerializeToString()), stamp.seconds > 0)
    """),
    "pytest": ("pytest", """
        import contextlib, io, os, pytest
        os.makedirs("suite", exist_ok=True)
        with open("suite/test_demo.py", "w") as f:
            f.write("def test_ok():\\n    assert 1 + 1 == 2\\n\\ndef test_bad():\\n    assert [1] == [2]\\n")
        report = io.StringIO()
        with contextlib.redirect_stdout(report):
            status = pytest.main(["-q", "-p", "no:cacheprovider", "suite"])
        print(status, "1 failed, 1 passed" in report.getvalue(), "assert [1] == [2]" in report.getvalue())
    """),
    "fsspec": ("fsspec", """
        import fsspec
        fs = fsspec.filesystem("memory"); fs.pipe("/a/b.txt", b"hello")
        local = fsspec.filesystem("file"); local.pipe_file("local.txt", b"data")
        print(fs.cat("/a/b.txt"), fs.ls("/a", detail=False), local.cat_file("local.txt"))
    """),
    "httpx": ("httpx", """
        import httpx
        try:
            httpx.get("http://127.0.0.1:9/", timeout=0.5)
        except httpx.ConnectError as exc:
            print("ConnectError")
        print(httpx.URL("https://example.com/a?b=1").params["b"])
    """),
    "pandas": ("pandas", """
        import pandas as pd
        frame = pd.DataFrame({"city": ["Oslo", "Lima", "Oslo"], "n": [1, 2, 3],
                              "when": pd.to_datetime(["2024-01-01", "2024-02-01", "2024-03-01"])})
        frame.to_csv("frame.csv", index=False)
        back = pd.read_csv("frame.csv", parse_dates=["when"])
        print(back.groupby("city").n.sum().to_dict(), pd.Timestamp.now() > pd.Timestamp("2020-01-01"))
    """),
    "markupsafe": ("markupsafe", """
        from markupsafe import Markup, escape
        print(escape("<b>&</b>"), Markup("<i>%s</i>") % "<x>")
    """),
    "platformdirs": ("platformdirs", """
        import platformdirs
        print(platformdirs.user_cache_dir("sweep").endswith("sweep"), bool(platformdirs.user_data_dir()))
    """),
    "python-dotenv": ("dotenv", """
        import os
        from dotenv import load_dotenv, dotenv_values
        with open(".env", "w") as f:
            f.write("GREETING=hello\\nCOUNT=3\\n")
        load_dotenv(".env"); print(os.environ["GREETING"], dotenv_values(".env"))
    """),
    "pyjwt": ("jwt", """
        import jwt, time
        token = jwt.encode({"sub": "user", "exp": int(time.time()) + 60}, "k" * 32, algorithm="HS256")
        print(jwt.decode(token, "k" * 32, algorithms=["HS256"])["sub"])
    """),
    "jinja2": ("jinja2", """
        import jinja2, os
        os.makedirs("templates", exist_ok=True)
        with open("templates/page.html", "w") as f:
            f.write("<h1>{{ title }}</h1>{% for i in items %}<p>{{ i }}</p>{% endfor %}")
        env = jinja2.Environment(loader=jinja2.FileSystemLoader("templates"), autoescape=True)
        print(env.get_template("page.html").render(title="<T>", items=[1, 2]))
    """),
    "rich": ("rich", """
        from rich.console import Console
        from rich.table import Table
        table = Table("a", "b"); table.add_row("1", "2")
        console = Console(width=40, force_terminal=False); console.print(table); console.print("[bold]done[/bold]")
    """),
    "jmespath": ("jmespath", """
        import jmespath
        print(jmespath.search("people[?age > `20`].name", {"people": [{"name": "a", "age": 30}, {"name": "b", "age": 10}]}))
    """),
    "aiohttp": ("aiohttp", """
        import asyncio, aiohttp
        async def main():
            async with aiohttp.ClientSession() as session:
                try:
                    await session.get("http://127.0.0.1:9/", timeout=aiohttp.ClientTimeout(total=0.5))
                except aiohttp.ClientConnectorError:
                    print("ClientConnectorError")
        asyncio.run(main())
    """),
    "filelock": ("filelock", """
        from filelock import FileLock
        with FileLock("work.lock", timeout=1):
            with open("work.txt", "w") as f:
                f.write("locked")
        print(open("work.txt").read())
    """),
    "jsonschema": ("jsonschema", """
        import jsonschema
        schema = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
        jsonschema.validate({"n": 1}, schema)
        try:
            jsonschema.validate({"n": "x"}, schema)
        except jsonschema.ValidationError as exc:
            print("invalid:", exc.message)
    """),
    "starlette": ("starlette", """
        from starlette.applications import Starlette
        from starlette.responses import JSONResponse
        from starlette.routing import Route
        from starlette.testclient import TestClient
        app = Starlette(routes=[Route("/", lambda request: JSONResponse({"ok": True}))])
        print(TestClient(app).get("/").json())
    """),
    "uvicorn": ("uvicorn", """
        import uvicorn
        config = uvicorn.Config(app=lambda scope, receive, send: None, port=0)
        print(type(config).__name__, config.port)
    """),
    "tqdm": ("tqdm", """
        import io, time
        from tqdm import tqdm
        out = io.StringIO()
        total = sum(tqdm(range(50), file=out, mininterval=0))
        print(total, "50/50" in out.getvalue())
    """),
    "pillow": ("PIL", """
        from PIL import Image
        Image.new("RGB", (32, 16), (10, 20, 30)).save("tiny.png")
        with Image.open("tiny.png") as image:
            print(image.size, image.getpixel((0, 0)))
    """),
    "sqlalchemy": ("sqlalchemy", """
        import sqlalchemy as sa
        engine = sa.create_engine("sqlite:///sweep.db")
        with engine.begin() as connection:
            connection.execute(sa.text("create table if not exists t (n integer)"))
            connection.execute(sa.text("insert into t values (1), (2)"))
            print(connection.execute(sa.text("select sum(n) from t")).scalar())
    """),
    "lxml": ("lxml", """
        from lxml import etree
        with open("doc.xml", "w") as f:
            f.write("<a><b>1</b><b>2</b></a>")
        print([b.text for b in etree.parse("doc.xml").getroot()])
    """),
    "psutil": ("psutil", """
        import psutil, os
        process = psutil.Process(os.getpid())
        print(process.pid == os.getpid(), psutil.cpu_count() > 0, process.memory_info().rss > 0)
    """),
    "regex": ("regex", """
        import regex
        print(regex.findall(r"\\p{Lu}\\w+", "Oslo and Lima and quito"))
    """),
    "openpyxl": ("openpyxl", """
        import openpyxl
        book = openpyxl.Workbook(); book.active["A1"] = 42; book.save("book.xlsx")
        print(openpyxl.load_workbook("book.xlsx").active["A1"].value)
    """),
    "redis": ("redis", """
        import redis
        try:
            redis.Redis(port=9, socket_connect_timeout=0.5).ping()
        except redis.ConnectionError:
            print("ConnectionError")
    """),
    "gitpython": ("git", """
        import git, os
        repo = git.Repo.init("repo")
        with open("repo/file.txt", "w") as f:
            f.write("hello")
        repo.index.add(["file.txt"])
        commit = repo.index.commit("first", author=git.Actor("a", "a@example.com"))
        print(len(commit.hexsha), repo.head.commit.message)
    """),
    "msgpack": ("msgpack", """
        import msgpack, datetime
        packed = msgpack.packb({"t": datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc)}, datetime=True)
        print(msgpack.unpackb(packed, timestamp=3))
    """),
    "orjson": ("orjson", """
        import orjson, datetime, uuid
        print(orjson.dumps({"when": datetime.datetime(2024, 1, 1), "id": uuid.UUID(int=1)}))
        print(len(orjson.dumps({"now": datetime.datetime.now()})) > 10)
    """),
    "flask": ("flask", """
        import flask
        app = flask.Flask("sweep")
        @app.route("/")
        def index():
            return {"ok": True}
        print(app.test_client().get("/").json)
    """),
    "werkzeug": ("werkzeug", """
        from werkzeug.security import generate_password_hash, check_password_hash
        hashed = generate_password_hash("pw")
        print(check_password_hash(hashed, "pw"), check_password_hash(hashed, "no"))
    """),
    "coverage": ("coverage", """
        import coverage
        cov = coverage.Coverage(data_file=None); cov.start()
        total = sum(range(10)); cov.stop()
        print(total, type(cov.get_data()).__name__)
    """),
    "docutils": ("docutils", """
        from docutils.core import publish_string
        print(len(publish_string("Title\\n=====\\n\\ntext", writer_name="html")) > 100)
    """),
    "scikit-learn": ("sklearn", """
        from sklearn.linear_model import LinearRegression
        import numpy as np
        X = np.arange(10).reshape(-1, 1); y = 2 * X.ravel() + 1
        print(round(float(LinearRegression().fit(X, y).coef_[0]), 3))
    """),
    "pyarrow": ("pyarrow", """
        import pyarrow as pa, pyarrow.parquet as pq
        table = pa.table({"n": [1, 2, 3]}); pq.write_table(table, "t.parquet")
        print(pq.read_table("t.parquet").column("n").to_pylist())
    """),
    "scipy": ("scipy", """
        from scipy import optimize, stats
        print(round(optimize.minimize_scalar(lambda x: (x - 2) ** 2).x, 3), stats.norm.rvs(size=3).shape)
    """),
    "matplotlib": ("matplotlib", """
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        plt.plot([1, 2, 3]); plt.savefig("plot.png")
        import os; print(os.path.getsize("plot.png") > 1000)
    """),
    "networkx": ("networkx", """
        import networkx as nx
        graph = nx.path_graph(5); print(nx.shortest_path(graph, 0, 4))
    """),
    "sympy": ("sympy", """
        import sympy
        x = sympy.symbols("x"); print(sympy.integrate(x ** 2, x), sympy.factor(x ** 2 - 1))
    """),
    "tabulate": ("tabulate", """
        from tabulate import tabulate
        print(tabulate([["a", 1], ["b", 2]], headers=["k", "v"]))
    """),
    "bcrypt": ("bcrypt", """
        import bcrypt
        hashed = bcrypt.hashpw(b"pw", bcrypt.gensalt(rounds=4)); print(bcrypt.checkpw(b"pw", hashed))
    """),
    "pynacl": ("nacl", """
        import nacl.secret, nacl.utils
        box = nacl.secret.SecretBox(nacl.utils.random(32)); print(box.decrypt(box.encrypt(b"hi")))
    """),
    "paramiko": ("paramiko", """
        import paramiko
        key = paramiko.Ed25519Key.generate() if hasattr(paramiko.Ed25519Key, "generate") else None
        print(type(paramiko.SSHClient()).__name__)
    """),
    "pexpect": ("pexpect", """
        import pexpect
        child = pexpect.spawn("echo hello", encoding="utf-8"); child.expect(pexpect.EOF)
        print(child.before.strip())
    """),
    "uvloop": ("uvloop", """
        import asyncio, uvloop
        async def main():
            await asyncio.sleep(0.01)
            return 42
        print(uvloop.run(main()))
    """),
    "dill": ("dill", """
        import dill
        square = lambda x: x * x
        print(dill.loads(dill.dumps(square))(7))
    """),
    "joblib": ("joblib", """
        import joblib
        print(joblib.Parallel(n_jobs=2, backend="threading")(joblib.delayed(abs)(-i) for i in range(4)))
    """),
    "tzdata": ("tzdata", None),
    "pytz": ("pytz", """
        import pytz, datetime
        print(pytz.timezone("Europe/Oslo").localize(datetime.datetime(2024, 7, 1)).utcoffset())
    """),
    "websockets": ("websockets", """
        import asyncio, websockets
        async def main():
            try:
                async with websockets.connect("ws://127.0.0.1:9/", open_timeout=0.5):
                    pass
            except OSError:
                print("OSError")
        asyncio.run(main())
    """),
    "tenacity": ("tenacity", """
        import tenacity
        calls = []
        @tenacity.retry(stop=tenacity.stop_after_attempt(3), wait=tenacity.wait_fixed(0.01))
        def flaky():
            calls.append(1)
            if len(calls) < 3:
                raise ValueError
            return "ok"
        print(flaky(), len(calls))
    """),
}

# The rest of the ranks swept as "import + a stable fact" (module names where they differ).
IMPORT_ONLY = {
    "grpcio-status": "grpc_status", "s3transfer": "s3transfer", "h11": "h11", "annotated-types": "annotated_types",
    "iniconfig": "iniconfig", "httpcore": "httpcore", "typing-inspection": "typing_inspection", "s3fs": "s3fs",
    "pathspec": "pathspec", "markdown-it-py": "markdown_it", "importlib-metadata": "importlib_metadata",
    "yarl": "yarl", "multidict": "multidict", "zipp": "zipp", "propcache": "propcache", "wheel": "wheel",
    "mdurl": "mdurl", "pyasn1": "pyasn1", "google-auth": "google.auth", "googleapis-common-protos": "google.rpc",
    "frozenlist": "frozenlist", "fastapi": "fastapi", "rpds-py": "rpds", "aiosignal": "aiosignal",
    "referencing": "referencing", "jsonschema-specifications": "jsonschema_specifications",
    "trove-classifiers": "trove_classifiers", "google-api-core": "google.api_core",
    "aiohappyeyeballs": "aiohappyeyeballs", "virtualenv": "virtualenv", "greenlet": "greenlet",
    "colorama": "colorama", "pyasn1-modules": "pyasn1_modules", "typer": "typer", "grpcio": "grpc",
    "opentelemetry-sdk": "opentelemetry.sdk", "wrapt": "wrapt", "requests-oauthlib": "requests_oauthlib",
    "opentelemetry-api": "opentelemetry", "python-multipart": "python_multipart", "sniffio": "sniffio",
    "pydantic-settings": "pydantic_settings", "pyparsing": "pyparsing", "shellingham": "shellingham",
    "tomli": "tomli", "beautifulsoup4": "bs4", "oauthlib": "oauthlib", "soupsieve": "soupsieve",
    "cachetools": "cachetools", "textual": "textual", "openai": "openai", "exceptiongroup": "exceptiongroup",
    "hatchling": "hatchling", "more-itertools": "more_itertools", "requests-toolbelt": "requests_toolbelt",
    "watchfiles": "watchfiles", "rsa": "rsa", "tomlkit": "tomlkit", "proto-plus": "proto", "distro": "distro",
    "distlib": "distlib", "jiter": "jiter", "mcp": "mcp", "websocket-client": "websocket",
    "mypy-extensions": "mypy_extensions", "langchain": "langchain", "et-xmlfile": "et_xmlfile",
    "sse-starlette": "sse_starlette", "wcwidth": "wcwidth", "editables": "editables",
    "huggingface-hub": "huggingface_hub", "dnspython": "dns", "google-cloud-storage": "google.cloud.storage",
    "google-genai": "google.genai", "psycopg2-binary": "psycopg2", "pyopenssl": "OpenSSL",
    "ptyprocess": "ptyprocess", "decorator": "decorator", "smmap": "smmap", "docker": "docker",
    "sortedcontainers": "sortedcontainers", "keyring": "keyring", "docstring-parser": "docstring_parser",
    "httptools": "httptools", "fonttools": "fontTools", "multiprocess": "multiprocess", "gitdb": "gitdb",
    "isodate": "isodate", "async-timeout": "async_timeout", "httpx-sse": "httpx_sse",
    "prompt-toolkit": "prompt_toolkit", "jaraco-classes": "jaraco.classes", "azure-core": "azure.core",
    "azure-identity": "azure.identity", "itsdangerous": "itsdangerous", "google-cloud-core": "google.cloud",
    "jaraco-functools": "jaraco.functools", "kiwisolver": "kiwisolver", "jaraco-context": "jaraco.context",
    "pytest-cov": "pytest_cov", "pytest-asyncio": "pytest_asyncio", "contourpy": "contourpy",
    "alembic": "alembic", "email-validator": "email_validator", "deprecated": "deprecated", "msal": "msal",
    "google-resumable-media": "google.resumable_media", "google-crc32c": "google_crc32c", "chardet": "chardet",
    "ruamel-yaml": "ruamel.yaml", "defusedxml": "defusedxml", "threadpoolctl": "threadpoolctl",
    "tokenizers": "tokenizers", "blinker": "blinker", "snowflake-connector-python": "snowflake.connector",
    "kubernetes": "kubernetes", "tiktoken": "tiktoken", "mako": "mako", "cycler": "cycler", "tzlocal": "tzlocal",
    "toml": "toml", "mypy": "mypy", "google-api-python-client": "googleapiclient", "jsonpointer": "jsonpointer",
    "poetry-core": "poetry.core", "nodeenv": "nodeenv", "databricks-sql-connector": "databricks.sql",
    "xxhash": "xxhash", "pyproject-hooks": "pyproject_hooks", "zstandard": "zstandard", "ipython": "IPython",
    "uritemplate": "uritemplate", "prometheus-client": "prometheus_client", "asn1crypto": "asn1crypto",
    "rapidfuzz": "rapidfuzz", "google-cloud-bigquery": "google.cloud.bigquery", "build": "build",
    "traitlets": "traitlets", "httplib2": "httplib2", "identify": "identify", "pre-commit": "pre_commit",
    "cfgv": "cfgv", "jedi": "jedi", "aiofiles": "aiofiles", "parso": "parso", "backoff": "backoff",
    "executing": "executing", "h2": "h2", "marshmallow": "marshmallow", "hyperframe": "hyperframe",
    "fastjsonschema": "fastjsonschema", "pycparser": "pycparser",
}

# What CI runs (tests/test_library_sweep.py): the top of the ranks among the test install.
CI_SUBSET = (
    "boto3", "packaging", "urllib3", "certifi", "idna", "requests", "typing-extensions", "charset-normalizer",
    "botocore", "cryptography", "python-dateutil", "six", "pyyaml", "pydantic", "pygments", "cffi", "click",
    "numpy", "pluggy", "pydantic-core", "anyio", "attrs", "pytest", "httpx", "pandas", "markupsafe", "jinja2",
    "aiohttp", "starlette", "uvicorn", "pillow", "sqlalchemy", "lxml", "psutil", "redis", "flask",
    "werkzeug", "typer", "fastapi", "grpcio",
)

STABLE_FACT = """
    import importlib, sys
    module = importlib.import_module({module!r})
    print(module.__name__, {module!r} in sys.modules)
"""


@dataclasses.dataclass
class Outcome:
    library: str
    version: str
    outcome: str
    reason: str = ""


def program_for(dist: str) -> tuple[str, str]:
    """(module, source) of the sweep's program for ``dist``."""
    if dist in USES:
        module, source = USES[dist]
        if source is not None:
            return module, textwrap.dedent(source)
    else:
        module = IMPORT_ONLY[dist]
    return module, textwrap.dedent(STABLE_FACT.format(module=module))


def _run(argv, cwd, env, timeout) -> tuple[int, str, str]:
    try:
        done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as exc:
        return -999, exc.stdout if isinstance(exc.stdout, str) else "", "timed out"
    return done.returncode, done.stdout, done.stderr


def _first_line(text: str) -> str:
    """What an error says in one line: a divergence's expected/got, else its last line."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    said = [line for line in lines if line.startswith(("expected:", "got:"))]
    if said:
        return "; ".join(said)[:240]
    return lines[-1][:200] if lines else ""


def _can_unshare() -> bool:
    return os.geteuid() == 0 and shutil.which("unshare") is not None and subprocess.run(
        ["unshare", "-n", "true"], capture_output=True).returncode == 0


def sweep_one(dist: str, python: str, launcher: str, *, timeout: float = 180, no_network: bool | None = None,
              version_of=None) -> Outcome:
    """Plain run, recording, replay of ``dist``'s program; the outcome."""
    version = version_of(dist) if version_of else _version(python, dist)
    if dist in TOO_LARGE:
        return Outcome(dist, version or "-", "skipped", TOO_LARGE[dist])
    if version is None:
        return Outcome(dist, "-", "skipped", "not installed")
    _, source = program_for(dist)
    env = {key: value for key, value in os.environ.items() if not key.startswith(("RETRACE", "PYTHONHASHSEED"))}
    env.pop("PYTHONPATH", None)
    unshare = ["unshare", "-n"] if (no_network if no_network is not None else _can_unshare()) else []
    with tempfile.TemporaryDirectory(prefix=f"sweep-{dist}-") as top:
        plain_dir, record_dir = Path(top, "plain"), Path(top, "project")
        for folder in (plain_dir, record_dir):
            folder.mkdir()
            (folder / "use.py").write_text(source)
        plain = _run([python, "use.py"], plain_dir, env, timeout)
        if plain[0] != 0:
            return Outcome(dist, version, "skipped", f"the program fails without retrace: {_first_line(plain[2])}")
        recording = Path(top, "recording")
        recorded = _run([launcher, "--recording", str(recording), "use.py"], record_dir, env, timeout)
        if recorded[0] != plain[0] or recorded[0] < 0:
            why = "timed out" if recorded[0] == -999 else f"exit {recorded[0]}: {_first_line(recorded[2])}"
            return Outcome(dist, version, "recorder crashed", why)
        if recorded[1] != plain[1]:
            return Outcome(dist, version, "recording differs", _diff_line(plain[1], recorded[1]))
        shutil.rmtree(record_dir)  # the world the program made is gone
        replayed = _run([*unshare, launcher, "--replay", str(recording)], top, env, timeout)
        if replayed[:2] != recorded[:2] or replayed[2] != recorded[2]:
            why = _first_line(replayed[2]) if replayed[0] != recorded[0] else _diff_line(recorded[1], replayed[1])
            return Outcome(dist, version, "replay diverged", why or "stderr differs")
    return Outcome(dist, version, "pass")


def _diff_line(expected: str, got: str) -> str:
    for a, b in zip(expected.splitlines() + [""], got.splitlines() + [""]):
        if a != b:
            return f"expected {a[:70]!r}, got {b[:70]!r}"
    return "output differs"


def _version(python: str, dist: str) -> str | None:
    done = subprocess.run([python, "-c", "import sys; from importlib import metadata\n"
                           "try: print(metadata.version(sys.argv[1]))\nexcept metadata.PackageNotFoundError: pass",
                           dist], capture_output=True, text=True)
    return done.stdout.strip() or None


def _normal(name: str) -> str:
    """A distribution's name as PyPI compares them (PEP 503)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def all_versions(python: str) -> dict[str, str]:
    done = subprocess.run([python, "-c", "from importlib import metadata\n"
                           "for d in metadata.distributions(): print(d.metadata['Name'], d.version)"],
                          capture_output=True, text=True)
    versions = {}
    for line in done.stdout.splitlines():
        name, _, version = line.partition(" ")
        versions[_normal(name)] = version
    return versions


def libraries(only: str | None) -> list[str]:
    if only == "ci":
        return list(CI_SUBSET)
    names = list(dict.fromkeys([*USES, *IMPORT_ONLY, *TOO_LARGE]))
    return names


def render(outcomes: list[Outcome], seconds: float) -> str:
    counted = {}
    for outcome in outcomes:
        counted[outcome.outcome] = counted.get(outcome.outcome, 0) + 1
    tried = [o for o in outcomes if o.outcome != "skipped"]
    passed = counted.get("pass", 0)
    share = f"{100 * passed / len(tried):.1f} %" if tried else "-"
    lines = [
        BEGIN,
        f"Swept {len(outcomes)} libraries with `scripts/sweep_libraries.py` in {seconds / 60:.0f} min, Python "
        f"{sys.version_info[0]}.{sys.version_info[1]}: **{passed} of {len(tried)} pass ({share})**; "
        + ", ".join(f"{count} {name}" for name, count in sorted(counted.items()) if name != "pass") + ".",
        "",
        "| library | version | outcome | reason |",
        "|---|---|---|---|",
    ]
    order = {"recorder crashed": 0, "recording differs": 1, "replay diverged": 2, "pass": 3, "skipped": 4}
    for outcome in sorted(outcomes, key=lambda o: (order.get(o.outcome, 9), o.library)):
        reason = outcome.reason.replace("|", "\\|").replace("\n", " ")
        lines.append(f"| {outcome.library} | {outcome.version} | {outcome.outcome} | {reason} |")
    lines.append(END)
    return "\n".join(lines)


def write_doc(table: str) -> None:
    """Between the markers of docs/compatibility.md (tests/compat_matrix.py keeps them)."""
    text = DOC.read_text()
    if BEGIN not in text or END not in text:
        raise SystemExit(f"sweep: {DOC} has no {BEGIN} ... {END} section (run the test suite with "
                         "RETRACE_WRITE_COMPAT=1 first)")
    DOC.write_text(text[:text.index(BEGIN)] + table + text[text.index(END) + len(END):])


def install(venv: Path) -> None:
    """A venv with retrace-python from this checkout and every library the sweep names."""
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q"]
    subprocess.run([*pip, "--upgrade", "pip"], check=True)
    subprocess.run([*pip, str(ROOT)], check=True)
    for dist in libraries(None):
        if dist in TOO_LARGE:
            continue
        if subprocess.run([*pip, dist]).returncode != 0:
            print(f"sweep: {dist} did not install", file=sys.stderr)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--venv", default=str(ROOT / ".venv-sweep"), help="the venv to sweep (default .venv-sweep)")
    parser.add_argument("--install", action="store_true", help="create the venv and install every library")
    parser.add_argument("--only", help="'ci' (the pinned subset), or comma-separated distributions")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--write-doc", action="store_true", help="write the table into docs/compatibility.md")
    args = parser.parse_args(argv)
    venv = Path(args.venv)
    if args.install:
        install(venv)
    python, launcher = str(venv / "bin" / "python"), str(venv / "bin" / "retrace-python")
    if not Path(launcher).exists():
        print(f"sweep: no retrace-python in {venv} (run with --install first)", file=sys.stderr)
        return 2
    names = args.only.split(",") if args.only and args.only != "ci" else libraries(args.only)
    versions = all_versions(python)
    started = time.monotonic()
    no_network = _can_unshare()
    outcomes = []
    with concurrent.futures.ThreadPoolExecutor(args.jobs) as pool:
        futures = [pool.submit(sweep_one, name, python, launcher, no_network=no_network,
                               version_of=lambda d: versions.get(_normal(d))) for name in names]
        for future in futures:
            outcome = future.result()
            outcomes.append(outcome)
            print(f"{outcome.library:32} {outcome.version:12} {outcome.outcome:18} {outcome.reason}", flush=True)
    table = render(outcomes, time.monotonic() - started)
    print(table)
    if args.write_doc:
        write_doc(table)
    return 1 if any(o.outcome == "recorder crashed" for o in outcomes) else 0


if __name__ == "__main__":
    sys.exit(main())
