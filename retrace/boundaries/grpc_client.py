"""gRPC clients: channels and what they make are handles; the server is never reached on replay.

gRPC's core, in C, owns the connection: its sockets, its threads and its completion
queues are invisible to the net family. So a client is recorded at its Python API:
``grpc.insecure_channel`` and ``grpc.secure_channel`` return a handle proxy
(engine/handles/), and so does everything the channel makes -- the multi-callables
of ``unary_unary``/``unary_stream``/``stream_unary``/``stream_stream``, the calls,
futures and response iterators they return. Calling one is a leaf: the request is its
key, the response (bytes, or a protobuf message stored by value) its result, an
``RpcError`` (``DEADLINE_EXCEEDED``, ``UNAVAILABLE``...) its exception with its code and
details. The serializers run inside the leaf, while recording only.

A gRPC *server* in the recorded program is not recorded yet: its handlers run on
gRPC's threads, and a replay would need its port (see docs/compatibility.md).
"""

from __future__ import annotations

from retrace.boundaries.spec import Family, Leaf, OnImport, Patch
from retrace.engine.handles import handle_function

# What an RPC's state is, for the trace: an RpcError raised by a call carries it (its
# code(), details(), metadata), and the rest of it (a condition, callbacks) cannot travel.
_STATE_FACTS = ("debug_error_string", "cancelled", "method", "target")



def _state_by_value(engine, module):
    """An RPC's state encodes as what it says (code, details, metadata), so an RpcError a
    call raised is the same error on replay (``exc.code()``), not one made of nothing."""
    state_class = module._RPCState

    def __reduce_ex__(self, protocol):
        facts = {name: getattr(self, name, None) for name in _STATE_FACTS}
        return (type(self), ((), self.initial_metadata, self.trailing_metadata, self.code, self.details), facts)

    had = state_class.__dict__.get("__reduce_ex__")
    state_class.__reduce_ex__ = __reduce_ex__

    def undo():
        if had is None:
            del state_class.__reduce_ex__
        else:
            state_class.__reduce_ex__ = had

    return undo


FAMILY = Family(
    name="grpc",
    doc=__doc__,
    patches=(
        Patch("grpc", "insecure_channel", why="a channel: gRPC's core does its I/O in C (a handle)",
              make=handle_function("grpc")),
        Patch("grpc", "secure_channel", why="a TLS channel: gRPC's core does its I/O in C (a handle)",
              make=handle_function("grpc")),
    ),
    on_import=(
        OnImport("grpc._channel", _state_by_value, why="an RpcError's code and details must replay"),
    ),
    leaves=(
        Leaf("grpc.*", why="channels and their calls as handles: each call (engine/handles/)"),
    ),
)
