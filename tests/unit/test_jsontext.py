"""retrace/jsontext.py writes what json writes, and reads what the launcher writes."""

from __future__ import annotations

import json

import pytest

from retrace import jsontext
from retrace.launch import config_json

VALUES = [
    {"b": [1, 2.5, None, True, False, {}, []], "a": {"z": 'quote " backslash \\ newline \n tab \t \x01 é',
                                                      "y": "\udcff lone surrogate, 😀 astral"}},
    {"nan": float("nan"), "inf": float("inf"), "neg": float("-inf"), "zero": -0.0, "big": 10**30, "tiny": 1e-300},
    {"env": {"PATH": "/usr/bin:/bin", "EMPTY": ""}}, [], {}, "text", 7, None,
    {"tuple": (1, "two"), "object": object.__name__}, {3: "int keys", 1: "become strings"},
]


@pytest.mark.parametrize("value", VALUES)
def test_dumps_writes_what_json_writes(value):
    assert jsontext.dumps(value) == json.dumps(value, indent=2, sort_keys=True, default=str)


def test_dumps_writes_other_values_as_their_str():
    class Thing:
        def __str__(self):
            return "a thing"

    assert jsontext.dumps({"x": Thing()}) == json.dumps({"x": Thing()}, indent=2, default=str)


@pytest.mark.parametrize("config", [
    {"mode": "record", "recording": '/tmp/a b"c\\d é \udcff', "announce": True, "pid": "12", "off": False},
    {}, {"process": "0.1.2"},
])
def test_loads_flat_reads_the_launchers_config_and_json(config):
    assert jsontext.loads_flat(config_json(config)) == config
    assert jsontext.loads_flat(json.dumps(config)) == config


@pytest.mark.parametrize("text", ["", "[]", "{", '{"a": 1}', '{"a" "b"}', '{"a": "b" "c": "d"}', '{"a": "\\q"}',
                                  '{"a": "unterminated}'])
def test_loads_flat_refuses_anything_else(text):
    with pytest.raises(ValueError):
        jsontext.loads_flat(text)
