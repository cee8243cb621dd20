"""The one decoder of trace items: a chunk's items in, a flat list of entries out.

Every reader of a trace (the replayer on its hot path, ``trace/model.py``'s events for
people, inspection's counts and sealed-secret lists) reads the items of format.py
through ``ItemDecoder``, so a shape is told apart, and found malformed, in one place.
An entry is a list:

- ``[boundary_id, site_id, value]`` or ``[boundary_id, site_id, value, digest]``: an
  event (a repeated event, the bare float, comes out as a full one);
- ``[SWITCH_ID, None, thread]``, ``[PREEMPT_ID, None, spot]``, ``[IMPORTS_ID, None,
  names]``, ``[GC_ID, None, value]``: what happened between events, in line with them.

Definitions make no entry; the decoder keeps them (``names``, ``sites``, ``ending``,
``signal_bid``), and hands an event whose value holds secrets (``{"x": places}`` just
before it) to ``unseal``. Unknown maps are skipped (format.py: newer optional items).
"""

from __future__ import annotations

from collections import namedtuple

from retrace.errors import TraceCorrupt
from retrace.trace.cbor import CBORTag
from retrace.trace.format import GC_ID, IMPORTS_ID, PREEMPT_ID, SIGNAL_EVENT, SWITCH_ID, TAG_SEALED
from retrace.trace.values import open_sealed


class Site(namedtuple("Site", "file line function")):
    """A call site, as a ``{"s": [site_id, file, line, function]}`` item declares it."""

    __slots__ = ()

    def __str__(self) -> str:
        if not self.file:
            return "<unknown>"
        return f"{self.file}:{self.line} in {self.function}"


UNKNOWN_SITE = Site("", 0, "")


def _as_recorded(item: list, places: list, number: int) -> list:
    return item


class ItemDecoder:
    """Decodes one trace's chunks in order (definitions carry over from chunk to chunk).

    ``unseal(item, places, number)``: what an event becomes whose value held secrets
    (``number``: its index among the trace's events); by default it stays as recorded.
    """

    def __init__(self, path: str, unseal=_as_recorded) -> None:
        self.path = path
        self.unseal = unseal
        self.names: dict[int, str] = {}
        self.sites: dict[int, Site] = {}
        self.ending: dict | None = None  # the end item's map, once read
        self.signal_bid: int | None = None  # the id of SIGNAL_EVENT, once declared
        self.events = 0  # event entries made so far
        self._previous = None  # the last event (a bare float repeats its boundary and site)
        self._sealed = None  # the next event's sealed places

    def decode(self, items: list, first: int | None = None) -> list:
        """The entries of one chunk's ``items``; TraceCorrupt if one makes no sense (its
        message counts from ``first``, by default the events decoded before)."""
        entries: list = []
        add = entries.append
        previous, number, sealed = self._previous, self.events, self._sealed  # (locals: the hot path)
        try:
            for item in items:
                kind = type(item)
                if kind is list:
                    if len(item) < 3 or type(item[0]) is not int:
                        raise ValueError("malformed event")
                    if sealed is not None:
                        places, sealed = sealed, None
                        item = self.unseal(item, places, number)
                    add(item)
                    previous = item
                    number += 1
                elif kind is float:  # the previous event's boundary and site (format 3)
                    if previous is None:
                        raise ValueError("a repeated event with no event before it")
                    add([previous[0], previous[1], item])
                    number += 1
                elif kind is int:  # a hand-over: the events that follow are this thread's
                    add([SWITCH_ID, None, item])
                elif kind is not dict:
                    raise ValueError("malformed item")
                elif "p" in item:
                    add([PREEMPT_ID, None, item["p"]])
                elif "i" in item:
                    add([IMPORTS_ID, None, item["i"]])
                elif "g" in item:
                    add([GC_ID, None, item["g"]])
                elif "b" in item:
                    bid, name = item["b"]
                    self.names[bid] = name
                    if name == SIGNAL_EVENT:
                        self.signal_bid = bid
                elif "s" in item:
                    sid, file, line, function = item["s"]
                    self.sites[sid] = Site(file, line, function)
                elif "end" in item:
                    self.ending = item["end"] if isinstance(item["end"], dict) else {}
                elif "x" in item:
                    sealed = item["x"]
        except (ValueError, TypeError) as exc:  # (a sealed value that does not decode is a ValueError too)
            at = (self.events if first is None else first) + len(entries)
            raise TraceCorrupt(f"{self.path} is corrupt: {exc} after event {at}") from None
        finally:
            self._previous, self.events, self._sealed = previous, number, sealed
        return entries

    def chunks(self, reader):
        """Each chunk of ``reader`` (a TraceReader) as its entries."""
        for items in reader.chunks():
            yield self.decode(items)


def unsealed(item: list, places: list, unsealer=None) -> list:
    """An event whose value held secrets, readable: a ``TAG_SEALED`` value decoded into
    objects, and, given an ``unsealer`` (a replay with the key), the originals put back;
    without one, a str or bytes value stays as recorded (with *s)."""
    value = item[2]
    if type(value) is CBORTag and value.tag == TAG_SEALED:  # (secrets inside: opened before decoding)
        value = open_sealed(value.value, places, unsealer)
    elif unsealer is None:
        return item
    else:
        value = unsealer.unseal(value, places)
    return [item[0], item[1], value, *item[3:]]
