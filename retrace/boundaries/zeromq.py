"""pyzmq: contexts, sockets and pollers are handles; libzmq's network is never reached on replay.

libzmq does its I/O in C, on threads of its own: the net family never sees it, and a
``recv`` blocks in C, not in a boundary. So pyzmq is recorded at its Python API, as
the database drivers are: constructing a ``zmq.Context`` (``Context()``,
``Context.instance()``), a ``Socket`` or a ``Poller`` is a boundary whose result is a
handle proxy (engine/handles/), and every method of those -- ``bind``, ``connect``,
``send*``/``recv*`` (bytes, strings, JSON, multipart, ``Frame``s), ``setsockopt``,
``poll``, ``close``, ``term`` -- is a leaf, answered from the trace on replay. Being
leaves, the blocking ones run without the threads' baton (engine/scheduler.py): two
threads of one program talking REQ/REP take turns as without retrace.

``zmq.asyncio`` and ``zmq.proxy``/``zmq.device`` (a C loop between two sockets) are not
recorded yet.
"""

from __future__ import annotations

from retrace.boundaries.spec import Family, Leaf, Patch
from retrace.engine.handles import handle_class


FAMILY = Family(
    name="zeromq",
    doc=__doc__,
    patches=(
        Patch("zmq", "Context", why="libzmq's context: its sockets do their I/O in C (a handle)",
              make=handle_class),
        Patch("zmq", "Socket", why="a libzmq socket made directly (a handle)", make=handle_class),
        Patch("zmq", "Poller", why="polls libzmq sockets in C (a handle)", make=handle_class),
    ),
    leaves=(
        Leaf("zmq.*", why="contexts, sockets and pollers as handles: each call (engine/handles/)"),
    ),
)
