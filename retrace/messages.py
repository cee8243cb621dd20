"""retrace's own lines on stderr, in both modes.

Written to the descriptor with ``posix.write``: ``os.write`` is a boundary once the
families are installed, and the program's ``sys.stderr`` is the program's.
"""

from __future__ import annotations

import posix


def say(message: str) -> None:
    """One ``retrace:`` line on stderr (nothing if stderr is gone)."""
    try:
        posix.write(2, f"retrace: {message}\n".encode(errors="replace"))
    except OSError:
        pass


def warn(message: str) -> None:
    """Something did not work out, and the program goes on."""
    say(f"warning: {message}")
