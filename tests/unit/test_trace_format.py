"""The trace format on its own: framing, values, reader checks, writer, digests, golden files."""

from __future__ import annotations

import datetime
import decimal
import errno
import fractions
import importlib.util
import ipaddress
import json
import math
import os
import pathlib
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
import zlib

import cbor2
import pytest
from fakes import CallThrough

from retrace.errors import RecordingError, TraceCorrupt
from retrace.trace import format as fmt
from retrace.trace.digest import key_digest
from retrace.trace.framing import FrameCorrupt, frame, split_frames
from retrace.trace.model import Ending, Event, iter_events
from retrace.trace.reader import TraceReader
from retrace.trace.values import Opaque, Raised, decode_tag, to_wire
from retrace.trace.writer import TraceWriter

FIXTURES = pathlib.Path(__file__).resolve().parents[1] / "fixtures"


def _load_make_golden():
    spec = importlib.util.spec_from_file_location("make_golden", FIXTURES / "make_golden.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


make_golden = _load_make_golden()


def roundtrip(value):
    """Through to_wire, CBOR bytes and back, as replay sees a recorded value."""
    return cbor2.loads(cbor2.dumps(to_wire(value)), tag_hook=decode_tag)


def assert_same(a, b):
    """Equal, and of exactly the same types all the way down."""
    assert type(a) is type(b), (a, b)
    if isinstance(a, float) and math.isnan(a):
        assert math.isnan(b)
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), (a, b)
        for x, y in zip(a, b):
            assert_same(x, y)
    elif isinstance(a, dict):
        assert list(a) == list(b), (a, b)
        for key in a:
            assert_same(a[key], b[key])
    else:
        assert a == b, (a, b)


# -- framing ----------------------------------------------------------------------

def frames(*payloads: bytes) -> bytes:
    return b"".join(frame(p) for p in payloads)


def split(data: bytes):
    """(payloads, tear) from split_frames."""
    gen = split_frames(data)
    payloads = []
    while True:
        try:
            payloads.append(next(gen)[1])
        except StopIteration as stop:
            return payloads, stop.value


def test_frames_round_trip_and_end_exactly():
    data = frames(b"one", b"two", b"x" * 70000)
    assert split(data) == ([b"one", b"two", b"x" * 70000], None)


@pytest.mark.parametrize("cut", [1, 4, 7])
def test_a_partial_frame_header_is_a_torn_tail(cut):
    good = frames(b"one", b"two")
    payloads, tear = split(good + frame(b"three")[:cut])
    assert payloads == [b"one", b"two"]
    assert tear == (len(good), "partial chunk header")


def test_a_partial_payload_is_a_torn_tail():
    good = frames(b"one")
    payloads, tear = split(good + frame(b"three")[:-1])
    assert payloads == [b"one"] and tear == (len(good), "partial chunk")


def test_a_checksum_mismatch_in_the_last_chunk_is_a_torn_tail():
    good = frames(b"one")
    bad = bytearray(frame(b"three"))
    bad[-1] ^= 0xFF
    payloads, tear = split(good + bytes(bad))
    assert payloads == [b"one"] and tear == (len(good), "checksum mismatch in the last chunk")


def test_zeros_to_the_end_are_a_torn_tail():
    good = frames(b"one")
    payloads, tear = split(good + bytes(4096))
    assert payloads == [b"one"] and tear == (len(good), "zero-filled tail")


def test_a_damaged_chunk_in_the_middle_is_corruption_not_a_tear():
    bad = bytearray(frame(b"two"))
    bad[-1] ^= 0x01
    data = frames(b"one") + bytes(bad) + frames(b"three")
    gen = split_frames(data)
    assert next(gen)[1] == b"one"
    with pytest.raises(FrameCorrupt) as info:
        next(gen)
    assert info.value.offset == len(frame(b"one")) and "checksum" in str(info.value)


def test_an_empty_chunk_in_the_middle_is_corruption():
    data = frames(b"one") + bytes(8) + frames(b"three")
    with pytest.raises(FrameCorrupt):
        split(data)


# -- values -----------------------------------------------------------------------

SCALARS = [None, True, False, 0, -1, 2**64, -(2**70), 1.5, -0.0, float("inf"), float("nan"), "", "héllo ✓",
           b"", b"\x00\xff"]


@pytest.mark.parametrize("value", SCALARS, ids=repr)
def test_scalars_round_trip(value):
    assert_same(roundtrip(value), value)


@pytest.mark.parametrize("value", [
    [1, (2, [3, (4, [5])])],
    ([1, 2], (3, [4])),
    [(), [], {}, set()],
    {(1, 2): "tuple key", ((1, (2, 3)), "x"): [1], "k": {"inner": ([1], (2,))}},
    {1: {2: {3: (None, [None])}}},
    {1, 2, 3},
    {(1, 2), (3, (4, 5))},
    frozenset({1, frozenset({2})}),
    [{1, 2}, frozenset({3})],
    bytearray(b"\x00buf"),
    [bytearray(b"a"), (bytearray(b"b"),)],
], ids=repr)
def test_containers_keep_their_types_at_any_depth(value):
    assert_same(roundtrip(value), value)


def test_structseqs_keep_their_hidden_fields():
    st = os.stat(__file__)
    back = roundtrip(st)
    assert type(back) is os.stat_result and back == st
    for name in ("st_mtime_ns", "st_atime_ns", "st_ctime_ns", "st_mtime", "st_blksize", "st_blocks", "st_rdev"):
        assert_same(getattr(back, name), getattr(st, name))
    local = time.localtime()
    back = roundtrip(local)
    assert type(back) is time.struct_time and back == local
    assert (back.tm_zone, back.tm_gmtoff) == (local.tm_zone, local.tm_gmtoff)
    for value in (os.terminal_size((80, 24)), os.uname(), os.times(), time.gmtime(0)):
        assert_same(roundtrip(value), value)
    import pwd
    import resource

    for value in (pwd.getpwuid(os.getuid()), resource.getrusage(resource.RUSAGE_SELF)):
        back = roundtrip(value)
        assert type(back) is type(value) and back == value


def test_a_structseq_that_cannot_be_rebuilt_is_opaque():
    back = roundtrip(sys.float_info)  # its type cannot be instantiated
    assert type(back) is Opaque and "float_info" in back.type_name


class CustomError(Exception):
    pass


class TwoArgError(Exception):
    def __init__(self, code, text):
        super().__init__(code, text)
        self.code = code


class KeywordOnlyError(Exception):
    def __init__(self, *, reason):
        super().__init__(f"because {reason}")


def rebuilt(exc: BaseException) -> BaseException:
    raised = roundtrip(exc)
    assert type(raised) is Raised
    return raised.rebuild()


@pytest.mark.parametrize("exc", [
    FileNotFoundError(errno.ENOENT, "No such file or directory", "/missing"),
    PermissionError(errno.EACCES, "Permission denied"),
    OSError(errno.EXDEV, "Invalid cross-device link", "/a", None, "/b"),
    OSError(errno.ENOENT, "no entry"),  # OSError(errno) picks the subclass, as the original did
    OSError("just a message"),
    BlockingIOError(errno.EAGAIN, "would block", 5),
    socket.gaierror(-2, "Name or service not known"),
    TimeoutError("timed out"),
    KeyError("k"), ValueError("bad", 1), StopIteration(3), SystemExit(4), KeyboardInterrupt(),
    UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte"),
    json.JSONDecodeError("Expecting value", "x", 0),
    CustomError("custom", [1, (2,)]),
    TwoArgError(7, "seven"),
], ids=lambda e: f"{type(e).__name__}{e.args!r}")
def test_exceptions_come_back_with_type_args_and_errno(exc):
    back = rebuilt(exc)
    assert type(back) is type(exc)
    assert_same(back.args, exc.args)
    assert str(back) == str(exc)
    for name in ("errno", "strerror", "filename", "filename2"):
        assert getattr(back, name, None) == getattr(exc, name, None)
    if isinstance(exc, BlockingIOError):
        assert back.characters_written == 5


def test_exceptions_with_their_own_constructor_keep_type_and_args():
    exc = KeywordOnlyError(reason="tests")
    back = rebuilt(exc)
    assert type(back) is KeywordOnlyError and back.args == ("because tests",)


def test_an_exception_type_that_no_longer_exists_becomes_a_runtime_error():
    def make():
        class Vanishing(Exception):
            pass

        return Vanishing("gone")

    back = rebuilt(make())
    assert type(back) is RuntimeError and "Vanishing" in str(back)


def test_exception_args_that_cannot_be_encoded_become_opaque():
    lock = threading.Lock()
    back = rebuilt(ValueError("with a lock", lock))
    assert type(back) is ValueError and back.args[0] == "with a lock" and type(back.args[1]) is Opaque


@pytest.mark.parametrize("value", [
    datetime.datetime(2024, 2, 29, 12, 30, 1, 5),
    datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone(datetime.timedelta(hours=2), "X")),
    datetime.date(2024, 1, 2), datetime.time(1, 2, 3), datetime.timedelta(days=-1, microseconds=5),
    decimal.Decimal("1.10"), decimal.Decimal("-Infinity"), uuid.UUID("12345678-1234-5678-1234-567812345678"),
    fractions.Fraction(1, 3), pathlib.PurePosixPath("/a/b"), pathlib.Path("/tmp"),
    ipaddress.ip_address("10.0.0.1"), signal.SIGTERM, socket.AF_INET,
    [datetime.date(2020, 1, 1), (decimal.Decimal("2"),)],
], ids=repr)
def test_plain_objects_round_trip_by_class(value):
    assert_same(roundtrip(value), value)


def test_datetimes_round_trip_while_the_clock_family_is_installed():
    """The clock family patches now/utcnow/today inside datetime's own (immutable) classes:
    what they make is of the real class, encodes as such, and uninstalling puts C's
    methods back exactly (a class method again, for subclasses too)."""
    from retrace.bootstrap.install import Installer
    from retrace.boundaries import clock
    from retrace.boundaries.spec import Family

    originals = {name: owner.__dict__[name] for owner, name in
                 ((datetime.datetime, "now"), (datetime.datetime, "utcnow"), (datetime.date, "today"))}
    patches = tuple(patch for patch in clock.FAMILY.patches if patch.module == "datetime")
    installer = Installer(CallThrough(), [Family("clock", patches=patches)])
    installer.install()
    try:
        assert datetime.datetime.__dict__["now"] is not originals["now"]
        made = datetime.datetime.now()
        assert type(made) is datetime.datetime and type(datetime.date.today()) is datetime.date
        assert_same(roundtrip(made), made)
        assert_same(roundtrip(datetime.date(2024, 5, 6)), datetime.date(2024, 5, 6))
    finally:
        installer.uninstall()
    assert {"now": datetime.datetime.__dict__["now"], "utcnow": datetime.datetime.__dict__["utcnow"],
            "today": datetime.date.__dict__["today"]} == originals

    class Stamp(datetime.datetime):
        pass

    assert type(Stamp.now()) is Stamp


def test_values_without_a_faithful_encoding_are_opaque():
    gen = (i for i in range(3))
    for value in (threading.Lock(), gen, lambda: 1, open(__file__, "rb")):
        back = roundtrip(value)
        assert type(back) is Opaque, value
        assert back.type_name.rpartition(".")[2] == type(value).__qualname__
        assert "retrace: unrecordable" in repr(back)
        if hasattr(value, "close"):
            value.close()
    cyclic = [1]
    cyclic.append(cyclic)
    back = roundtrip(cyclic)
    assert type(back) is Opaque and back.type_name == "builtins.list"
    assert_same(roundtrip(Opaque("socket.socket", "<socket fd=3>")), Opaque("socket.socket", "<socket fd=3>"))


def test_a_hostile_reduce_does_not_escape_to_wire():
    class Hostile:
        def __reduce_ex__(self, protocol):
            raise RuntimeError("no")

        def __repr__(self):
            raise RuntimeError("no repr either")

    assert type(roundtrip(Hostile())) is Opaque


class _Unpicklable:
    def __reduce__(self):
        raise TypeError("not picklable")


def test_a_recorded_object_that_cannot_be_rebuilt_decodes_to_opaque():
    back = roundtrip(_Unpicklable())
    assert type(back) is Opaque
    assert "unrecordable" in repr(back) and "_Unpicklable" in repr(back)


def test_a_datetime_in_a_named_time_zone_round_trips():
    import zoneinfo

    try:
        zone = zoneinfo.ZoneInfo("Europe/Paris")
    except zoneinfo.ZoneInfoNotFoundError:
        pytest.skip("no time zone database")
    back = roundtrip(datetime.datetime(2024, 1, 1, tzinfo=zone))
    assert type(back) is datetime.datetime and back.tzinfo.key == "Europe/Paris"
    assert back.utcoffset() == datetime.timedelta(hours=1)


# -- digests ----------------------------------------------------------------------

DIGEST_PROGRAM = """
import sys
sys.path.insert(0, sys.argv[1])
from retrace.trace.digest import key_digest
class Thing: pass
def function(): pass
keys = [(None,), (1, None, "x"), (float("nan"),), (int, Thing, function, print), (Thing(),),
        ([1, None], {"a": None, "b": (None,)}, {None, 1}), ("a", b"b", 1.5, -2, True), None, ()]
print([key_digest(k) for k in keys])
"""


def test_key_digests_are_the_same_in_every_process():
    root = str(pathlib.Path(__file__).resolve().parents[2])
    outputs = set()
    for _ in range(3):
        env = dict(os.environ, PYTHONHASHSEED="12345")
        proc = subprocess.run([sys.executable, "-c", DIGEST_PROGRAM, root], env=env, capture_output=True,
                              text=True, check=True)
        outputs.add(proc.stdout)
    assert len(outputs) == 1, outputs


def test_key_digests_tell_different_arguments_apart():
    keys = [(0.01,), (0.02,), ("a",), ("b",), (None,), (0,), ("/etc/passwd", "r"), ("/etc/passwd", "w"),
            ([1],), ([2],), ({"a": 1},), ({"a": 2},)]
    digests = [key_digest(k) for k in keys]
    assert len(set(digests)) == len(keys)
    assert all(0 <= d <= 0xFFFFFFFF for d in digests)


# -- reader -----------------------------------------------------------------------

def write_trace(path, header=None, chunks=()) -> pathlib.Path:
    header = {"format": fmt.FORMAT_VERSION} if header is None else header
    path.write_bytes(fmt.MAGIC + frame(cbor2.dumps(header)) + b"".join(frame(cbor2.dumps(c)) for c in chunks))
    return path


def test_reader_reads_items_and_reports_no_tear(tmp_path):
    path = write_trace(tmp_path / "t.bin", chunks=[[{"b": [0, "time.time"]}, {"s": [0, "/app.py", 3, "f"]},
                                                     [0, 0, 1.5], [0, 0, 2.5, 7]], [{"end": {"how": "exit"}}]])
    reader = TraceReader(str(path))
    assert reader.header["format"] == fmt.FORMAT_VERSION
    items = list(iter_events(reader))
    assert items[0] == Event(0, "time.time", items[0].site, 1.5, None)
    assert str(items[1].site) == "/app.py:3 in f" and items[1].digest == 7
    assert items[2] == Ending("exit", None, None)
    assert reader.tear is None


@pytest.mark.parametrize("data, error, words", [
    (b"", TraceCorrupt, "empty or cut short"),
    (fmt.MAGIC[:5], TraceCorrupt, "empty or cut short"),
    (b"PK\x03\x04 a zip file, not a trace", RecordingError, "not a retrace trace file"),
    (fmt.MAGIC, TraceCorrupt, "cut short inside its header"),
    (fmt.MAGIC + frame(cbor2.dumps({"format": 1}))[:6], TraceCorrupt, "cut short inside its header"),
    (fmt.MAGIC + frame(cbor2.dumps([1, 2])), TraceCorrupt, "no valid header"),
    (fmt.MAGIC + frame(cbor2.dumps({"format": "1"})), TraceCorrupt, "no valid header"),
    (fmt.MAGIC + frame(b"\xff\xfe not cbor"), TraceCorrupt, "undecodable"),
    (fmt.MAGIC + frame(cbor2.dumps({"format": 99})), RecordingError, "format 99"),
    (fmt.MAGIC + frame(cbor2.dumps({"format": 0})), RecordingError, "too old"),
], ids=["empty", "short magic", "not a trace", "magic only", "torn header", "header not a map",
        "format not an int", "header not cbor", "newer format", "older format"])
def test_reader_refuses_what_it_cannot_trust(tmp_path, data, error, words):
    path = tmp_path / "trace.bin"
    path.write_bytes(data)
    with pytest.raises(error) as info:
        TraceReader(str(path))
    assert type(info.value) is error and words in str(info.value)
    assert "\n" not in str(info.value)


def test_reader_on_a_missing_file(tmp_path):
    with pytest.raises(RecordingError, match="no trace file"):
        TraceReader(str(tmp_path / "nothing.bin"))


def test_newer_format_message_says_upgrade(tmp_path):
    path = write_trace(tmp_path / "t.bin", header={"format": 99})
    with pytest.raises(RecordingError, match="newer retrace-python: upgrade"):
        TraceReader(str(path))


def test_reader_stops_at_a_torn_tail_and_says_where(tmp_path):
    path = write_trace(tmp_path / "t.bin", chunks=[[[0, 0, 1]], [[0, 0, 2]]])
    whole = path.read_bytes()
    path.write_bytes(whole + frame(cbor2.dumps([[0, 0, 3]]))[:-2])
    reader = TraceReader(str(path))
    assert [items for items in reader.chunks()] == [[[0, 0, 1]], [[0, 0, 2]]]
    assert reader.tear == (len(whole), "partial chunk")


def test_reader_reports_corruption_in_the_middle_after_the_good_chunks(tmp_path):
    path = write_trace(tmp_path / "t.bin", chunks=[[[0, 0, 1]], [[0, 0, 2]], [[0, 0, 3]]])
    data = bytearray(path.read_bytes())
    data[-len(frame(cbor2.dumps([[0, 0, 3]]))) - 2] ^= 0x40  # inside the second event chunk
    path.write_bytes(bytes(data))
    reader = TraceReader(str(path))
    chunks = reader.chunks()
    assert next(chunks) == [[0, 0, 1]]
    with pytest.raises(TraceCorrupt, match="is corrupt: checksum mismatch at byte"):
        next(chunks)


def test_reader_reports_a_damaged_header_chunk_as_corrupt(tmp_path):
    path = write_trace(tmp_path / "t.bin", chunks=[[[0, 0, 1]]])
    data = bytearray(path.read_bytes())
    data[len(fmt.MAGIC) + 9] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(TraceCorrupt, match="header chunk is damaged"):
        TraceReader(str(path))


def test_an_undecodable_chunk_with_a_good_checksum_is_corrupt(tmp_path):
    path = write_trace(tmp_path / "t.bin", chunks=[[[0, 0, 1]]])
    path.write_bytes(path.read_bytes() + frame(b"\xff\xff\xff") + frame(cbor2.dumps([[0, 0, 2]])))
    chunks = TraceReader(str(path)).chunks()
    assert next(chunks) == [[0, 0, 1]]
    with pytest.raises(TraceCorrupt, match="undecodable chunk"):
        next(chunks)


# -- writer -----------------------------------------------------------------------

def new_writer(path, **kwargs) -> TraceWriter:
    writer = TraceWriter(str(path), {"format": fmt.FORMAT_VERSION}, **kwargs)
    writer.names[0] = "test.boundary"
    return writer


def code_here():
    return sys._getframe().f_code


def test_writer_flushes_events_and_ends_with_a_marker(tmp_path):
    path = tmp_path / "trace.bin"
    writer = new_writer(path)
    code = code_here()
    writer.events.append((0, code, 10, 1.5, None))
    writer.flush()
    reader = TraceReader(str(path))
    assert [e.value for e in iter_events(reader)] == [1.5]  # readable before close: no end yet
    writer.events.append((0, code, 11, to_wire((1, [2])), 42))
    writer.close({"how": "exit", "status": 0})
    items = list(iter_events(TraceReader(str(path))))
    assert items[1] == Event(1, "test.boundary", items[1].site, (1, [2]), 42)
    assert items[1].site.line == 11 and items[1].site.function == "code_here"
    assert items[2].how == "exit"
    assert writer.count == 2


def test_writer_refuses_to_overwrite_a_trace(tmp_path):
    path = tmp_path / "trace.bin"
    new_writer(path).close({"how": "exit"})
    with pytest.raises(FileExistsError):
        new_writer(path)


def test_writer_flusher_thread_writes_without_being_asked(tmp_path):
    path = tmp_path / "trace.bin"
    writer = new_writer(path)
    writer.start_flusher()
    writer.events.append((0, None, 0, "hello", None))
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline and writer.count == 0:
        time.sleep(0.01)
    assert writer.count == 1
    assert [e.value for e in iter_events(TraceReader(str(path)))] == ["hello"]
    writer.close(None)


def test_writer_keeps_strs_with_surrogates_and_replaces_what_cbor_cannot_encode(tmp_path):
    path = tmp_path / "trace.bin"
    writer = new_writer(path)
    name = os.fsdecode(b"caf\xe9.txt")  # a file name that is not UTF-8
    writer.events.append((0, None, 0, name, None))
    writer.events.append((0, None, 0, to_wire(FileNotFoundError(2, "No such file", name)), 3))
    writer.events.append((0, None, 0, object(), None))  # a bug upstream: must not stop the recording
    writer.events.append((0, None, 0, "after", None))
    writer.close({"how": "exit"})
    assert writer.failed is None
    values = [e.value for e in iter_events(TraceReader(str(path))) if isinstance(e, Event)]
    assert values[0] == name and values[1].rebuild().filename == name
    assert type(values[2]) is Opaque and values[3] == "after"


def test_writer_failure_stops_recording_and_calls_back_once(tmp_path):
    failures = []
    writer = new_writer(tmp_path / "trace.bin", on_failure=failures.append)
    readonly = os.open(os.devnull, os.O_RDONLY)
    os.close(writer._fd)
    writer._fd = readonly  # writes now fail with EBADF, like a vanished disk
    os.unlink(tmp_path / "trace.bin")  # (and the file cannot be opened again)
    writer.events.append((0, None, 0, 1, None))
    writer.flush()
    writer.events.append((0, None, 0, 2, None))
    writer.flush()
    writer.close({"how": "exit"})
    assert len(failures) == 1 and isinstance(failures[0], OSError)
    assert writer.failed is failures[0]


def test_a_trace_whose_descriptor_the_program_closed_is_opened_again(tmp_path):
    """A program may close every descriptor it does not know (a daemon, a pty child before
    exec: os.closerange), or take the number for a file of its own: the writer notices at
    its next write and appends to its trace through a new descriptor, losing nothing."""
    path = tmp_path / "trace.bin"
    writer = new_writer(path)
    writer.events.append((0, None, 0, 1, None))
    writer.flush()
    os.close(writer._fd)  # closed under the writer
    writer.events.append((0, None, 0, 2, None))
    writer.flush()
    taken = os.open(tmp_path / "other", os.O_WRONLY | os.O_CREAT)
    os.dup2(taken, writer._fd)  # the number now names another file
    writer.events.append((0, None, 0, 3, None))
    writer.flush()
    writer.close({"how": "exit"})
    os.close(taken)
    assert writer.failed is None
    assert os.path.getsize(tmp_path / "other") == 0
    events = [item[2] for items in TraceReader(str(path)).chunks() for item in items if type(item) is list]
    assert events == [1, 2, 3]


# -- golden recordings ------------------------------------------------------------

GOLDEN_DIRS = sorted(FIXTURES.glob("golden-format*"))


def test_there_is_a_golden_recording_for_the_current_format():
    assert (FIXTURES / f"golden-format{fmt.FORMAT_VERSION}" / "trace.bin").is_file(), (
        "FORMAT_VERSION changed: run tests/fixtures/make_golden.py to add its golden recording")


@pytest.mark.parametrize("golden", GOLDEN_DIRS, ids=lambda p: p.name)
def test_golden_recordings_keep_decoding_to_the_same_events(golden):
    expected = json.loads((golden / "expected.json").read_text())
    if expected["format"] not in fmt.READABLE_VERSIONS:
        pytest.skip(f"format {expected['format']} is no longer readable")
    for name in ("trace", "values"):
        got = make_golden.describe_trace(golden / f"{name}.bin")
        want = expected[name]
        assert got["header"] == want["header"]
        assert got["ending"] == want["ending"] and got["tear"] == want["tear"]
        assert len(got["events"]) == len(want["events"])
        for got_event, want_event in zip(got["events"], want["events"]):
            assert got_event == want_event


def test_the_current_writer_writes_the_golden_bytes(tmp_path):
    expected = json.loads((FIXTURES / f"golden-format{fmt.FORMAT_VERSION}" / "expected.json").read_text())
    if tuple(expected["python"]) != tuple(sys.version_info[:2]):
        pytest.skip("values are written by their classes' names in this Python: defined per minor version "
                    "(a recording is replayed by the Python that made it)")
    golden = FIXTURES / f"golden-format{fmt.FORMAT_VERSION}" / "values.bin"
    fresh = tmp_path / "values.bin"
    make_golden.write_values_trace(fresh)
    assert fresh.read_bytes() == golden.read_bytes(), "the encoding of values changed: that is a format change"


def test_key_digests_match_the_golden_ones():
    expected = json.loads((FIXTURES / f"golden-format{fmt.FORMAT_VERSION}" / "expected.json").read_text())
    if tuple(expected["python"]) != tuple(sys.version_info[:2]):
        pytest.skip("digests are defined per Python minor version (recordings are too)")
    got = [[make_golden.describe(key), key_digest(key)] for key in make_golden.GOLDEN_KEYS]
    assert got == expected["digests"]


def test_a_large_flush_is_split_into_bounded_chunks(tmp_path):
    from retrace.trace.writer import MAX_CHUNK_ITEMS

    path = tmp_path / "trace.bin"
    writer = new_writer(path)
    total = MAX_CHUNK_ITEMS * 2 + 10
    for i in range(total):
        writer.events.append((0, None, 0, i, None))
    writer.close({"how": "exit"})
    reader = TraceReader(str(path))
    sizes = [len(items) for items in reader.chunks()]
    assert len(sizes) == 3 and max(sizes) <= MAX_CHUNK_ITEMS
    assert [e.value for e in iter_events(TraceReader(str(path))) if isinstance(e, Event)] == list(range(total))


def test_a_float_at_the_same_boundary_and_site_is_written_bare(tmp_path):
    """Format 3: a clock read in a loop costs 9 bytes (a bare CBOR float), not 13."""
    path = tmp_path / "trace.bin"
    writer = new_writer(path)
    code = test_a_float_at_the_same_boundary_and_site_is_written_bare.__code__
    values = [1.5, 2.5, 3.5]
    for value in values:
        writer.events.append((0, code, 7, value, None))
    writer.events.append((0, code, 8, 4.5, None))      # another site: a full event
    writer.events.append((0, code, 8, 5, None))        # an int: a full event
    writer.events.append((0, code, 8, 6.5, b"digest"))  # a digest: a full event
    writer.close({"how": "exit"})
    items = [item for chunk in TraceReader(str(path)).chunks() for item in chunk]
    assert [item for item in items if type(item) is float] == [2.5, 3.5]
    events = [e for e in iter_events(TraceReader(str(path))) if isinstance(e, Event)]
    assert [e.value for e in events] == [1.5, 2.5, 3.5, 4.5, 5, 6.5]
    assert [e.site.line for e in events] == [7, 7, 7, 8, 8, 8]


def test_a_bare_float_with_no_event_before_it_is_corrupt(tmp_path):
    path = tmp_path / "trace.bin"
    writer = new_writer(path)
    writer.close({"how": "exit"})
    data = path.read_bytes()
    from retrace.trace.cbor import dumps
    from retrace.trace.framing import frame

    path.write_bytes(data[:len(fmt.MAGIC)] + data[len(fmt.MAGIC):] + frame(dumps([1.5])))
    with pytest.raises(TraceCorrupt):
        list(iter_events(TraceReader(str(path))))
