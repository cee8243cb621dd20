"""Readiness: ``select.select``, ``select.poll`` and ``select.epoll`` objects.

Waiting for descriptors is a boundary: which ones were ready, and when, came
from the world. ``select.select`` is a leaf that stores, for each of its three
result lists, the positions of the ready objects in the lists it was given, and
on replay hands back the caller's own objects at those positions (its key is
the descriptor numbers and the timeout). The descriptors of our sockets and
files are the recorded numbers on replay, so keys and ready lists agree.

``select.poll()`` returns a ``poll`` of ours: registering and unregistering
only fill a table in memory and run for real in both modes (same errors), and
``poll()`` -- the wait -- is a leaf. ``select.epoll`` is a class of ours: the
epoll descriptor, ``register``/``modify``/``unregister`` (their errors depend on
the descriptor: EPERM for a regular file, EEXIST, EBADF), ``poll`` and
``close`` are leaves; in replay there is no epoll descriptor at all. (An event
loop dropped unclosed closes its selector from a finalizer, when the collector
runs: ``unregister`` and ``close`` made during a collection are not events.)

``selectors`` runs for real on top: its classes cache these factories as class
attributes (``EpollSelector._selector_cls = select.epoll`` is our class;
``SelectSelector._select = select.select`` stays unbound there, as the builtin
did, because the installer wraps replacements of builtin functions in a
non-binding callable).
Event loops (asyncio's selector loop) replay on top of this; replayed waits
return at once, so replayed timeouts and sleeps take no time.
"""

from __future__ import annotations

import struct

from retrace.boundaries.spec import Family, Leaf, Patch


def _fd_of(obj):
    if type(obj) is int:
        return obj
    return obj.fileno()


# -- select.select --------------------------------------------------------------------
def _key_select(rlist, wlist, xlist, timeout=None):
    return (tuple(map(_fd_of, rlist)), tuple(map(_fd_of, wlist)), tuple(map(_fd_of, xlist)), timeout)


def _positions(ready, given) -> list:
    if len(ready) == 1:
        for index, obj in enumerate(given):
            if obj is ready[0]:
                return [index]
    where = {}
    for index, obj in enumerate(given):
        where.setdefault(id(obj), index)
    return [where[id(obj)] for obj in ready]


def _store_select(result, args, kwargs):
    """The positions of the ready objects in the given lists, packed: no encoding."""
    r, w, x = result
    if not (r or w or x):
        return b""
    positions = [len(r), len(w), len(x)]
    for ready, given in zip(result, args):
        if ready:
            positions += _positions(ready, given)
    if max(positions) < 255:
        return bytes(positions)
    return struct.pack(f"<{len(positions)}I", *positions) + b"\xff"  # 0xff: 4-byte positions


def _load_select(stored, args, kwargs):
    if not stored:  # nothing ready (or replay past the recording's end)
        return [], [], []
    if stored[-1] == 255:
        positions = struct.unpack(f"<{len(stored) // 4}I", stored[:-1])
    else:
        positions = stored
    nr, nw, nx = positions[0], positions[1], positions[2]
    r, w, x = args[0], args[1], args[2]
    start = 3
    ready_r = [r[i] for i in positions[start:start + nr]]
    start += nr
    ready_w = [w[i] for i in positions[start:start + nw]]
    start += nw
    return ready_r, ready_w, [x[i] for i in positions[start:start + nx]]


# -- ready lists of poll/epoll: (fd, events) pairs packed into bytes ---------------------
def _store_pairs(result, args, kwargs):
    if not result:
        return b""
    return struct.pack(f"<{2 * len(result)}I", *[v for pair in result for v in pair])


def _load_pairs(stored, args, kwargs):
    if not stored:
        return []
    flat = struct.unpack(f"<{len(stored) // 4}I", stored)
    return [(flat[i], flat[i + 1]) for i in range(0, len(flat), 2)]


def _as_list(value):
    if type(value) is list or type(value) is tuple:
        return value
    try:
        return list(value)
    except TypeError:
        return value  # select raises its own error (recorded)


def _make_select(engine, original, name):
    leaf = engine.leaf(name, original, key=_key_select, store=_store_select, load=_load_select, depth=2)

    def select(rlist, wlist, xlist, timeout=None):
        return leaf(_as_list(rlist), _as_list(wlist), _as_list(xlist), timeout)

    select.__doc__ = original.__doc__
    select.__wrapped__ = original
    return select


# -- select.poll ----------------------------------------------------------------------
def _make_poll(engine, original, name):
    def wait(poller, timeout=None):
        return poller._real.poll(timeout)

    wait.__name__ = "poll"
    wait.__qualname__ = "poll.poll"
    waited = engine.leaf("select.poll.poll", wait, key=lambda poller, timeout=None: timeout,
                         store=_store_pairs, load=_load_pairs)

    class poll:
        """select.poll() while retrace runs: the table is real, the wait is a leaf."""

        __slots__ = ("_real",)

        def __init__(self):
            self._real = original()

        def register(self, fd, eventmask=None):
            if eventmask is None:
                return self._real.register(fd)
            return self._real.register(fd, eventmask)

        def modify(self, fd, eventmask):
            return self._real.modify(fd, eventmask)

        def unregister(self, fd):
            return self._real.unregister(fd)

        poll = waited

    poll.__module__ = "select"
    return poll


# -- select.epoll ---------------------------------------------------------------------
def _make_epoll(engine, original, name):
    from retrace.boundaries._socketobj import _watch_gc, collecting_here

    _watch_gc()
    leaf = engine.leaf
    _CLOSED = "I/O operation on closed epoll object"

    def new(sizehint, flags):
        real = original(sizehint, flags)
        return real, real.fileno()

    def from_fd(fd):
        real = original.fromfd(fd)
        return real, real.fileno()

    new.__name__ = "epoll"
    from_fd.__name__ = "fromfd"
    keep_fd = dict(store=lambda result, args, kwargs: result[1],
                   load=lambda fd, args, kwargs: (None, -1 if fd is None else fd))
    created = leaf("select.epoll", new, key=lambda sizehint, flags: (sizehint, flags), depth=2, **keep_fd)
    adopted = leaf("select.epoll.fromfd", from_fd, key=lambda fd: fd, depth=3, **keep_fd)

    def call(method):
        def real_call(ep, *args, **kwargs):
            return getattr(ep._real, method)(*args, **kwargs)

        real_call.__name__ = method
        real_call.__qualname__ = f"epoll.{method}"
        return real_call

    def wait(ep, timeout=None, maxevents=-1):
        return ep._real.poll(timeout, maxevents)

    def key_wait(ep, timeout=None, maxevents=-1):
        return (ep._fd, timeout, maxevents)

    wait.__name__ = "poll"
    wait.__qualname__ = "epoll.poll"

    def key_fd(ep, fd, *args):
        return (ep._fd, _fd_of(fd), *args)

    class epoll:
        """select.epoll while retrace runs: every call on the epoll descriptor is a leaf."""

        __slots__ = ("_real", "_fd", "__weakref__")

        def __init__(self, sizehint=-1, flags=0):
            self._real, self._fd = created(sizehint, flags)

        @classmethod
        def fromfd(cls, fd):
            self = cls.__new__(cls)
            self._real, self._fd = adopted(fd)
            return self

        @property
        def closed(self):
            return self._fd < 0

        def fileno(self):
            if self._fd < 0:
                raise ValueError(_CLOSED)
            return self._fd

        def close(self):
            if self._fd < 0:
                return
            try:
                if collecting_here():  # an event loop's finalizer: not an event
                    if self._real is not None:
                        self._real.close()
                else:
                    self._l_close()
            finally:
                self._fd = -1
                self._real = None

        def unregister(self, fd):
            if collecting_here():  # an event loop's finalizer: not an event
                return None if self._real is None else self._real.unregister(fd)
            return self._l_unregister(fd)

        def __enter__(self):
            if self._fd < 0:
                raise ValueError(_CLOSED)
            return self

        def __exit__(self, *exc_info):
            self.close()

        def __repr__(self):
            return f"<select.epoll object at {id(self):#x}>"

        register = leaf("select.epoll.register", call("register"), key=key_fd)
        modify = leaf("select.epoll.modify", call("modify"), key=key_fd)
        _l_unregister = leaf("select.epoll.unregister", call("unregister"), key=key_fd, depth=2)
        poll = leaf("select.epoll.poll", wait, store=_store_pairs, load=_load_pairs, key=key_wait)
        _l_close = leaf("select.epoll.close", call("close"), key=lambda ep: ep._fd, depth=3)

    epoll.__module__ = "select"
    epoll.__doc__ = original.__doc__
    return epoll


FAMILY = Family(
    name="readiness",
    doc=__doc__,
    patches=(
        Patch("select", "select", why="waits until descriptors are ready", make=_make_select),
        Patch("select", "poll", why="waits until descriptors are ready", make=_make_poll, optional=True),
        Patch("select", "epoll", why="an epoll descriptor: registrations and waits", make=_make_epoll,
              optional=True),
    ),
    leaves=(
        Leaf("select.poll.poll", why="waits until descriptors are ready"),
        Leaf("select.epoll.fromfd", why="an epoll descriptor adopted from a number"),
        *(Leaf(f"select.epoll.{name}", why="changes what an epoll descriptor watches")
          for name in ("register", "modify", "unregister", "close")),
        Leaf("select.epoll.poll", why="waits until descriptors are ready"),
    ),
)
