"""psycopg2 and psycopg 3: connections and cursors are handles; the server is never reached on replay.

libpq, in C, opens the connection's socket and does all its reads and writes: the
net family never sees them. So the drivers are recorded at their Python API, as
sqlite3 is: ``psycopg2.connect`` and ``psycopg.connect`` return a handle proxy
(engine/handles/), and every method and attribute of the connection, of its cursors
(named ones, the pure-Python ``DictCursor``/``RealDictCursor``..., psycopg 3's cursors
with their row factories), of its transactions and of the rows those return is a leaf.
Values the drivers convert (datetime with its zone, Decimal, UUID, arrays, json) are
stored by value. SQLAlchemy's psycopg2 dialect runs on top unchanged. psycopg 3's
``AsyncConnection`` is not recorded yet (a handle's coroutine cannot be awaited).

``register_type`` takes the real connection or cursor (C checks its type), so it is a
leaf too: recording, it gets the real object; on replay the conversions it sets up are
already in the recorded values. (``psycopg2.Error``'s read-only ``pgcode``/``pgerror``
come back through the class's own pickling state: trace/values.py's ``Raised``.)
"""

from __future__ import annotations

from retrace.boundaries.spec import Family, Leaf, Patch
from retrace.engine.handles import handle_function



FAMILY = Family(
    name="postgres",
    doc=__doc__,
    patches=(
        Patch("psycopg2", "connect", why="connects to a PostgreSQL server (libpq, in C): a handle",
              make=handle_function("psycopg2")),
        # (in its C module: psycopg2.extensions, _json, _range and extras import it from there)
        Patch("psycopg2._psycopg", "register_type", why="takes a real connection or cursor",
              make=handle_function("psycopg2")),
        Patch("psycopg", "connect", why="connects to a PostgreSQL server (libpq, in C): a handle",
              make=handle_function("psycopg2"), optional=True),
    ),
    leaves=(
        Leaf("psycopg2.*", why="connections and cursors as handles: each call (engine/handles/)"),
        Leaf("psycopg.*", why="connections and cursors as handles: each call (engine/handles/)"),
    ),
)
