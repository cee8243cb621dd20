"""Process facts (uname, times, pwd and grp entries...) round-trip through the trace with their types."""

import os

import cbor2
import pytest

from retrace.trace.values import decode_tag, to_wire


@pytest.mark.parametrize("make", [
    lambda: os.uname(),
    lambda: os.times(),
    lambda: __import__("pwd").getpwuid(0),
    lambda: __import__("pwd").getpwall()[:3],
    lambda: __import__("grp").getgrgid(0),
    lambda: __import__("resource").getrusage(0),
    lambda: os.sched_getaffinity(0),
    lambda: os.getloadavg(),
    lambda: os.getgroups(),
    lambda: (b"\x01" * 16, -1),  # uuid._generate_time_safe
    lambda: int.from_bytes(os.urandom(32), "big"),  # random.entropy_seed (256 bits)
], ids=["uname", "times", "passwd", "passwd-list", "group", "rusage", "affinity", "loadavg",
        "groups", "uuid-time", "seed"])
def test_fact_values_round_trip_with_their_types(make):
    value = make()
    back = cbor2.loads(cbor2.dumps(to_wire(value)), tag_hook=decode_tag)
    assert back == value
    assert type(back) is type(value)
    if isinstance(value, list):
        assert [type(item) for item in back] == [type(item) for item in value]
    if type(value).__name__ == "struct_passwd":
        assert back.pw_name == value.pw_name and back.pw_dir == value.pw_dir
    if type(value).__name__ == "uname_result":
        assert back.sysname == value.sysname and back.nodename == value.nodename
    if type(value).__name__ == "times_result":
        assert back.elapsed == value.elapsed
