"""Rows of the compatibility matrix (tests/compat_matrix.py): database and broker
servers the tests start themselves (tests/services.py), stopped before the replay."""

from __future__ import annotations

import pytest

from conftest import assert_same_run
from services import postgres, redis_server  # noqa: F401 (fixtures)
from threadsupport import record_ok, replay_ok

def _replays_without_the_server(app, server, *printed):
    """Record ``app`` against ``server`` (its url the argument), which must print each of
    ``printed``; then the server and its data are gone and the replay is the same run."""
    recorded = record_ok(app, server.url)
    for text in printed:
        assert text in recorded.stdout, recorded.stdout + recorded.stderr
    server.remove()
    assert_same_run(recorded, replay_ok(app))
    return recorded


PSYCOPG2 = """
    import sys, uuid, decimal
    import psycopg2, psycopg2.extras, psycopg2.errors

    conn = psycopg2.connect(sys.argv[1])
    with conn, conn.cursor() as cur:
        cur.execute("create table notes (id serial primary key, text text, token uuid, "
                    "created timestamptz default now(), price numeric, tags text[], meta jsonb)")
        for word in ("alpha", "beta"):
            cur.execute("insert into notes (text, token, price, tags, meta) values (%s, %s, %s, %s, %s) "
                        "returning id, created",
                        (word, str(uuid.uuid4()), decimal.Decimal("1.50"), [word, "x"],
                         psycopg2.extras.Json({"w": word})))
            row_id, created = cur.fetchone()
            print("inserted", row_id, cur.rowcount, created.tzinfo is not None)
    with conn.cursor(cursor_factory=psycopg2.extras.DictCursor) as cur:
        cur.execute("select id, text, token, price, tags, meta, created from notes order by id")
        for row in cur:
            print(row["id"], row["text"], row["token"], row["price"], row["tags"], row["meta"], row["created"])
    try:
        with conn.cursor() as cur:
            cur.execute("select * from missing_table")
    except psycopg2.errors.UndefinedTable as error:
        print("error", error.pgcode, type(error).__name__, str(error).splitlines()[0])
        conn.rollback()
    with conn.cursor() as cur:
        cur.execute("select now(), pg_backend_pid(), gen_random_uuid()")
        print("server says", cur.fetchone())
    psycopg2.extras.register_uuid(conn_or_curs=conn)   # takes the real connection (a leaf)
    with conn, conn.cursor() as cur:
        cur.execute("create table t (id uuid, n int)")
        psycopg2.extras.execute_values(cur, "insert into t values %s", [(uuid.uuid4(), n) for n in range(5)])
        print(cur.mogrify("select %s, %s", (1, "x")))
    with conn, conn.cursor("named") as cur:              # a server-side cursor, fetched 2 rows at a time
        cur.itersize = 2
        cur.execute("select id, n from t order by n")
        print([(type(row[0]).__name__, row[1]) for row in cur])
    with conn.cursor(cursor_factory=psycopg2.extras.RealDictCursor) as cur:
        cur.execute("select n from t where n > %(m)s", {"m": 2})
        print(cur.fetchall())
    print("server", conn.server_version >= 100000, conn.get_transaction_status())
    conn.close()
"""


@pytest.mark.compat("postgres")
def test_psycopg2_against_a_postgres_server_gone_at_replay(program, postgres):
    pytest.importorskip("psycopg2")
    app = program(PSYCOPG2)
    _replays_without_the_server(app, postgres, "error 42P01 UndefinedTable", "inserted 2 1 True")
    # Other SQL is a divergence that names the call; showing it makes no calls of its own
    # (a cursor's repr is a boundary too: the report must not eat the trace through it).
    main = app.recording / "run" / "app.py"
    main.write_text(main.read_text().replace("pg_backend_pid()", "pg_backend_pid() + 1"))
    changed = replay_ok(app)
    assert changed.returncode == 86, changed.stderr
    assert "got:      psycopg2.extensions.cursor.execute(<cursor>, 'select now(), pg_backend_pid() + 1" in \
        changed.stderr and "(same boundary, different arguments)" in changed.stderr, changed.stderr


PSYCOPG3 = """
    import sys, uuid, decimal
    import psycopg
    from psycopg.rows import dict_row

    with psycopg.connect(sys.argv[1], autocommit=True) as conn:
        conn.execute("create table notes (id serial primary key, text text, token uuid, "
                     "created timestamptz default now(), price numeric)")
        with conn.cursor() as cur:
            for word in ("alpha", "beta"):
                cur.execute("insert into notes (text, token, price) values (%s, %s, %s) returning id, created",
                            (word, uuid.uuid4(), decimal.Decimal("1.50")))
                row_id, created = cur.fetchone()
                print("inserted", row_id, created)   # timestamptz: the session's zone (a ZoneInfo)
        with conn.cursor(row_factory=dict_row) as cur:
            for row in cur.execute("select id, text, token, price from notes order by id"):
                print(row)
        try:
            conn.execute("select * from missing_table")
        except psycopg.errors.UndefinedTable as error:
            print("error", error.sqlstate, type(error).__name__)
        with conn.transaction():
            conn.execute("insert into notes (text) values ('gamma')")
        print(conn.execute("select count(*), now() from notes").fetchone())
"""


@pytest.mark.compat("postgres")
def test_psycopg3_against_a_postgres_server_gone_at_replay(program, postgres):
    pytest.importorskip("psycopg")
    _replays_without_the_server(program(PSYCOPG3), postgres, "error 42P01 UndefinedTable",
                                "tzinfo=zoneinfo.ZoneInfo(key=")


SQLALCHEMY = """
    import sys, uuid, datetime
    from sqlalchemy import create_engine, select, func, String, DateTime, Numeric, text
    from sqlalchemy.exc import IntegrityError
    from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

    class Base(DeclarativeBase):
        pass

    class Order(Base):
        __tablename__ = "orders"
        id: Mapped[int] = mapped_column(primary_key=True)
        token: Mapped[str] = mapped_column(String(32), unique=True)
        amount = mapped_column(Numeric(10, 2))
        created: Mapped[datetime.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    engine = create_engine(sys.argv[1].replace("postgresql://", "postgresql+psycopg2://"), pool_size=2)
    Base.metadata.create_all(engine)
    with Session(engine) as session:
        tokens = [uuid.uuid4().hex for _ in range(3)]
        session.add_all([Order(token=t, amount=n * 1.25) for n, t in enumerate(tokens, 1)])
        session.commit()
        for order in session.scalars(select(Order).order_by(Order.id)):
            print(order.id, order.token, order.amount, order.created)
        session.add(Order(token=tokens[0], amount=1))
        try:
            session.commit()
        except IntegrityError as error:
            session.rollback()
            print("duplicate:", error.orig.pgcode, type(error.orig).__name__)
        print("total", session.scalar(select(func.sum(Order.amount))))
    with engine.connect() as connection:
        print(connection.execute(text("select count(*) from orders")).scalar_one(),
              connection.dialect.server_version_info >= (10,))
    engine.dispose()
"""


@pytest.mark.compat("postgres")
def test_sqlalchemy_orm_on_postgres_gone_at_replay(program, postgres):
    pytest.importorskip("sqlalchemy")
    pytest.importorskip("psycopg2")
    _replays_without_the_server(program(SQLALCHEMY), postgres, "duplicate: 23505 UniqueViolation", "total 7.50")


REDIS = """
    import sys, time, uuid
    import redis
    r = redis.Redis.from_url(sys.argv[1], decode_responses=True)
    token = uuid.uuid4().hex
    r.set("token", token, ex=60)
    print("get", r.get("token") == token, 0 < r.ttl("token") <= 60)
    print("incr", [r.incr("hits") for _ in range(3)])
    with r.pipeline() as pipe:
        pipe.hset("user:1", mapping={"name": "ada", "at": time.time()})
        pipe.hgetall("user:1")
        pipe.rpush("queue", *range(5))
        pipe.lrange("queue", 0, -1)
        results = pipe.execute()
    print("pipeline", results[1]["name"], results[3])
    print("lua", r.eval("return redis.call('incrby', KEYS[1], ARGV[1])", 1, "hits", 10))
    print("blpop", r.blpop(["empty"], timeout=0.2))
    print("info", r.info("server")["redis_version"] > "0", r.dbsize())
    p = r.pubsub()
    p.subscribe("news")
    r.publish("news", "hello")
    msgs = []
    deadline = time.time() + 5
    while len(msgs) < 2 and time.time() < deadline:
        m = p.get_message(timeout=0.5)
        if m: msgs.append((m["type"], m["data"]))
    print("pubsub", msgs)
    try:
        r.lpush("token", 1)
    except redis.ResponseError as e:
        print("error", str(e)[:9])
    r.close()
    import asyncio
    import redis.asyncio as aioredis

    async def main():
        client = aioredis.from_url(sys.argv[1], decode_responses=True)
        async def bump(n):
            await asyncio.sleep(0.001 * n)
            return await client.incr("async-hits")
        print("async", sorted(await asyncio.gather(*(bump(n) for n in range(5)))))
        await client.aclose()

    asyncio.run(main())
"""


@pytest.mark.compat("redis")
def test_redis_py_sync_and_asyncio_against_a_redis_server_gone_at_replay(program, redis_server):
    pytest.importorskip("redis")
    _replays_without_the_server(program(REDIS), redis_server, "pubsub [('subscribe', 1), ('message', 'hello')]",
                                "async [1, 2, 3, 4, 5]", "error WRONGTYPE")


CELERY_TASKS = """
    import os, time, uuid
    from celery import Celery

    app = Celery("tasks", broker=os.environ["BROKER"], backend=os.environ["BROKER"])
    app.conf.update(worker_hijack_root_logger=False, broker_connection_retry_on_startup=True)

    @app.task
    def add(x, y):
        return {"sum": x + y, "token": uuid.uuid4().hex, "at": time.time()}

    @app.task
    def fail(n):
        raise ValueError(f"task failed for {n}")

    @app.task
    def visit(page):
        # A client per call, as many tasks do: dropped, its connection pool is garbage in a
        # cycle, and the pool's finalizer asks os.getpid() whenever the collector runs.
        import redis
        return redis.Redis.from_url(os.environ["BROKER"]).incr(f"visits:{page}")
"""

CELERY_CLIENT = """
import tasks
sent = [tasks.add.delay(n, n) for n in range(4)] + [tasks.fail.delay(9)]
for result in sent:
    try:
        print("result", result.get(timeout=60)["sum"])
    except ValueError as error:
        print("failed", error)
visits = [tasks.visit.delay("home") for _ in range(60)]
print("visits", max(result.get(timeout=60) for result in visits))
"""


def _log_records(text: str) -> dict[str, list[str]]:
    """A worker's log, one list of records per process (MainProcess, ForkPoolWorker-1...):
    each process's own order is replayed; how processes interleave on a shared stderr is
    not (docs/limitations.md)."""
    import re

    records: dict[str, list[str]] = {}
    current = records.setdefault("before the first record", [])
    for line in text.splitlines(True):
        match = re.match(r"\[[^\]]*: \w+/([\w-]+)\]", line)
        if match:
            current = records.setdefault(match.group(1), [])
            current.append(line)
        elif current:
            current[-1] += line
        else:
            current.append(line)
    return records


@pytest.mark.compat("celery")
@pytest.mark.parametrize("pool", ["prefork", "solo"])
def test_a_celery_worker_recorded_while_tasks_come_from_outside(program, redis_server, pool):
    """The worker (with its pool's forked processes) is recorded while a client outside
    the recording sends tasks through Redis; the broker is gone at replay."""
    pytest.importorskip("celery")
    import re
    import signal
    import subprocess
    import sys
    import time

    from conftest import LAUNCHER, _clean_env

    app = program(CELERY_TASKS, name="tasks.py")
    env = _clean_env({"BROKER": redis_server.url})
    out_path, err_path = app.root / "worker.out", app.root / "worker.err"
    with open(out_path, "w") as out, open(err_path, "w") as err:
        worker = subprocess.Popen(
            [LAUNCHER, "--recording", str(app.recording), "-m", "celery", "-A", "tasks", "worker", "--pool", pool,
             "--concurrency", "2", "--loglevel", "INFO", "--without-gossip", "--without-mingle",
             "--without-heartbeat", "--hostname", "w1@test"],
            cwd=app.dir, env=env, stdout=out, stderr=err)
    try:
        client = subprocess.run([sys.executable, "-c", CELERY_CLIENT], cwd=app.dir, env=env,
                                capture_output=True, text=True, timeout=120)
        assert client.stdout == "result 0\nresult 2\nresult 4\nresult 6\nfailed task failed for 9\nvisits 60\n", \
            client.stderr + err_path.read_text()
        time.sleep(1)  # the worker is idle, waiting on the broker
        worker.send_signal(signal.SIGTERM)  # warm shutdown
        assert worker.wait(60) == 0, err_path.read_text()
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
    redis_server.remove()
    recorded_out, recorded_err = out_path.read_text(), err_path.read_text()
    assert "raised unexpected: ValueError('task failed for 9')" in recorded_err

    def without_addresses(text):  # the banner shows the app's id(): an address (docs/limitations.md)
        return re.sub(r"0x[0-9a-f]+", "0x...", text)

    replayed = replay_ok(app, timeout=120)
    assert replayed.returncode == 0, replayed.stderr
    assert without_addresses(replayed.stdout) == without_addresses(recorded_out)
    assert _log_records(replayed.stderr) == _log_records(recorded_err)
    # The worker alone: its pool's processes are not run again.
    alone = replay_ok(app, process="0", timeout=120)
    assert alone.returncode == 0, alone.stderr
    main = {name: records for name, records in _log_records(recorded_err).items() if "ForkPoolWorker" not in name}
    assert _log_records(alone.stderr) == main


AIOPG = """
    import asyncio, sys
    import aiopg

    async def main():
        async with aiopg.create_pool(sys.argv[1], minsize=1, maxsize=2) as pool:
            async with pool.acquire() as conn:
                async with conn.cursor() as cur:
                    await cur.execute("create table jobs (id serial primary key, name text, at timestamptz default now())")
                    for name in ("first", "second"):
                        await cur.execute("insert into jobs (name) values (%s) returning id", (name,))
                        print("inserted", (await cur.fetchone())[0])
            async def count():
                async with pool.acquire() as conn:
                    async with conn.cursor() as cur:
                        await cur.execute("select count(*), pg_sleep(0.05)::text from jobs")
                        return (await cur.fetchone())[0]
            print("counts", await asyncio.gather(count(), count()))
            async with pool.acquire() as conn:
                async with conn.cursor() as cur:
                    try:
                        await cur.execute("select * from missing")
                    except Exception as error:
                        print("error", type(error).__name__, error.pgcode)

    asyncio.run(main())
"""


def test_aiopg_pool_against_a_postgres_server_gone_at_replay(program, postgres):
    """aiopg: psycopg2's asynchronous connections, polled from asyncio's loop (the
    connection's descriptor registered with the selector). Recording it used to fail
    (register_type, called from psycopg2's own modules, got the handle); its replay's
    stderr used to gain a ResourceWarning: Connection.__del__ reads its connection's
    ``closed`` at interpreter exit, after the recording's end (now answered as it was
    when the recording ended)."""
    pytest.importorskip("aiopg")
    app = program(AIOPG)
    recorded = record_ok(app, postgres.url)
    for text in ("inserted 2", "counts [2, 2]", "error UndefinedTable 42P01"):
        assert text in recorded.stdout, recorded.stdout + recorded.stderr
    postgres.remove()
    replayed = replay_ok(app)
    assert_same_run(recorded, replayed)
