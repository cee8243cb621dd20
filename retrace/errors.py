"""One exception family for retrace's own failures, each with its exit code.

The launcher catches ``RetraceError`` at the top and prints ``retrace: <message>``
on one line; anything else escaping our code is a bug and keeps its traceback
(set ``RETRACE_DEBUG=1`` to see tracebacks for RetraceError too).
"""

EXIT_USAGE = 2
EXIT_BAD_RECORDING = 65   # missing, not a recording, corrupt, unreadable version
EXIT_DIVERGED = 86        # replay did something the recording did not
EXIT_RECORDING_ENDS = 87  # replay reached the end of a cut-short recording
EXIT_INTERNAL = 70        # retrace failed in a way that is a bug
EXIT_UNAVAILABLE = 69     # the object storage a recording goes to cannot be reached (EX_UNAVAILABLE)


class RetraceError(Exception):
    """Base for failures retrace reports as one line."""

    exit_code = EXIT_INTERNAL


class UsageError(RetraceError):
    exit_code = EXIT_USAGE


class RecordingError(RetraceError):
    """The recording cannot be used (missing, corrupt, other version)."""

    exit_code = EXIT_BAD_RECORDING


class TraceCorrupt(RecordingError):
    pass


class Diverged(RetraceError):
    """The replay did something the recording did not. ``report``, where there is one,
    is the structured account (engine/divergence.py's DivergenceReport: the event, the
    boundary and call site expected, what came instead, the events before) for tools
    that read it rather than the message, which is its rendering."""

    exit_code = EXIT_DIVERGED

    def __init__(self, message: str, report=None) -> None:
        super().__init__(message)
        self.report = report


class RecordingEnds(RetraceError):
    exit_code = EXIT_RECORDING_ENDS


class ChildReplayFailed(RetraceError):
    """The replay of a child process failed (its report is on the shared stderr): the
    tree's replay ends with the child's exit status."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class RecordedSignal(RetraceError):
    """Replay reached the point where the recorded process was killed by a signal.

    Replay then ends the same way: the process kills itself with ``signum``
    (so its exit status matches the recording's); ``exit_code`` is the shell's
    equivalent, used only if that fails.
    """

    def __init__(self, message: str, signum: int) -> None:
        super().__init__(message)
        self.signum = signum
        self.exit_code = 128 + signum
