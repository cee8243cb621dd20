"""RETRACE_CONFIG is hand-written JSON (the launcher avoids importing json)."""

import json

import pytest

from retrace.launch import config_json


@pytest.mark.parametrize("path", ["/tmp/plain", 'quote"back\\slash', "new\nline\ttab\x01", "ünï cödé ✓", ""])
def test_config_json_is_json(path):
    config = {"mode": "record", "recording": path, "announce": True, "other": False}
    assert json.loads(config_json(config)) == config
