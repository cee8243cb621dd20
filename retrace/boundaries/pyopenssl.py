"""pyOpenSSL: contexts and connections are handles; OpenSSL's I/O on the socket is never reached on replay.

An ``OpenSSL.SSL.Connection`` made over a socket reads and writes the socket's
descriptor itself, in C (``SSL_set_fd``): the net family never sees those bytes, and
on replay, where the socket is no real one, OpenSSL would fail with EBADF. So
pyOpenSSL is recorded at its Python API, as pyzmq is: constructing a ``Context`` or
a ``Connection`` is a boundary whose result is a handle proxy (engine/handles/),
and every method of those -- ``do_handshake``, ``recv``/``recv_into``/``read``,
``send``/``sendall``/``write``, ``shutdown``, ``get_peer_certificate``,
``get_cipher_name``, the context's ``use_certificate``/``load_verify_locations``... --
is a leaf, answered from the trace on replay. A certificate a connection returns is a
handle too (its ``get_subject()``, ``digest()`` replay). Keys and certificates the
program makes itself (``OpenSSL.crypto``) are computed for real in both modes.

A Connection made without a socket (memory BIOs: ``bio_read``/``bio_write``) is
recorded the same way. Callbacks set on a context (``set_verify``'s, ALPN and SNI
selection) run inside the leaf that triggers them, while recording only.
"""

from __future__ import annotations

from retrace.boundaries.spec import Family, Leaf, Patch
from retrace.engine.handles import handle_class

FAMILY = Family(
    name="pyopenssl",
    doc=__doc__,
    patches=(
        Patch("OpenSSL.SSL", "Context", why="OpenSSL's context: the connections it makes do their I/O in C (a handle)",
              make=handle_class),
        Patch("OpenSSL.SSL", "Connection", why="OpenSSL reads and writes the socket's descriptor in C (a handle)",
              make=handle_class),
    ),
    leaves=(
        Leaf("OpenSSL.*", why="contexts and connections as handles: each call (engine/handles/)"),
    ),
)
