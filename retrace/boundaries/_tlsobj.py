"""TLS while retrace runs: the C object under ``ssl.SSLSocket``/``ssl.SSLObject`` as leaves.

``ssl.SSLSocket`` (defined by ``ssl`` over whatever ``socket.socket`` is when
``ssl`` is imported, so over ours) and ``ssl.SSLObject`` run for real. The C
object they drive (``_ssl._SSLSocket``, made by ``SSLContext._wrap_socket`` and
``_wrap_bio``) is replaced by ``TLSObject``, whose handshake, reads, writes,
certificate, cipher and session queries are leaves: replay gets the application
data above TLS and needs neither the peer nor certificates. ``ssl.MemoryBIO``
(the buffers asyncio moves encrypted bytes through) is a class of ours whose
reads and writes are leaves too, since no real TLS object fills them on replay.
"""

from __future__ import annotations

import weakref

from retrace.boundaries._socketobj import _size
from retrace.engine.state import state


def _store_nothing(result, args, kwargs):
    return None


def _tls_read(tls, size=1024, buffer=None):
    if buffer is None:
        return tls._real.read(size)
    return tls._real.read(size, buffer)


def _tls_buffer(args, kwargs):
    """The buffer ``read(size, buffer)`` fills, or None."""
    return args[2] if len(args) > 2 else kwargs.get("buffer")


def _store_tls_read(result, args, kwargs):
    buffer = _tls_buffer(args, kwargs)
    if buffer is None:
        return result
    return memoryview(buffer).cast("B")[:result].tobytes()


def _load_tls_read(data, args, kwargs):
    buffer = _tls_buffer(args, kwargs)
    if buffer is None:
        return data
    if data is None:  # replay past the recording's end (interpreter shutdown)
        return 0
    memoryview(buffer).cast("B")[:len(data)] = data
    return len(data)


def _tls_key_size(tls, size=1024, buffer=None):
    return size


def _tls_key_data(tls, data):
    return _size(data)


def _forward(owner: str, method: str):
    """The real object's ``method``, called on a wrapper's ``_real`` (a leaf's call)."""
    def call(wrapper, *args):
        return getattr(wrapper._real, method)(*args)

    call.__name__ = method
    call.__qualname__ = f"{owner}.{method}"
    return call


def _tls_call(method):
    return _forward("_SSLSocket", method)


def _tls_get(attr):
    def get(tls):
        return getattr(tls._real, attr)

    get.__name__ = attr
    return get


def _tls_set(attr):
    def set_(tls, value):
        setattr(tls._real, attr, value)

    set_.__name__ = attr
    return set_


def _tls_shutdown(tls):
    tls._real.shutdown()


_tls_shutdown.__name__ = "shutdown"


class SessionStub:
    """What replay hands out for a TLS session (the recorded facts, no session)."""

    __slots__ = ("id", "time", "timeout", "ticket_lifetime_hint", "has_ticket")

    def __init__(self, id, time, timeout, ticket_lifetime_hint, has_ticket) -> None:
        self.id, self.time, self.timeout = id, time, timeout
        self.ticket_lifetime_hint, self.has_ticket = ticket_lifetime_hint, has_ticket


def _store_session(session, args, kwargs):
    if session is None:
        return None
    return (session.id, session.time, session.timeout, session.ticket_lifetime_hint, session.has_ticket)


def _load_session(stored, args, kwargs):
    return None if stored is None else SessionStub(*stored)


class TLSObject:
    """Stands for ``_ssl._SSLSocket`` (what ``SSLContext._wrap_socket``/``_wrap_bio`` make).

    Recording: ``_real`` is the C object and every method is a leaf over it.
    Replay: ``_real`` is None; handshakes, reads, writes, certificates, ciphers
    all come from the trace.
    """

    __slots__ = ("_real", "_sock", "_context", "server_side", "server_hostname", "_owner", "__weakref__")

    def __init__(self, real, sock, context, server_side, server_hostname, owner) -> None:
        self._real = real
        self._sock = sock          # the socket (None for a memory BIO): what shutdown() returns
        self._context = context
        self.server_side = bool(server_side)
        self.server_hostname = server_hostname
        self._owner = None if owner is None else weakref.ref(owner)

    def _get_context(self):
        return self._context

    def _set_context(self, context):
        self._l_set_context(context)
        self._context = context

    context = property(_get_context, _set_context)

    def _get_owner(self):
        return None if self._owner is None else self._owner()

    def _set_owner(self, owner):
        if self._real is not None:
            self._real.owner = owner
        self._owner = None if owner is None else weakref.ref(owner)

    owner = property(_get_owner, _set_owner)

    session = property(lambda self: self._l_session(), lambda self, value: self._l_set_session(value))
    session_reused = property(lambda self: self._l_session_reused())

    def shutdown(self):
        self._l_shutdown()
        return self._sock


# Methods of the C TLS object that are leaves as they are (stored by value).
_TLS_METHODS = ("do_handshake", "getpeercert", "cipher", "shared_ciphers", "version",
                "selected_alpn_protocol", "compression", "pending", "get_channel_binding",
                "verify_client_post_handshake")


def install_tls_leaves(engine) -> None:
    leaf = engine.leaf
    TLSObject.read = leaf("ssl.read", _tls_read, key=_tls_key_size, store=_store_tls_read,
                          load=_load_tls_read)
    TLSObject.write = leaf("ssl.write", _tls_call("write"), key=_tls_key_data)
    for name in _TLS_METHODS:
        setattr(TLSObject, name, leaf(f"ssl.{name}", _tls_call(name)))
    TLSObject._l_shutdown = leaf("ssl.shutdown", _tls_shutdown, depth=2)
    TLSObject._l_set_context = leaf("ssl.set_context", _tls_set("context"), store=_store_nothing, depth=3)
    TLSObject._l_session = leaf("ssl.session", _tls_get("session"), store=_store_session,
                                load=_load_session, depth=3)
    TLSObject._l_set_session = leaf("ssl.set_session", _tls_set("session"), depth=3)
    TLSObject._l_session_reused = leaf("ssl.session_reused", _tls_get("session_reused"), depth=3)


def _key_wrap_socket(context, sock, server_side, server_hostname=None, **kwargs):
    return (sock._fd, bool(server_side), server_hostname)


def _key_wrap_bio(context, incoming, outgoing, server_side, server_hostname=None, **kwargs):
    return (bool(server_side), server_hostname)


def make_wrap(engine, original, name, bio: bool):
    """``SSLContext._wrap_socket`` / ``_wrap_bio``: a TLSObject over the C object."""
    install_tls_leaves(engine)

    def unwrap_bios(context, incoming, outgoing, *args, **kwargs):
        return original(context, getattr(incoming, "_real", incoming), getattr(outgoing, "_real", outgoing),
                        *args, **kwargs)

    if bio:
        wrapped = engine.leaf(name, unwrap_bios, key=_key_wrap_bio, store=_store_nothing, depth=2)
    else:
        wrapped = engine.leaf(name, original, key=_key_wrap_socket, store=_store_nothing, depth=2)

    if bio:
        def _wrap_bio(self, incoming, outgoing, server_side, server_hostname, *, owner=None, session=None):
            real = wrapped(self, incoming, outgoing, server_side, server_hostname, owner=owner,
                           session=getattr(session, "_real", session))
            return TLSObject(real, None, self, server_side, server_hostname, owner)

        _wrap_bio.__wrapped__ = original
        return _wrap_bio

    def _wrap_socket(self, sock, server_side, server_hostname=None, *, owner=None, session=None):
        real = wrapped(self, sock, server_side, server_hostname, owner=owner, session=session)
        return TLSObject(real, sock, self, server_side, server_hostname, owner)

    _wrap_socket.__wrapped__ = original
    return _wrap_socket


def make_keylog_property(engine, original, name):
    """``SSLContext.keylog_filename``: setting it opens (and writes) the file in C."""
    set_real = engine.leaf(name, original.__set__, key=lambda context, value: value, depth=3)

    def get(context):
        return context.__dict__.get("_retrace_keylog_filename")

    def set_(context, value):
        set_real(context, value)
        context.__dict__["_retrace_keylog_filename"] = value

    return property(get, set_, doc=original.__doc__)


# -- ssl.MemoryBIO: the buffers between a TLS object and asyncio's transport ---------------
def _bio_call(method):
    return _forward("MemoryBIO", method)


class MemoryBIO:
    """``ssl.MemoryBIO`` while retrace runs: what flows through it is recorded.

    The C TLS object reads and writes the real buffers directly while recording;
    on replay there is none, so every read, write and state query is a leaf.
    """

    __slots__ = ("_real", "__weakref__")

    def __init__(self) -> None:
        self._real = self._l_new()

    pending = property(lambda self: self._l_pending())
    eof = property(lambda self: self._l_eof())


def make_memory_bio(engine, original, name):
    leaf = engine.leaf
    recording = engine.recording

    def new():
        return original() if recording or state.busy else None

    MemoryBIO._l_new = staticmethod(new)
    MemoryBIO.read = leaf("ssl.MemoryBIO.read", _bio_call("read"), key=lambda bio, *a: a)
    MemoryBIO.write = leaf("ssl.MemoryBIO.write", _bio_call("write"), key=lambda bio, data: _size(data))
    MemoryBIO.write_eof = leaf("ssl.MemoryBIO.write_eof", _bio_call("write_eof"))
    MemoryBIO._l_pending = leaf("ssl.MemoryBIO.pending", _tls_get("pending"), depth=3)
    MemoryBIO._l_eof = leaf("ssl.MemoryBIO.eof", _tls_get("eof"), depth=3)
    MemoryBIO.__module__ = "ssl"
    return MemoryBIO
