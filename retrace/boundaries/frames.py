"""Not a boundary: retrace's own frames stay out of the program's stack walks.

On replay the program runs below retrace's runner (``python -m retrace``), so a
stack dump (``traceback.print_stack``, logging's ``stack_info``) would show our
frames, and read their source through the file boundary, where the recording
read none. ``traceback.walk_stack`` (which both use) stops at the first frame of
ours; in recording there is none below the program, so nothing changes there.
"""

from __future__ import annotations

from retrace.boundaries.spec import Family, Patch
from retrace.engine.divergence import is_ours


def _make_walk_stack(engine, original, name):
    def walk_stack(f):
        for frame, lineno in original(f):
            if is_ours(frame.f_code.co_filename):
                if frame.f_code.co_filename.startswith("<retrace"):
                    continue  # a boundary wrapper in the middle of the stack
                return  # the runner below the program: the program's stack ends here
            yield frame, lineno

    walk_stack.__wrapped__ = original
    walk_stack.__doc__ = original.__doc__
    return walk_stack


FAMILY = Family(
    name="frames",
    doc=__doc__,
    patches=(Patch("traceback", "walk_stack", why="hide retrace's runner frames", make=_make_walk_stack),),
)
