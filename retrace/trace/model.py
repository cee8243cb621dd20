"""The trace as data: events, call sites and process endings, resolved by name.

Readers for people (the CLI, divergence reports) work on these; the replay hot
path reads the raw item lists instead.
"""

from __future__ import annotations

from collections import namedtuple

from retrace.errors import TraceCorrupt
from retrace.trace.cbor import CBORTag
from retrace.trace.format import TAG_SEALED
from retrace.trace.values import open_sealed


class Site(namedtuple("Site", "file line function")):
    __slots__ = ()

    def __str__(self) -> str:
        if not self.file:
            return "<unknown>"
        return f"{self.file}:{self.line} in {self.function}"


UNKNOWN_SITE = Site("", 0, "")


class Event(namedtuple("Event", "index boundary site value digest thread", defaults=(None, 0))):
    """One boundary call's recorded result; ``thread`` is the logical thread that made it
    (0 is the main thread, then threads in creation order)."""

    __slots__ = ()


class Ending(namedtuple("Ending", "how status time")):
    """How the recorded process ended (how: exit, os._exit, signal)."""

    __slots__ = ()


def iter_events(reader):
    """Resolve a TraceReader's items into ``Event``s; the last yield is an Ending if any."""
    names: dict[int, str] = {}
    sites: dict[int, Site] = {}
    index = 0
    thread = 0
    previous = None
    for items in reader.chunks():
        for item in items:
            if type(item) is list:
                digest = item[3] if len(item) > 3 else None
                value = item[2]
                if type(value) is CBORTag and value.tag == TAG_SEALED:  # (shown with its secrets as *s)
                    try:
                        value = open_sealed(value.value, [])
                    except Exception as exc:
                        raise TraceCorrupt(f"{reader.path} is corrupt: a sealed value ({exc})") from None
                yield Event(index, names.get(item[0], f"#{item[0]}"), sites.get(item[1], UNKNOWN_SITE), value,
                            digest, thread)
                previous = item
                index += 1
            elif type(item) is float:  # the previous event's boundary and site again (format 3)
                if previous is None:
                    raise TraceCorrupt(f"{reader.path} is corrupt: a repeated event with no event before it")
                yield Event(index, names.get(previous[0], f"#{previous[0]}"), sites.get(previous[1], UNKNOWN_SITE),
                            item, None, thread)
                index += 1
            elif type(item) is int:  # a hand-over: the events that follow are this thread's
                thread = item
            elif "b" in item:
                bid, name = item["b"]
                names[bid] = name
            elif "s" in item:
                sid, file, line, function = item["s"]
                sites[sid] = Site(file, line, function)
            elif "end" in item:
                end = item["end"] or {}
                yield Ending(end.get("how", "exit"), end.get("status"), end.get("time"))
