"""The trace as data: events, call sites and process endings, resolved by name.

Readers for people (the CLI, divergence reports) work on these; the replay hot
path walks the decoder's entries (trace/items.py) instead.
"""

from __future__ import annotations

from collections import namedtuple

from retrace.trace.format import SWITCH_ID
from retrace.trace.items import UNKNOWN_SITE, ItemDecoder, Site, unsealed

__all__ = ["UNKNOWN_SITE", "Ending", "Event", "Site", "ending_of", "iter_events"]


class Event(namedtuple("Event", "index boundary site value digest thread", defaults=(None, 0))):
    """One boundary call's recorded result; ``thread`` is the logical thread that made it
    (0 is the main thread, then threads in creation order)."""

    __slots__ = ()


class Ending(namedtuple("Ending", "how status time")):
    """How the recorded process ended (how: exit, os._exit, signal)."""

    __slots__ = ()


def ending_of(end: dict) -> Ending:
    """The end item's map (``ItemDecoder.ending``) as an ``Ending``."""
    return Ending(end.get("how", "exit"), end.get("status"), end.get("time"))


def _shown(item: list, places: list, number: int) -> list:
    """A value that held secrets, for people: decoded, its secrets as *s."""
    return unsealed(item, places)


def iter_events(reader):
    """Resolve a TraceReader's items into ``Event``s; the last yield is an Ending if any."""
    decoder = ItemDecoder(reader.path, _shown)
    names, sites = decoder.names, decoder.sites
    index = 0
    thread = 0
    ending = None
    for entries in decoder.chunks(reader):
        for entry in entries:
            bid = entry[0]
            if bid >= 0:
                yield Event(index, names.get(bid, f"#{bid}"), sites.get(entry[1], UNKNOWN_SITE), entry[2],
                            entry[3] if len(entry) > 3 else None, thread)
                index += 1
            elif bid == SWITCH_ID:  # a hand-over: the events that follow are this thread's
                thread = entry[2]
        if decoder.ending is not ending:  # (the end item is a chunk's last)
            ending = decoder.ending
            yield ending_of(ending)
