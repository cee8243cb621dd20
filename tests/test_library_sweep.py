"""The library sweep's CI subset (scripts/sweep_libraries.py, issue #14): the most-used
libraries of the test install, each used by a small program that is run plain, recorded
through the real launcher and replayed with its project directory gone, by the same
code the whole sweep runs. The worst outcome -- the recorder crashing the program or
changing what it prints -- fails at once; a replay that diverges fails unless it is a
known one, named here with its issue."""

from __future__ import annotations

import os
import sys

import pytest

from conftest import CAN_UNSHARE_NET, LAUNCHER

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "scripts"))
import sweep_libraries  # noqa: E402

# Known divergences: what the replay still gets wrong, and where it is to be fixed.
KNOWN: dict = {}  # library -> why it fails for now (an xfail: it fails the run once it passes)


@pytest.mark.parametrize("library", sweep_libraries.CI_SUBSET)
def test_library(library):
    outcome = sweep_libraries.sweep_one(library, sys.executable, LAUNCHER, timeout=120,
                                        no_network=CAN_UNSHARE_NET)
    if outcome.outcome == "skipped":
        pytest.skip(outcome.reason)
    assert outcome.outcome not in ("recorder crashed", "recording differs"), outcome
    if library in KNOWN:
        if outcome.outcome == "pass":
            pytest.fail(f"{library} passes now: take it out of KNOWN ({KNOWN[library]})")
        pytest.xfail(KNOWN[library])
    assert outcome.outcome == "pass", outcome
