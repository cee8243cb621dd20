"""Divergence reports: what the recording expected, what the program did, where."""

from __future__ import annotations

import os

from retrace.engine.state import untraced

_OUR_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep


def is_ours(filename: str) -> bool:
    return (
        filename.startswith(_OUR_DIR)
        or filename.startswith("<retrace")  # boundary wrappers (engine/wrappers.py)
        or filename.endswith(os.sep + "sitecustomize.py")
    )


def user_site(frame):
    """The first frame outside retrace, as a Site."""
    # (Only when a report is made: not on the recording's start-up path. From the package:
    # replay takes the module out of sys.modules, see bootstrap/replay.py.)
    from retrace.trace import model

    while frame is not None and is_ours(frame.f_code.co_filename):
        frame = frame.f_back
    if frame is None:
        return model.Site("", 0, "")
    return model.Site(frame.f_code.co_filename, frame.f_lineno, frame.f_code.co_name)


def _short(value, limit=80) -> str:
    """The program's value, shown without making boundary calls: a handle proxy's repr
    would be one (engine/handles/), and so may a repr of the program's own."""
    proxied = getattr(type(value), "_rt_name", None)
    if type(proxied) is str:
        return f"<{proxied.rpartition('.')[2]}>"
    try:
        with untraced():
            text = repr(value)
    except Exception:
        text = f"<{type(value).__name__}>"
    return text if len(text) <= limit else text[: limit - 3] + "..."


class DivergenceReport:
    """What the recording expected at event ``index`` and what the program did."""

    def __init__(self, index, expected_boundary, expected_site, got_boundary, got_args, got_site,
                 recent=(), detail="") -> None:
        self.index = index
        self.expected_boundary = expected_boundary
        self.expected_site = expected_site
        self.got_boundary = got_boundary
        self.got_args = got_args
        self.got_site = got_site
        self.recent = list(recent)
        self.detail = detail
        self.sealed: list = []  # the sealed secrets this replay gave the program as *s (no key): the first few
        self.sealed_count = 0

    def as_dict(self) -> dict:
        """The report as plain data (JSON-able): for tools that read it, not the text."""

        def site(where):
            return None if where is None else {"file": where[0], "line": where[1], "function": where[2]}

        got = {"boundary": self.got_boundary, "site": site(self.got_site) if self.got_args is not None else None}
        if self.got_args is not None:
            args, kwargs = self.got_args
            got["args"] = [_short(a) for a in args] + [f"{k}={_short(v)}" for k, v in kwargs.items()]
        return {
            "event": self.index,
            "expected": None if self.expected_boundary is None else {
                "boundary": self.expected_boundary, "site": site(self.expected_site)},
            "got": got,
            "detail": self.detail or None,
            "recent": [{"event": index, "boundary": name, "site": site(where)} for index, name, where in self.recent],
            "sealed_secrets": max(self.sealed_count, len(self.sealed)),
        }

    def render(self) -> str:
        lines = [f"replay diverged at event {self.index}"]
        if self.expected_boundary is None:
            lines.append("  expected: no more boundary calls (the recording ends here)")
        else:
            lines.append(f"  expected: {self.expected_boundary} at {self.expected_site}")
        if self.got_args is None:  # not a call: the program ended
            lines.append(f"  got:      {self.got_boundary}")
        else:
            args, kwargs = self.got_args
            shown = ", ".join([_short(a) for a in args] + [f"{k}={_short(v)}" for k, v in kwargs.items()])
            lines.append(f"  got:      {self.got_boundary}({shown}) at {self.got_site}")
        if self.detail:
            lines.append(f"  ({self.detail})")
        if self.recent:
            lines.append("  last events replayed:")
            for index, name, site in self.recent:
                lines.append(f"    #{index} {name} at {site}")
        if self.sealed:
            count = max(self.sealed_count, len(self.sealed))
            named = ", ".join(self.sealed[:4]) + (f" and {count - 4} more" if count > 4 else "")
            lines.append(f"  ({count} sealed secret{'s' if count != 1 else ''} of this recording reached the "
                         f"program as '*'s: {named}; if its course depends on one, that is the cause: replay "
                         "with the key it was sealed with (RETRACE_KEY_FILE or RETRACE_KEY) to be exact)")
        lines.append("  the code in run/ or the outside world read without a boundary differs from the recording;"
                     " see docs/troubleshooting.md#replay-diverges")
        return "\n".join(lines)
