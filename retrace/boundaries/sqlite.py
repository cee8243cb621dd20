"""sqlite3: connections, cursors and blobs are handles; the database is never opened on replay.

``sqlite3.connect`` returns a handle proxy (engine/handles/): every method of
the connection, of the cursors it makes and of its blobs is a leaf named like
``sqlite3.Cursor.execute`` and keyed by the handle and the arguments (the SQL
and its parameters), and attributes (``rowcount``, ``lastrowid``,
``description``, ``in_transaction``, ``total_changes``...) are read through
leaves. Recording runs them for real; replay answers from the trace, so the
database file may be gone, or another one be in its place.

Row factories run in Python in both modes. The real connection and its cursors
keep ``row_factory = None`` (so fetches record plain tuples); the factory the
program sets is kept on the proxy and applied to each fetched tuple, outside the
leaf -- exactly as sqlite3 would call it, with the (proxy) cursor and the tuple.
``sqlite3.Row`` is a class of ours with the real one's behaviour (index and
case-insensitive name access, ``keys()``, equality, hashing), so rows behave
alike in record and replay; ``sqlite3.Row is sqlite3.dbapi2.Row`` and
``isinstance(row, sqlite3.Row)`` hold.

``sqlite3.Connection``, ``Cursor`` and ``Blob`` are stand-ins: ``isinstance``
accepts the proxies (pandas checks ``isinstance(con, sqlite3.Connection)``),
subclassing works, and constructing one directly is a boundary.

``executemany`` takes its parameters as a list first, outside the leaf: a
generator of parameters runs (and makes its own boundary calls) in both modes.

Run only while recording, inside the leaf that triggers them (replay returns
the recorded results without calling them): Python callbacks sqlite calls from
C -- ``create_function``/``create_aggregate``/``create_collation``/
``create_window_function``, ``set_authorizer``, ``set_progress_handler``,
``set_trace_callback``, ``backup``'s progress, ``text_factory`` functions,
adapters and converters (``detect_types``). Their results are recorded; their
other effects (printing, changing Python state) happen in the recording only.

The SQLite library's version (``sqlite_version``, ``sqlite_version_info``,
``threadsafety``) is a fact of the recording machine and replays as recorded.
"""

from __future__ import annotations

import copyreg

from retrace.boundaries.spec import Family, Leaf, OnImport, Patch
from retrace.engine.handles import _UNSET, HandleProxy, handles_for, key_args, norm, register_mixin

_MODULE = "sqlite3.dbapi2"  # sqlite3/__init__ star-imports it: patched here, seen in both
_set = object.__setattr__  # our own fields of a proxy (its __setattr__ is the program's)


def _real_row_type():
    import _sqlite3

    return _sqlite3.Row


def _factory(factory):
    """The row factory to run: ours in place of the real sqlite3.Row."""
    if factory is not None and factory is _real_row_type():
        return Row
    return factory


def _materialize(args, kwargs):
    """executemany(sql, parameters): parameters as a list, taken outside the leaf."""
    if len(args) >= 2:
        seq = args[1]
        if type(seq) is not list and type(seq) is not tuple:
            args = (args[0], list(seq), *args[2:])
    elif "parameters" in kwargs:
        seq = kwargs["parameters"]
        if type(seq) is not list and type(seq) is not tuple:
            kwargs = dict(kwargs, parameters=list(seq))
    return args, kwargs


class _Factory:
    """``row_factory`` of a connection or cursor proxy: kept on the proxy.

    Reading it returns what the program set (or, if it never set one, what the real
    object has, through a leaf). Setting it is a leaf that leaves the real object's
    factory at None, so the real fetches return tuples the proxy then converts.
    """

    def __get__(self, proxy, owner=None):
        if proxy is None:
            return self
        factory = proxy._rt_row_factory
        if factory is _UNSET:
            return type(proxy)._rt_leaf("row_factory", "get")(proxy)
        return factory

    def __set__(self, proxy, value):
        type(proxy)._rt_leaf("row_factory", "set")(proxy, value)
        _set(proxy, "_rt_row_factory", value)

    def __delete__(self, proxy):
        type(proxy)._rt_leaf("row_factory", "del")(proxy)


class _SqliteProxy(HandleProxy):
    __slots__ = ()

    @classmethod
    def _rt_real_set(cls, real, name, value):
        setattr(real, name, None if name == "row_factory" else value)


class ConnectionProxy(_SqliteProxy):
    """Proxies of sqlite3.Connection (and of the program's subclasses of it)."""

    __slots__ = ("_rt_row_factory",)

    row_factory = _Factory()

    def _rt_init(self):
        _set(self, "_rt_row_factory", _UNSET)

    def _rt_adopt(self, cursor):
        """A cursor this connection made starts with the connection's row factory."""
        if isinstance(cursor, CursorProxy):
            _set(cursor, "_rt_description", _UNSET)
            if self._rt_row_factory is not _UNSET:
                _set(cursor, "_rt_row_factory", self._rt_row_factory)
        return cursor

    def cursor(self, *args, **kwargs):
        return self._rt_adopt(type(self)._rt_leaf("cursor")(self, *args, **kwargs))

    def execute(self, *args, **kwargs):
        return self._rt_adopt(type(self)._rt_leaf("execute")(self, *args, **kwargs))

    def executemany(self, *args, **kwargs):
        args, kwargs = _materialize(args, kwargs)
        return self._rt_adopt(type(self)._rt_leaf("executemany")(self, *args, **kwargs))

    def executescript(self, *args, **kwargs):
        return self._rt_adopt(type(self)._rt_leaf("executescript")(self, *args, **kwargs))


class CursorProxy(_SqliteProxy):
    """Proxies of sqlite3.Cursor: fetches return recorded tuples, then the row factory."""

    __slots__ = ("_rt_row_factory", "_rt_description")

    row_factory = _Factory()

    def _rt_init(self):
        _set(self, "_rt_row_factory", _UNSET)
        _set(self, "_rt_description", _UNSET)

    @property
    def description(self):
        # Fixed from one execute to the next: read once (a Row per fetched row asks for it).
        description = self._rt_description
        if description is _UNSET:
            description = type(self)._rt_leaf("description", "get")(self)
            _set(self, "_rt_description", description)
        return description

    def execute(self, *args, **kwargs):
        _set(self, "_rt_description", _UNSET)
        return type(self)._rt_leaf("execute")(self, *args, **kwargs)

    def executemany(self, *args, **kwargs):
        args, kwargs = _materialize(args, kwargs)
        _set(self, "_rt_description", _UNSET)
        return type(self)._rt_leaf("executemany")(self, *args, **kwargs)

    def executescript(self, *args, **kwargs):
        _set(self, "_rt_description", _UNSET)
        return type(self)._rt_leaf("executescript")(self, *args, **kwargs)

    def close(self, *args, **kwargs):
        _set(self, "_rt_description", _UNSET)
        return type(self)._rt_leaf("close")(self, *args, **kwargs)

    def _rt_rows(self, rows):
        factory = self._rt_row_factory
        if factory is _UNSET or factory is None:
            return rows
        factory = _factory(factory)
        return [factory(self, row) for row in rows]

    def fetchone(self, *args, **kwargs):
        row = (self._rt_leaves.get("fetchone") or type(self)._rt_leaf("fetchone"))(self, *args, **kwargs)
        factory = self._rt_row_factory
        if row is None or factory is _UNSET or factory is None:
            return row
        return _factory(factory)(self, row)

    def fetchmany(self, *args, **kwargs):
        return self._rt_rows(type(self)._rt_leaf("fetchmany")(self, *args, **kwargs))

    def fetchall(self, *args, **kwargs):
        return self._rt_rows(type(self)._rt_leaf("fetchall")(self, *args, **kwargs))

    def __next__(self):
        row = (self._rt_leaves.get("__next__") or type(self)._rt_leaf("__next__"))(self)
        factory = self._rt_row_factory
        if factory is _UNSET or factory is None:
            return row
        return _factory(factory)(self, row)


register_mixin("sqlite3.Connection", ConnectionProxy)
register_mixin("sqlite3.Cursor", CursorProxy)
register_mixin("sqlite3.Blob", _SqliteProxy)


# -- sqlite3.Row, ours ---------------------------------------------------------------------------
def _fold(name) -> bytes:
    """Column names compare as sqlite3.Row compares them: ASCII letters without case."""
    return name.encode("utf-8", "surrogatepass").lower()


class Row:
    """A row of a query result that supports index and case-insensitive name access.

    Same behaviour as the real ``sqlite3.Row`` (which can only be built from a real
    cursor, so replay could not make one): ``row[0]``, ``row["Name"]``, slices,
    ``keys()``, ``len``, iteration, equality and hashing by description and values.
    """

    __slots__ = ("_description", "_data")
    # Made by the real sqlite3 inside a leaf (a Connection subclass that sets
    # ``self.row_factory = sqlite3.Row`` in __init__): stored by value, not as a handle.
    __retrace_value__ = True

    def __init__(self, cursor, data, /):
        import _sqlite3

        if not isinstance(cursor, (_sqlite3.Cursor, CursorProxy)):
            raise TypeError(f"Row() argument 1 must be sqlite3.Cursor, not {type(cursor).__name__}")
        if not isinstance(data, tuple):
            raise TypeError(f"Row() argument 2 must be tuple, not {type(data).__name__}")
        self._description = cursor.description
        self._data = data

    def keys(self):
        description = self._description
        return [] if description is None else [column[0] for column in description]

    def __len__(self):
        return len(self._data)

    def __iter__(self):
        return iter(self._data)

    def __getitem__(self, key):
        if isinstance(key, int):
            return self._data[key]
        if isinstance(key, str):
            wanted = _fold(key)
            for index, column in enumerate(self._description or ()):
                if _fold(column[0]) == wanted:
                    return self._data[index]
            raise IndexError("No item with that key")
        if isinstance(key, slice):
            return self._data[key]
        raise IndexError("Index must be int or string")

    def __eq__(self, other):
        if not isinstance(other, Row):
            return NotImplemented
        return self._description == other._description and self._data == other._data

    def __ne__(self, other):
        if not isinstance(other, Row):
            return NotImplemented
        return not (self._description == other._description and self._data == other._data)

    def __hash__(self):
        return hash(self._description) ^ hash(self._data)

    def __reduce_ex__(self, protocol):
        # How trace/values.py stores it (and rebuilds it, setting the slots).
        return copyreg.__newobj__, (Row,), {"_description": self._description, "_data": self._data}


Row.__module__ = "sqlite3"
_row_registered = False


def _make_row(engine, original, name):
    global _row_registered
    if not _row_registered:
        import collections.abc

        collections.abc.Sequence.register(Row)  # as sqlite3.dbapi2 registers the real one
        _row_registered = True
    return Row


# -- connect and the stand-ins ---------------------------------------------------------------------
def _connect_key(*args, **kwargs):
    if args:
        args = (_path(args[0]), *args[1:])
    elif "database" in kwargs:
        kwargs = dict(kwargs, database=_path(kwargs["database"]))
    return key_args(*args, **kwargs)


def _path(database):
    if type(database) is str or type(database) is bytes:
        return database
    try:
        import os

        return os.fspath(database)
    except TypeError:
        return norm(database)


def _make_connect(engine, original, name):
    return handles_for(engine).function("sqlite3.connect", original, owner="sqlite3", key=_connect_key)


def _make_connection(engine, original, name):
    connect = _real_connect(original)
    system = handles_for(engine)

    def construct(cls, *args, **kwargs):  # sqlite3.Connection(path, ...): connect(path, ..., factory=cls)
        return connect(*args, factory=cls, **kwargs)

    return system.stand_in(original, construct="sqlite3.Connection", construct_with=construct)


def _real_connect(connection_type):
    import _sqlite3

    return _sqlite3.connect


def _make_cursor(engine, original, name):
    return handles_for(engine).stand_in(original, construct="sqlite3.Cursor")


def _make_blob(engine, original, name):
    return handles_for(engine).stand_in(original)


def _record_library(engine, module):
    """The SQLite library's version: replay shows the recording machine's."""
    import _sqlite3

    def library():
        return _sqlite3.sqlite_version, getattr(_sqlite3, "threadsafety", None)

    version, threadsafety = engine.leaf("sqlite3.sqlite_version", library)()
    module.sqlite_version = version
    try:
        module.sqlite_version_info = tuple(int(part) for part in version.split("."))
    except ValueError:
        pass
    if threadsafety is not None:
        module.threadsafety = threadsafety


FAMILY = Family(
    name="sqlite",
    doc=__doc__,
    patches=(
        Patch(_MODULE, "connect", why="opens a database: the connection is a handle", make=_make_connect),
        Patch(_MODULE, "Connection", why="constructing a connection opens a database; isinstance of proxies",
              make=_make_connection),
        Patch(_MODULE, "Cursor", why="a cursor of a proxied connection; isinstance of proxies", make=_make_cursor),
        Patch(_MODULE, "Blob", why="isinstance of blob proxies", make=_make_blob, optional=True),
        Patch(_MODULE, "Row", why="rows the same in record and replay (the real one needs a real cursor)",
              make=_make_row),
    ),
    on_import=(OnImport(_MODULE, _record_library, why="the SQLite library's version is the machine's"),),
    leaves=(
        Leaf("sqlite3.sqlite_version", why="the SQLite library's version and thread safety"),
        Leaf("sqlite3.*", why="connections, cursors and blobs as handles: each call (engine/handles/)"),
    ),
)
