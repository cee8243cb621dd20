"""Documentation that is generated must not go stale."""

from __future__ import annotations

import os
import subprocess

from conftest import PYTHON

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_cli_reference_is_generated_from_the_commands():
    result = subprocess.run([PYTHON, os.path.join(ROOT, "scripts", "gen_cli_reference.py"), "--check"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
