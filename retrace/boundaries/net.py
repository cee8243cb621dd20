"""Network: sockets, name resolution and TLS.

``socket.socket`` becomes a subclass of ours (``_socketobj.py``) whose system calls
are leaves; everything written in Python above them (``socket.py``, http.client,
urllib3, asyncio's transports) runs for real on top. The resolver calls of ``_socket``
are leaves; TLS runs for real over a C object of ours whose handshake, reads and
writes are leaves (application data is recorded above TLS). In replay no socket holds
a descriptor: nothing connects, listens or accepts. Each case and its limits:
docs/network.md.
"""

from __future__ import annotations

from retrace.boundaries.spec import Family, Leaf, Patch, Turn, all_args


def _make_socket(engine, original, name):
    from retrace.boundaries._socketobj import make_socket_class

    return make_socket_class(engine, original)


def _make_socketpair(engine, original, name):
    from retrace.boundaries._socketobj import make_socketpair

    return make_socketpair(engine, original, name)


def _make_wrap_socket(engine, original, name):
    from retrace.boundaries._tlsobj import make_wrap

    return make_wrap(engine, original, name, bio=False)


def _make_wrap_bio(engine, original, name):
    from retrace.boundaries._tlsobj import make_wrap

    return make_wrap(engine, original, name, bio=True)


def _make_keylog(engine, original, name):
    from retrace.boundaries._tlsobj import make_keylog_property

    return make_keylog_property(engine, original, name)


def _make_memory_bio(engine, original, name):
    from retrace.boundaries._tlsobj import make_memory_bio

    return make_memory_bio(engine, original, name)


def _key_context(context, *args, **kwargs):
    """An SSLContext method: every argument but the context itself (callables by name)."""
    return all_args(*[a if not callable(a) else "<callable>" for a in args], **kwargs)


# _socket functions that ask the resolver or the system's databases.
_RESOLVER = (
    "getaddrinfo", "gethostbyname", "gethostbyname_ex", "gethostbyaddr", "getnameinfo",
    "getservbyname", "getservbyport", "getprotobyname",
    "if_nameindex", "if_nametoindex", "if_indextoname",
)
_OPTIONAL = {"if_nameindex", "if_nametoindex", "if_indextoname", "sethostname"}
# These encode a host name with the "idna" codec in C, which imports encodings.idna (and
# stringprep) the first time. Replay does not call them: their key loads the codec, in
# both modes, so the program's sys.modules holds it from the same point on.
_NAMES_IN_IDNA = frozenset({"getaddrinfo", "gethostbyname", "gethostbyname_ex", "gethostbyaddr"})
_idna_loaded = False


def _key_host(*args, **kwargs):
    global _idna_loaded
    if not _idna_loaded and args and type(args[0]) is str:
        _idna_loaded = True
        import codecs

        codecs.lookup("idna")
    return all_args(*args, **kwargs)


# SSLContext methods that read files in C, or report what was read.
_CONTEXT_FILES = ("load_verify_locations", "load_cert_chain", "set_default_verify_paths",
                  "load_dh_params", "get_ca_certs", "cert_store_stats", "session_stats")


# The leaves of the socket class of _socketobj.py (its creation is the patch socket.socket).
# Calls that answer at once keep the turn in a threaded program (a hand-over is an OS
# thread switch; a ThreadingHTTPServer makes several per request).
_SOCKET_LEAVES = (
    *(Leaf(f"socket.{name}", why="sets up or asks about the socket: answers at once", turn=Turn.KEEP)
      for name in ("settimeout", "setblocking", "bind", "listen", "getsockname", "getpeername",
                   "setsockopt", "getsockopt", "shutdown")),
    Leaf("socket.close", why="closes the descriptor (a lingering close waits, bounded by SO_LINGER)",
         turn=Turn.KEEP),
    *(Leaf(f"socket.{name}", why="waits for the network")
      for name in ("connect", "connect_ex", "_accept", "recv", "recvfrom", "recvmsg", "recv_into",
                   "recvfrom_into", "recvmsg_into")),
    *(Leaf(f"socket.{name}", why="sends to the network (may wait for room)")
      for name in ("send", "sendto", "sendmsg", "sendmsg_afalg")),
    Leaf("socket.sendall", why="sends to the network; hands the turn over itself only if it must wait",
         turn=Turn.KEEP),
)


# The leaves of the TLS and memory-buffer objects of _tlsobj.py.
_TLS_LEAVES = (
    Leaf("ssl.read", why="reads TLS records from the network"),
    Leaf("ssl.write", why="writes TLS records to the network"),
    *(Leaf(f"ssl.{name}", why="a TLS connection's state, or a handshake over the network")
      for name in ("do_handshake", "getpeercert", "cipher", "shared_ciphers", "version",
                   "selected_alpn_protocol", "compression", "pending", "get_channel_binding",
                   "verify_client_post_handshake", "shutdown", "set_context", "session", "set_session",
                   "session_reused")),
    *(Leaf(f"ssl.MemoryBIO.{name}", why="what flows between a TLS object and its transport")
      for name in ("read", "write", "write_eof", "pending", "eof")),
)


FAMILY = Family(
    name="net",
    doc=__doc__,
    patches=(
        Patch("socket", "socket", why="a socket: its system calls reach the network", make=_make_socket,
              turn=Turn.KEEP),  # (creating one answers at once)
        Patch("socket", "socketpair", why="creates two connected sockets", make=_make_socketpair),
        *(Patch("_socket", name, why="asks the resolver or a system database",
                key=_key_host if name in _NAMES_IN_IDNA else all_args, optional=name in _OPTIONAL)
          for name in _RESOLVER),
        Patch("_socket", "sethostname", why="changes the machine: done while recording, not on replay",
              key=all_args, optional=True),
        Patch("_socket", "dup", why="duplicates a descriptor", key=all_args),
        Patch("_socket", "close", why="closes a descriptor", key=all_args),
        Patch("ssl", "SSLContext._wrap_socket", why="TLS over a socket: handshake, records, certificates",
              make=_make_wrap_socket),
        Patch("ssl", "SSLContext._wrap_bio", why="TLS over memory buffers (asyncio)", make=_make_wrap_bio),
        *(Patch("ssl", f"SSLContext.{name}", why="reads certificate or key files in C", key=_key_context)
          for name in _CONTEXT_FILES),
        Patch("ssl", "SSLContext.keylog_filename", why="opens and writes the TLS key log file",
              make=_make_keylog),
        Patch("ssl", "MemoryBIO", why="what flows between a TLS object and its transport",
              make=_make_memory_bio),
        Patch("ssl", "RAND_status", why="OpenSSL's random generator state"),
        # (ssl.RAND_bytes: the randomness family's)
    ),
    leaves=_SOCKET_LEAVES + _TLS_LEAVES,
)
