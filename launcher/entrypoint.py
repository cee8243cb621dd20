"""``retrace-entrypoint``: a drop-in Docker entrypoint.

    ENTRYPOINT ["retrace-entrypoint"]
    CMD ["python", "app.py"]

With ``RETRACE`` unset (or not 1/true/yes/on) it execs the command untouched: the
container runs as it would without it. With ``RETRACE=1`` it records the command
(a Python program: ``python ...``, or a script or console script whose ``#!``
names this Python, such as ``gunicorn`` or ``celery``) into
``RETRACE_RECORDING_PATH``, or into a fresh directory under
``RETRACE_RECORDINGS_DIR`` (one per container start: a mounted volume), or under
``./retrace-recordings``; ``RETRACE_SAMPLE_RATE`` applies, and with
``RETRACE_UPLOAD`` it uploads the recording once the program is over
(retrace/storage.py).

While recording it stays as the parent of the program (PID 1 in a container) and
forwards SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2 and SIGWINCH to it: the
kernel ignores signals that PID 1 has no handler for, so a Python program running
as PID 1 would not even notice ``docker stop`` until the SIGKILL ten seconds
later. Here the program dies of the SIGTERM as it would anywhere else and the
recording ends complete (its end marker says so), replayable. As PID 1 it also
reaps orphaned processes. It exits with the program's status (128+N for a death
by signal N, as a shell reports it).
"""

from __future__ import annotations

import os
import signal
import sys

from retrace_launcher.env_hook import recording_requested

FORWARDED = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2,
             signal.SIGWINCH)
RECORDINGS_DIR_VAR = "RETRACE_RECORDINGS_DIR"
USAGE = "usage: retrace-entrypoint COMMAND [ARGS...]   (RETRACE=1 records it; see docs/production.md)\n"


def _say(message: str) -> None:
    sys.stderr.write(f"retrace: {message}\n")
    sys.stderr.flush()


def _exec(argv: list[str], env: dict | None = None) -> int:
    """Become the command (PATH searched, as a shell would)."""
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        os.execvpe(argv[0], argv, os.environ if env is None else env)
    except OSError as exc:
        _say(f"cannot run {argv[0]}: {exc.strerror}")
        return 127 if isinstance(exc, FileNotFoundError) else 126


def _recording_target() -> str:
    """RETRACE_RECORDING_PATH, else a fresh directory under RETRACE_RECORDINGS_DIR."""
    from retrace.launch import fresh_recording_dir

    return os.environ.get("RETRACE_RECORDING_PATH") or fresh_recording_dir(
        os.environ.get(RECORDINGS_DIR_VAR) or None)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help"):
        sys.stderr.write(USAGE)
        return 0 if argv else 2
    if not recording_requested(os.environ):
        return _exec(argv)
    from retrace import pycmdline
    from retrace.bootstrap.children import python_argv
    from retrace.errors import RetraceError
    from retrace.launch import OFF_CONFIG, check_python_options, check_record_target, record_env, sampled_in

    try:
        recording_on, decision = sampled_in(os.environ)
        if decision:
            _say(decision)
        if not recording_on:
            return _exec(argv, dict(os.environ, RETRACE_CONFIG=OFF_CONFIG))
        command = python_argv(argv, [argv[0]], dict(os.environ))
        if command is None:
            _say(f"{argv[0]} is not a Python program this interpreter can record; running it unrecorded")
            return _exec(argv)
        check_python_options(pycmdline.parse(command[1:]).flags)
        recording = _recording_target()
        check_record_target(recording)
    except (RetraceError, pycmdline.CommandLineError) as error:
        _say(f"{error}; running unrecorded")
        return _exec(argv)
    _say(f"recording {' '.join(argv)} into {os.path.abspath(recording)}")
    # Uploading is the entrypoint's job, once the program is over: the program's own
    # detached uploader would die with the container.
    upload_url = os.environ.pop("RETRACE_UPLOAD", None)
    status = _supervise(command, recording, record_env)
    if upload_url:
        from retrace import storage

        storage.upload_when_finished(os.path.abspath(recording), upload_url, _say, between=_reap_orphans)
    return status


def _reap_orphans() -> None:
    try:
        while os.waitpid(-1, os.WNOHANG)[0] > 0:
            pass
    except ChildProcessError:
        pass


def _supervise(command: list[str], recording: str, record_env) -> int:
    child = None
    pending: list[int] = []

    def forward(signum, frame):
        if child is None:
            pending.append(signum)  # (between fork and the child's pid: delivered just after)
        else:
            try:
                os.kill(child, signum)
            except ProcessLookupError:
                pass

    for signum in FORWARDED:
        signal.signal(signum, forward)
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:  # the program: its own pid in the recording's configuration (exec keeps it)
        try:
            for signum in FORWARDED:
                signal.signal(signum, signal.SIG_DFL)
            os.execvpe(command[0], command, record_env(recording, announce=False))
        except OSError as exc:
            _say(f"cannot start {command[0]}: {exc.strerror}")
        os._exit(127)
    child = pid
    for signum in pending:
        forward(signum, None)
    while True:
        try:
            done, status = os.waitpid(-1, 0)  # as PID 1: orphans are ours to reap too
        except ChildProcessError:
            return 0
        if done == child:
            code = os.waitstatus_to_exitcode(status)
            return 128 - code if code < 0 else code


if __name__ == "__main__":
    sys.exit(main())
