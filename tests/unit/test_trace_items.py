"""trace/items.py: the one decoder of trace items, as every reader sees it."""

from __future__ import annotations

import pytest

from retrace.errors import TraceCorrupt
from retrace.trace.format import GC_ID, IMPORTS_ID, PREEMPT_ID, SIGNAL_EVENT, SWITCH_ID
from retrace.trace.items import UNKNOWN_SITE, ItemDecoder, Site


def test_each_item_becomes_an_entry_or_a_definition():
    decoder = ItemDecoder("trace.bin")
    entries = decoder.decode([
        {"b": [0, "time.time"]}, {"s": [0, "/app.py", 3, "<module>"]}, [0, 0, 1.5], 2.5,
        1, {"p": ["spot"]}, {"i": ["json"]}, {"g": [0, 1]}, [0, 0, "x", 77], {"future": 1},
        {"end": {"how": "exit", "status": 0}},
    ])
    assert entries == [[0, 0, 1.5], [0, 0, 2.5], [SWITCH_ID, None, 1], [PREEMPT_ID, None, ["spot"]],
                       [IMPORTS_ID, None, ["json"]], [GC_ID, None, [0, 1]], [0, 0, "x", 77]]
    assert decoder.names == {0: "time.time"} and decoder.sites == {0: Site("/app.py", 3, "<module>")}
    assert decoder.events == 3 and decoder.ending == {"how": "exit", "status": 0}
    assert str(UNKNOWN_SITE) == "<unknown>"


def test_definitions_and_the_last_event_carry_over_to_the_next_chunk():
    decoder = ItemDecoder("trace.bin")
    decoder.decode([{"b": [4, SIGNAL_EVENT]}, [4, 0, [2]]])
    assert decoder.decode([3.5]) == [[4, 0, 3.5]]
    assert decoder.signal_bid == 4


def test_an_event_after_sealed_places_goes_through_unseal():
    seen = []

    def unseal(item, places, number):
        seen.append((places, number))
        return [item[0], item[1], "opened"]

    decoder = ItemDecoder("trace.bin", unseal)
    entries = decoder.decode([[0, 0, "a"], {"x": [[0, 3, "token", None]]}, [0, 0, "***"], [0, 0, "b"]])
    assert [entry[2] for entry in entries] == ["a", "opened", "b"]
    assert seen == [([[0, 3, "token", None]], 1)]


@pytest.mark.parametrize("items", [[[0]], ["text"], [{"b": [1]}], [{"s": 5}], [1.5], [["0", 0, 1]]],
                         ids=["short event", "not an item", "bad definition", "bad site", "float first",
                              "id not an int"])
def test_items_that_make_no_sense_are_corruption(items):
    with pytest.raises(TraceCorrupt, match=r"trace.bin is corrupt: .* after event 5"):
        ItemDecoder("trace.bin").decode(items, 5)
