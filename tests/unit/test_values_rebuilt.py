"""Recorded objects rebuilt: of modules not yet imported (deferred), zones by name, exceptions
with state of their own."""

import sys

import cbor2

from retrace.trace import values


def _decoded_before_import(value, module: str) -> list:
    """``[value]`` through the trace's encoding, decoded while ``module`` is not imported:
    what comes back must wait (a Deferred), decoding importing nothing."""
    wire = cbor2.dumps([values.to_wire(value)])
    saved = sys.modules.pop(module)
    try:
        decoded = cbor2.loads(wire, tag_hook=values.decode_tag)
        assert type(decoded[0]) is values.Deferred
        assert module not in sys.modules
    finally:
        sys.modules[module] = saved
    return decoded


def test_objects_of_modules_not_yet_imported_are_rebuilt_when_taken():
    import decimal

    decoded = _decoded_before_import(decimal.Decimal("1.5"), "decimal")
    assert values.resolve_deferred(decoded) == [decimal.Decimal("1.5")]


def test_an_object_inside_a_deferred_object_is_rebuilt_too():
    """A datetime whose timezone was decoded before ``datetime`` was imported: both
    are Deferred, the outer one holding the inner (psycopg2's timestamptz)."""
    import datetime

    when = datetime.datetime(2026, 11, 27, 7, 36, tzinfo=datetime.timezone(datetime.timedelta(hours=2)))
    decoded = _decoded_before_import(when, "datetime")
    assert values.resolve_deferred(decoded) == [when]
    assert values.resolve_deferred(decoded)[0].utcoffset() == datetime.timedelta(hours=2)


def test_an_object_holding_a_deferred_one_waits_for_it():
    """A datetime decoded with ``datetime`` imported but its zone's module (zoneinfo) not
    yet: the datetime waits for its zone instead of being made with a placeholder."""
    import datetime
    import zoneinfo

    when = datetime.datetime(2026, 11, 27, 8, 0, tzinfo=zoneinfo.ZoneInfo("Etc/UTC"))
    decoded = _decoded_before_import(when, "zoneinfo")
    assert values.resolve_deferred(decoded) == [when]


def test_a_zoneinfo_time_zone_is_stored_by_name():
    """ZoneInfo pickles through a method of its class (ZoneInfo._unpickle), not the class:
    psycopg 3 hands out datetimes in the session's zone."""
    import datetime
    import zoneinfo

    when = datetime.datetime(2026, 11, 27, 8, 0, tzinfo=zoneinfo.ZoneInfo("Europe/Paris"))
    decoded = values.resolve_deferred(cbor2.loads(cbor2.dumps(values.to_wire(when)), tag_hook=values.decode_tag))
    assert decoded == when and decoded.tzinfo is when.tzinfo  # (ZoneInfo's cache: the same object)


def test_an_exception_with_read_only_state_of_its_own_is_rebuilt_with_it():
    """psycopg2.Error's pgcode is read-only and comes back through __setstate__."""

    class DriverError(Exception):
        def __init__(self, *args):
            super().__init__(*args)
            self._code = None

        code = property(lambda self: self._code)

        def __reduce__(self):
            return type(self), self.args, {"code": self._code}

        def __setstate__(self, state):
            self._code = state.get("code")

    import types

    holder = types.ModuleType("retrace_test_driver")
    holder.DriverError = DriverError
    DriverError.__module__, DriverError.__qualname__ = "retrace_test_driver", "DriverError"
    error = DriverError("relation does not exist")
    error._code = "42P01"
    raised = values.Raised.capture(error)
    assert raised.attrs["code"] == "42P01"
    sys.modules["retrace_test_driver"] = holder
    try:
        rebuilt = raised.rebuild()
    finally:
        del sys.modules["retrace_test_driver"]
    assert type(rebuilt) is DriverError and rebuilt.code == "42P01" and rebuilt.args == error.args
