"""Where a signal is delivered: the position of the call instruction, and a delivery first in
its chunk seen as the event before it."""

from __future__ import annotations

import sys

from retrace.trace.reader import TraceReader


def test_a_delivery_first_in_a_chunk_is_seen_as_the_event_before_it_is_replayed(tmp_path):
    from retrace.engine.replayer import SIGNAL_EVENT, ReplaySource
    from retrace.trace import format as fmt
    from retrace.trace.writer import TraceWriter

    path = tmp_path / "trace.bin"
    writer = TraceWriter(str(path), {"format": fmt.FORMAT_VERSION})
    writer.names.update({0: "test.boundary", 1: SIGNAL_EVENT})
    code = sys._getframe().f_code

    def add(bid, value):
        writer.events.append((bid, code, 1, value, None))

    add(0, "a"), add(1, [10]), add(0, "b")  # a delivery inside the chunk
    writer.flush()
    add(1, [10, 4, 0, 1, False, []])          # first of its chunk
    add(0, "c")
    writer.flush()
    writer.close({"how": "exit"})

    seen = []
    source = ReplaySource(TraceReader(str(path)), stop=None)
    source.ahead = lambda event: seen.append((source.index, event[2]))
    taken = []
    while (event := source.next_event()) is not None:
        taken.append(event[2])
    assert taken == ["a", [10], "b", [10, 4, 0, 1, False, []], "c"]
    # Told right after the event before each delivery was taken, before the next request.
    assert seen == [(1, [10]), (3, [10, 4, 0, 1, False, []])]


def test_positions_name_the_call_instruction():
    from retrace.boundaries.signals import _fingerprint, _plain_names, _position

    def callee():
        return sys._getframe(1)

    def caller():
        x, label = 3, "here"
        frame = callee()  # this frame stops on the CALL's last cache entry meanwhile
        return frame, _position(frame), _plain_names(frame)

    frame, (lasti, after), names = caller()
    import dis

    by_offset = {ins.offset: ins.opname for ins in dis.get_instructions(caller)}
    assert by_offset[lasti] == "CALL" and after is True
    assert names == ["label", "x"]
    assert _fingerprint(frame, names) == _fingerprint(frame, ["label", "x"]) != _fingerprint(frame, ["x"])
