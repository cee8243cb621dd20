"""``socket.socket`` while retrace runs: a subclass of ours whose system calls are leaves.

The class is the same in both modes and derives from the interpreter's own
``socket.socket`` (so from ``_socket.socket``): ``isinstance`` checks pass, and
everything ``socket.py`` writes in Python on top of the C methods -- ``accept``,
``dup``, ``makefile`` and its ``SocketIO``, ``sendfile``, ``create_connection``,
``create_server``, ``fromfd`` -- runs for real in both modes over our leaves.

- Recording: the C part of the object is a real socket (its ``__init__`` runs
  inside the creation leaf); every method that makes a system call is a leaf
  that calls the C method on ``self`` and keeps its result or exception.
- Replay: the C ``__init__`` never runs, so the C part holds no descriptor (-1)
  and nothing can reach the world through it; every leaf answers from the trace.

The facts that never change or only change through our own methods -- the
descriptor, family, type, protocol and timeout -- are kept in slots, set from the
creation leaf's answer (replay gets the recorded descriptor number) and updated
by ``settimeout``/``setblocking``/``close``/``detach``. ``fileno()``,
``gettimeout()``, ``getblocking()`` and the ``family``/``type``/``proto``/
``timeout`` attributes read them without an event.

Out-parameter reads (``recv_into``, ``recvfrom_into``, ``recvmsg_into``) store the
bytes read and copy them into the caller's buffer on replay.

A socket the program drops unclosed is closed by its finalizer, whenever the
garbage collector gets to it: that close is never an event (recording closes
the descriptor unrecorded, replay has none). Neither is a close made while a
cyclic garbage collection runs in the same thread, nor the close ``socket.py``
defers until the last ``makefile()`` file of a closed socket is closed (that
file may be dropped in a reference cycle and closed whenever the collector
runs, so the moment differs on replay). The "unclosed socket" ResourceWarning
shows the descriptor, family, type and protocol, not the addresses (reading
them would be an event).

TLS objects are in ``_tlsobj.py``.
"""

from __future__ import annotations

import _socket
import _thread
import gc
import struct
import sys

from retrace.boundaries._buffers import gather, scatter
from retrace.engine.state import untraced

_CSocket = _socket.socket
_c_init = _CSocket.__init__
_c_fileno = _CSocket.fileno
_c_detach = _CSocket.detach
_c_close = _CSocket.close
_c_gettimeout = _CSocket.gettimeout
_c_send = _CSocket.send
_c_sendall = _CSocket.sendall
_MSG_DONTWAIT = getattr(_socket, "MSG_DONTWAIT", 0)
_c_family = _CSocket.__dict__["family"].__get__
_c_type = _CSocket.__dict__["type"].__get__
_c_proto = _CSocket.__dict__["proto"].__get__
_is_finalizing = sys.is_finalizing

# descriptor, family, type, protocol, timeout (negative: None) -- packed: nothing to encode
_INFO = struct.Struct("<qiiid")


# -- closes that are never events ----------------------------------------------------------
class _Quiet:
    """Which thread runs a cyclic garbage collection, and which threads are closing a
    socket for its last ``makefile()`` file: the moment of those closes depends on the
    garbage collector (a file dropped in a cycle is closed when the collector runs),
    which does not run at the same moments on replay."""

    collecting = None  # the ident of the thread running a collection
    deferred = _thread._local()


def _gc_phase(phase, info, _q=_Quiet, _ident=_thread.get_ident):
    _q.collecting = _ident() if phase == "start" else None


def _watch_gc() -> None:
    if _gc_phase not in gc.callbacks:
        gc.callbacks.append(_gc_phase)


def collecting_here(_q=_Quiet, _ident=_thread.get_ident) -> bool:
    """True while this thread runs a cyclic garbage collection (finalizers included)."""
    return _q.collecting == _ident()


# -- keys: the arguments that matter ------------------------------------------------------
def _size(data):
    if type(data) is bytes:
        return len(data)
    return memoryview(data).nbytes


def _key_plain(sock, *args, **kwargs):
    if kwargs:
        return (sock._fd, *args, *sorted(kwargs.items()))
    return (sock._fd, *args)


def _key_data(sock, data, *args, **kwargs):
    """send(data, ...) and friends: the size of the data, not the bytes."""
    if kwargs:
        return (sock._fd, _size(data), *args, *sorted(kwargs.items()))
    if type(data) is bytes:
        return (sock._fd, len(data), *args)
    return (sock._fd, memoryview(data).nbytes, *args)


def _key_buffers(sock, buffers, *args, **kwargs):
    return (sock._fd, tuple(_size(b) for b in buffers), *args, *sorted(kwargs.items()))


# -- out-parameter reads ------------------------------------------------------------------
def _buffer(args, kwargs):
    return memoryview(args[1] if len(args) > 1 else kwargs["buffer"]).cast("B")


def _store_into(count, args, kwargs):
    return _buffer(args, kwargs)[:count].tobytes()


def _load_into(data, args, kwargs):
    if data is None:  # replay past the recording's end (interpreter shutdown)
        return 0
    _buffer(args, kwargs)[:len(data)] = data
    return len(data)


def _store_from_into(result, args, kwargs):
    count, address = result
    return _buffer(args, kwargs)[:count].tobytes(), address


def _load_from_into(stored, args, kwargs):
    data, address = stored
    _buffer(args, kwargs)[:len(data)] = data
    return len(data), address


def _store_msg_into(result, args, kwargs):
    count, ancdata, msg_flags, address = result
    return gather(args[1], count), ancdata, msg_flags, address


def _load_msg_into(stored, args, kwargs):
    data, ancdata, msg_flags, address = stored
    scatter(data, args[1])
    return len(data), ancdata, msg_flags, address


# -- what the leaves do when recording (C methods on the real socket) ----------------------
def _real_open(sock, family, type, proto, fileno):
    _c_init(sock, family, type, proto, fileno)
    timeout = _c_gettimeout(sock)
    return _INFO.pack(_c_fileno(sock), _c_family(sock), _c_type(sock), _c_proto(sock),
                      -1.0 if timeout is None else timeout)


def _real_settimeout(sock, value):
    _CSocket.settimeout(sock, value)
    return _c_gettimeout(sock)


def _real_setblocking(sock, flag):
    _CSocket.setblocking(sock, flag)
    return _c_gettimeout(sock)


_real_open.__name__ = "__init__"
_real_settimeout.__name__ = "settimeout"
_real_setblocking.__name__ = "setblocking"

# C methods that are leaves as they are: name -> key
_PLAIN_METHODS = {
    "connect": _key_plain, "connect_ex": _key_plain, "bind": _key_plain, "listen": _key_plain,
    "_accept": _key_plain, "getsockname": _key_plain, "getpeername": _key_plain,
    "setsockopt": _key_plain, "getsockopt": _key_plain, "shutdown": _key_plain,
    "recv": _key_plain, "recvfrom": _key_plain, "recvmsg": _key_plain,
    "send": _key_data, "sendto": _key_data,
    "sendmsg_afalg": _key_plain,
}


def _buffers_listed(method):
    """``sendmsg``/``recvmsg_into`` whose buffers may be any iterable (asyncio's is an
    ``islice``, 3.12+): read once into a list, for the key and for the call alike."""
    def with_buffers_listed(sock, buffers, *args, **kwargs):
        if type(buffers) is not list and type(buffers) is not tuple:
            buffers = list(buffers)
        return method(sock, buffers, *args, **kwargs)

    with_buffers_listed.__name__ = with_buffers_listed.__qualname__ = method.__name__
    with_buffers_listed.__doc__ = method.__doc__
    return with_buffers_listed


def make_socket_class(engine, base):
    """``socket.socket`` for this engine: a subclass of the original ``base``."""
    module = sys.modules[base.__module__]
    convert = module._intenum_converter
    AddressFamily, SocketKind = module.AddressFamily, module.SocketKind
    AF_INET, SOCK_STREAM = module.AF_INET, module.SOCK_STREAM
    _watch_gc()

    leaf = engine.leaf  # (each leaf's turn is declared in net.py)
    sched = engine.threads

    def sendall(sock, data, flags=0):
        """``sendall`` that hands the turn over only when the kernel cannot take all of
        ``data`` at once (recording; a socket without timeout: with one, a "don't wait"
        send would still wait for it; without MSG_DONTWAIT, always)."""
        if sched.idle:
            return _c_sendall(sock, data, flags)
        if _MSG_DONTWAIT and _c_gettimeout(sock) in (None, 0.0):
            view = memoryview(data)
            try:
                sent = _c_send(sock, view, flags | _MSG_DONTWAIT)
            except BlockingIOError:
                sent = 0
            if sent == view.nbytes:
                return None
            data = view.cast("B")[sent:]
        return sched.outside(_c_sendall, (sock, data, flags), {})

    opened = leaf("socket.socket", _real_open, key=lambda s, f, t, p, n: (int(f), int(t), int(p), n),
                  depth=2)
    set_timeout = leaf("socket.settimeout", _real_settimeout, key=_key_plain, depth=2)
    set_blocking = leaf("socket.setblocking", _real_setblocking, key=_key_plain, depth=2)
    closed = leaf("socket.close", _c_close, key=_key_plain, depth=3)
    unpack = _INFO.unpack
    quiet = _Quiet
    ident = _thread.get_ident

    class socket(base):
        __slots__ = ("_fd", "_family", "_type", "_proto", "_timeout")
        __doc__ = base.__doc__

        def __init__(self, family=-1, type=-1, proto=-1, fileno=None):
            if fileno is None:
                if family == -1:
                    family = AF_INET
                if type == -1:
                    type = SOCK_STREAM
                if proto == -1:
                    proto = 0
            info = opened(self, family, type, proto, fileno)
            if info is None:  # replay past the recording's end (interpreter shutdown)
                info = _INFO.pack(-1, int(family), int(type), int(proto), -1.0)
            self._fd, self._family, self._type, self._proto, timeout = unpack(info)
            self._timeout = None if timeout < 0 else timeout
            self._io_refs = 0
            self._closed = False

        # -- facts kept in slots: no event ------------------------------------------------
        def fileno(self):
            return self._fd

        family = property(lambda self: convert(self._family, AddressFamily),
                          doc="Read-only access to the address family for this socket.")
        type = property(lambda self: convert(self._type, SocketKind),
                        doc="Read-only access to the socket type.")
        proto = property(lambda self: self._proto, doc="the socket protocol")
        timeout = property(lambda self: self._timeout, doc="the socket timeout")

        def gettimeout(self):
            return self._timeout

        def getblocking(self):
            return self._timeout != 0.0

        def settimeout(self, value):
            self._timeout = set_timeout(self, value)

        def setblocking(self, flag):
            self._timeout = set_blocking(self, flag)

        # -- endings ---------------------------------------------------------------------
        def detach(self):
            self._closed = True
            fd, self._fd = self._fd, -1
            _c_detach(self)  # replay: the C part has no descriptor, nothing happens
            return fd

        def _decref_socketios(self):
            # The last makefile() file is closing: socket.py closes the socket now if the
            # program already closed it. That close is not an event (see _Quiet).
            if self._io_refs > 0:
                self._io_refs -= 1
            if self._closed:
                deferred = quiet.deferred
                deferred.depth = getattr(deferred, "depth", 0) + 1
                try:
                    self.close()
                finally:
                    deferred.depth -= 1

        def _real_close(self):
            if (self._fd == -1 or quiet.collecting == ident() or getattr(quiet.deferred, "depth", 0)
                    or _is_finalizing()):
                # Already closed, or closed for a dropped file, during a garbage collection
                # or at exit: not an event. The real descriptor (recording only) closes here.
                self._fd = -1
                return _c_close(self)
            try:
                closed(self)
            finally:
                self._fd = -1

        def __del__(self, untraced=untraced, _c_fileno=_c_fileno, _c_close=_c_close):
            # Replaces the C finalizer, which would warn with repr() (events, at a moment
            # the garbage collector chooses) and only knows the real descriptor. The warning
            # (its source line lookup reads files) and the real close are never events.
            # (Defaults: at interpreter shutdown this module's globals may be gone.)
            try:
                fd = self._fd
            except AttributeError:  # its creation failed
                fd = -1
            with untraced():
                if fd != -1:
                    try:
                        import warnings

                        closed = " [closed]" if getattr(self, "_closed", False) else ""
                        warnings.warn(f"unclosed <{self.__class__.__module__}.{self.__class__.__qualname__}"
                                      f"{closed} fd={fd}, family={self._family}, type={self._type}, "
                                      f"proto={self._proto}>", ResourceWarning, 2, self)
                    except Exception:
                        pass
                    self._fd = -1
                if _c_fileno(self) != -1:
                    try:
                        _c_close(self)
                    except OSError:
                        pass

    # -- the system calls: each C method is a leaf, bound as a method ---------------------
    for name, key in _PLAIN_METHODS.items():
        method = getattr(_CSocket, name, None)
        if method is not None:
            setattr(socket, name, leaf(f"socket.{name}", method, key=key))
    if hasattr(_CSocket, "sendmsg"):
        socket.sendmsg = _buffers_listed(leaf("socket.sendmsg", _CSocket.sendmsg, key=_key_buffers, depth=2))
    sendall.__name__ = sendall.__qualname__ = "sendall"
    socket.sendall = leaf("socket.sendall", sendall, key=_key_data)
    socket.recv_into = leaf("socket.recv_into", _CSocket.recv_into, key=_key_data,
                            store=_store_into, load=_load_into)
    socket.recvfrom_into = leaf("socket.recvfrom_into", _CSocket.recvfrom_into, key=_key_data,
                                store=_store_from_into, load=_load_from_into)
    if hasattr(_CSocket, "recvmsg_into"):
        socket.recvmsg_into = _buffers_listed(leaf("socket.recvmsg_into", _CSocket.recvmsg_into, key=_key_buffers,
                                                   store=_store_msg_into, load=_load_msg_into, depth=2))
    socket.__module__ = base.__module__
    socket.__qualname__ = base.__qualname__
    return socket


# -- socket.socketpair: two descriptors from one leaf, then two sockets of ours -----------
def make_socketpair(engine, original, name):
    module = sys.modules[original.__module__]

    def pair(family, type, proto):
        a, b = _socket.socketpair(family, type, proto)
        return a.detach(), b.detach()

    pair.__name__ = "socketpair"
    made = engine.leaf(name, pair, key=lambda f, t, p: (int(f), int(t), int(p)), depth=2)

    def socketpair(family=None, type=module.SOCK_STREAM, proto=0):
        if family is None:
            family = module.AF_UNIX
        fd_a, fd_b = made(family, type, proto)
        cls = module.socket
        return cls(family, type, proto, fd_a), cls(family, type, proto, fd_b)

    socketpair.__doc__ = original.__doc__
    socketpair.__wrapped__ = original
    return socketpair
