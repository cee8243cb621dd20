"""Which interpreters record (retrace/launch.py): the supported minor versions, not a
free-threaded build."""

import sys

from retrace.launch import PORTED_PYTHONS, SUPPORTED_PYTHONS, unsupported_interpreter


def test_this_interpreter_records():
    assert tuple(sys.version_info[:2]) in SUPPORTED_PYTHONS + PORTED_PYTHONS
    assert unsupported_interpreter() is None


def test_each_supported_version_records_and_others_are_named():
    for version in SUPPORTED_PYTHONS + PORTED_PYTHONS:
        assert unsupported_interpreter(version + (0,), abiflags="") is None
    assert unsupported_interpreter((3, 10, 4), abiflags="") == (
        "Python 3.10 is not supported (retrace-python records Python 3.11 (3.12, 3.13 being ported))")
    assert "3.14" in unsupported_interpreter((3, 14, 0), abiflags="")


def test_a_free_threaded_build_is_refused_in_one_phrase():
    problem = unsupported_interpreter((3, 13, 0), abiflags="t")
    assert problem.startswith("Python 3.13t (free-threaded) is not supported") and "\n" not in problem
