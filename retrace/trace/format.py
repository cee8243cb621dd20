"""Constants of the on-disk trace format, with their history.

A trace file is ``MAGIC`` followed by chunks. A chunk is an 8-byte frame header
(payload length, CRC-32 of the payload, both little-endian uint32) and a CBOR
payload. The first chunk is the header map (``format``, ``tool``, ``python``, ``pid``,
``created``; a child's ``process`` and ``parent``); every later chunk is a CBOR
array of items (at most writer.MAX_CHUNK_ITEMS). Values inside items are
encoded by trace/values.py (CBOR tags ``TAG_*`` below). An item is an event (a
CBOR array), a bare number, or a map:

- event ``[boundary_id, site_id, value]`` or ``[boundary_id, site_id, value, digest]``
  (``digest``: an int, or ``[int, places]`` for arguments with secrets blanked)
- ``F`` (a bare float)               an event at the boundary and call site of the
                                     event item before it, with value F and no digest
                                     (a clock read in a loop)
- ``N`` (a bare integer)             thread N runs from here on (a hand-over, see
                                     docs/threads.md); before the first one, thread 0
- ``{"b": [boundary_id, name]}``     names a boundary id (before its first event)
- ``{"s": [site_id, filename, line, function]}``  names a call site (before its first
                                     event; ``["", 0, ""]`` when there is none)
- ``{"x": places}``                  the next event's value had secrets blanked at these
                                     places (retrace/sealing.py); its value may be a
                                     ``TAG_SEALED``
- ``{"p": spot}``                    the running thread was switched out at ``spot``
                                     between boundary calls; a hand-over follows
- ``{"i": [names]}``                 the next event's call imported these modules first
- ``{"g": value}``                   a cyclic garbage collection ran here, before the
                                     events its finalizers made (engine/garbage.py)
- ``{"end": {...}}``                 the process ended cleanly (``how``, ``status``,
                                     ``time``...): the last item
- any other map                      skipped by readers (the writer's ``{"unencodable":
                                     ...}`` for an item it could not encode)

trace/items.py is the one decoder of these items. A torn tail (short frame or CRC
mismatch in the last chunk) means the process stopped while writing: readers keep
every complete chunk before it.
"""


MAGIC = b"RETRACE\x00"

# History:
#   1 - first format (retrace-python 0.1).
#   2 - thread hand-overs (bare integers) and switch-out spots ({"p": ...}).
#       A version 1 trace is a version 2 trace of one thread.
#   3 - repeated events: a bare float is an event at the previous event's boundary
#       and call site. Versions 1 and 2 have none, so they read as version 3.
#   4 - a call whose arguments held a secret has ``[digest, [[leaf, offset, length], ...]]``
#       as its digest: the digest of its key with those stretches blanked
#       (retrace/sealing.py). Older versions have none, so they read as version 4.
#       Later, still 4: ``{"i": ...}`` and ``{"g": ...}`` items, which readers that do not
#       know them skip (a replay by such a reader may then diverge, never misread).
# Changing how anything is encoded (tags, item shapes, the header, the key
# digest in trace/digest.py) needs a new version, a reader for the old one or its
# removal from READABLE_VERSIONS, and a new golden recording in tests/fixtures/.
FORMAT_VERSION = 4
READABLE_VERSIONS = frozenset({1, 2, 3, 4})

FRAME_HEADER_SIZE = 8

# Boundary ids below 0 mark items that are no call's result, on the hot path
# (writer) and in the replayer's event lists: a hand-over to another thread, a
# switch-out spot, and the modules a boundary call imported first (``{"i": [names]}``,
# just before its event: replay imports them inside the same call; readers that do not
# know the item skip it). Real boundary ids count up from 0.
SWITCH_ID = -1
PREEMPT_ID = -2
IMPORTS_ID = -3
GC_ID = -4  # ``{"g": value}``: a cyclic garbage collection ran here (engine/garbage.py)

# CBOR tags for values that CBOR has no type for (private range).
TAG_LIST = 40100
TAG_TUPLE = 40101
TAG_DICT = 40102
TAG_SET = 40103
TAG_FROZENSET = 40104
TAG_BYTEARRAY = 40105
TAG_STRUCTSEQ = 40106
TAG_RAISED = 40107
TAG_OPAQUE = 40108
TAG_OBJECT = 40109
TAG_SURROGATE_STR = 40110  # a str with lone surrogates (undecodable file names), as UTF-8 surrogatepass
TAG_SEALED = 40111  # (format 4) a value with secrets blanked inside it, as its CBOR bytes (retrace/sealing.py)

# The end marker's "how" when RETRACE_MAX_SIZE stopped the recording (the program went on).
SIZE_CAP = "size cap"
# ... and when retrace stopped it because its own machinery failed (the program went on;
# the marker's "why" says what failed).
STOPPED = "stopped"

# The event a signal handler's run leaves in the trace (boundaries/signals.py): no call of
# the program's; replay runs the handler where it ran (engine/replayer.py).
SIGNAL_EVENT = "signal.deliver"
