"""``retrace-python``: record a program like ``python`` runs it, or replay a recording.

Its command lines are in ``USAGE`` below (also docs/cli-reference.md, generated).
``inspect``, ``events``, ``prune`` and ``fetch`` (only as the first argument) hand
over to a typer app (retrace/inspection/app.py), imported only then: recording
never pays for it. A script named like one of them is recorded as ``./inspect``.

Our own options come first; everything from the first python option or the
script on is python's command line, passed through untouched. Recording and
replay both exec a fresh interpreter, so the launcher costs one process start and
leaves no process of its own behind.
"""

from __future__ import annotations

import os
import sys

USAGE = """\
usage: retrace-python [--recording DIR] [--secret NAME]... [python options] (script.py | -m module | -c code) [args...]
       retrace-python --replay DIR [--process ID] [--key-file KEYFILE] [--strict-secrets] [--debug [--listen HOST:PORT] [--wait]]
       retrace-python --replay DIR [--list-hits FILE:LINE | --break FILE:LINE[:HIT] | --post-mortem]
       retrace-python inspect DIR [--json] [--follow]
       retrace-python events DIR [--process ID] [--thread N] [--boundary PATTERN] [--limit N] [--json]
       retrace-python prune DIR --older-than AGE [--keep-failed] [--dry-run]
       retrace-python fetch s3://bucket/prefix/NAME [DIR]
       retrace-python keygen KEYFILE
       retrace-python --version | --help

Record: runs the program exactly as `python` would, recording every call that
reads or changes the outside world into DIR (default: a fresh directory under
./retrace-recordings, printed at exit).
Replay: runs the recorded code from DIR/run/ again; every boundary call returns
what it returned when recorded. Same output, same exit code, no outside world.
The whole process tree replays; --process ID replays one process of it alone.
Debug: --debug runs the replay under debugpy (127.0.0.1:5678, or --listen), --wait
waits for an IDE to attach; DIR/replay.code-workspace opens it in VS Code (F5).
--list-hits says each time FILE:LINE ran; --break stops at a hit in pdb (in the
IDE with --debug); --post-mortem opens pdb at the recorded uncaught exception.
Inspect: the recording's processes (command line, exit status, events, CPU,
memory), or its events one per line; `--help` after either says more. (A script
named `inspect`, `events`, `prune` or `fetch` is recorded as `./inspect`...)

Prune: removes recordings older than AGE (7d, 12h) from DIR. Fetch: downloads a
recording that RETRACE_UPLOAD=s3://bucket/prefix uploaded.
Secrets are sealed ('*'s in the recording); --secret NAME seals environment variable
NAME too. keygen writes a private key file and prints its public key: record with
RETRACE_SEAL_TO=<public key>, replay with --key-file KEYFILE (or RETRACE_KEY_FILE) to
give the program the originals; without it a replay says it runs with '*'s, and
--strict-secrets refuses to (docs/security.md).

Also: RETRACE=1 RETRACE_RECORDING_PATH=DIR python app.py  records with no launcher;
retrace-entrypoint is a Docker entrypoint; RETRACE_SAMPLE_RATE and RETRACE_MAX_SIZE
control production recording (docs/production.md).
Exit codes of retrace itself: 2 usage, 65 unusable recording, 69 object storage
unavailable (fetch), 86 replay diverged, 87 replay reached the end of a cut-short
recording.
"""


DEFAULT_LISTEN = "127.0.0.1:5678"  # debugpy's own default port


def _version() -> str:
    import retrace
    from retrace.launch import supported_text

    return (f"retrace-python {retrace.__version__} (Python {sys.version.split()[0]}; "
            f"records and replays {supported_text()} on Linux)")


def _check_address(address: str) -> None:
    host, colon, port = address.rpartition(":")
    if not colon or not port.isdigit() or int(port) > 65535:
        from retrace.errors import UsageError

        raise UsageError(f"--listen needs HOST:PORT (or :PORT), not {address!r}")


def _check_travel(travel: dict, debug: dict) -> None:
    from retrace.bootstrap.timetravel import LineSpec
    from retrace.errors import UsageError

    if "list_hits" in travel:
        LineSpec(travel["list_hits"], with_hit=False)
    if "break" in travel:
        LineSpec(travel["break"], with_hit=True)
    if "post_mortem" in travel and "break" in travel:
        raise UsageError("--post-mortem and --break: one pdb session at a time")
    if "post_mortem" in travel and debug:
        raise UsageError("--post-mortem opens pdb; with --debug, the IDE stops on uncaught exceptions itself")


def _take_value(argv: list[str], index: int, name: str) -> tuple[str, int]:
    arg = argv[index]
    if arg.startswith(name + "="):
        return arg.split("=", 1)[1], index + 1
    if index + 1 >= len(argv):
        from retrace.errors import UsageError

        raise UsageError(f"{name} needs a value")
    return argv[index + 1], index + 2


def run(argv: list[str]) -> int:
    if argv and argv[0] in ("inspect", "events", "prune", "fetch", "keygen"):
        from retrace.inspection.app import main as inspection_main

        return _rendered(inspection_main(argv))
    from retrace import pycmdline
    from retrace.errors import UsageError
    from retrace.launch import (
        OFF_CONFIG,
        check_python_options,
        check_record_target,
        exec_python,
        fresh_recording_dir,
        record_env,
        replay_command,
        sampled_in,
        unsupported_interpreter,
    )

    recording = None
    replay = None
    process = None
    debug: dict = {}
    travel: dict = {}  # --list-hits, --break, --post-mortem
    secrets: dict = {}  # --key-file, --strict-secrets (replay); --secret NAME (record)
    index = 0
    while index < len(argv):
        arg = argv[index]
        if arg in ("-h", "--help"):
            sys.stdout.write(USAGE)
            return 0
        if arg in ("-V", "--version"):
            sys.stdout.write(_version() + "\n")
            return 0
        if arg == "--recording" or arg.startswith("--recording="):
            recording, index = _take_value(argv, index, "--recording")
            continue
        if arg == "--replay" or arg.startswith("--replay="):
            replay, index = _take_value(argv, index, "--replay")
            continue
        if arg == "--process" or arg.startswith("--process="):
            process, index = _take_value(argv, index, "--process")
            continue
        if arg == "--debug":
            debug.setdefault("listen", DEFAULT_LISTEN)
            index += 1
            continue
        if arg == "--listen" or arg.startswith("--listen="):
            debug["listen"], index = _take_value(argv, index, "--listen")
            _check_address(debug["listen"])
            continue
        if arg == "--wait":
            debug["wait"] = True
            index += 1
            continue
        if arg in ("--list-hits", "--break") or arg.startswith(("--list-hits=", "--break=")):
            name = arg.partition("=")[0]
            travel[name[2:].replace("-", "_")], index = _take_value(argv, index, name)
            continue
        if arg == "--post-mortem":
            travel["post_mortem"] = True
            index += 1
            continue
        if arg == "--key-file" or arg.startswith("--key-file="):
            secrets["key_file"], index = _take_value(argv, index, "--key-file")
            continue
        if arg == "--strict-secrets":
            secrets["strict"] = True
            index += 1
            continue
        if arg == "--secret" or arg.startswith("--secret="):
            name, index = _take_value(argv, index, "--secret")
            secrets.setdefault("names", []).append(name)
            continue
        break
    rest = argv[index:]

    if replay is not None:
        if rest or recording is not None:
            raise UsageError("--replay DIR takes no program or --recording")
        if debug and "listen" not in debug:
            raise UsageError("--wait goes with --debug or --listen")
        _check_travel(travel, debug)
        if "names" in secrets:
            raise UsageError("--secret NAME goes with recording (a replay seals nothing)")
        argv, env = replay_command(replay, process, debug=debug or None, extra=travel)
        exec_python(argv, _with_replay_keys(env, secrets))
        return 0  # not reached
    if process is not None:
        raise UsageError("--process ID goes with --replay DIR")
    if debug or travel or "key_file" in secrets or "strict" in secrets:
        raise UsageError("--debug, --listen, --wait, --list-hits, --break, --post-mortem, --key-file and "
                         "--strict-secrets go with --replay DIR")

    if not rest:
        sys.stderr.write(USAGE)
        return 2
    try:
        command = pycmdline.parse(rest)
    except pycmdline.CommandLineError as exc:
        raise UsageError(str(exc)) from None
    if command.kind == "stdin":
        raise UsageError("give a script, -m module or -c code to record (a program on stdin cannot be replayed)")
    check_python_options(command.flags)
    problem = unsupported_interpreter()
    if problem:
        raise UsageError(f"cannot record: {problem}")
    recording_on, decision = sampled_in(os.environ)
    if decision:
        sys.stderr.write(f"retrace: {decision}\n")
    if not recording_on:
        exec_python(command.full(sys.executable), dict(os.environ, RETRACE_CONFIG=OFF_CONFIG))
    announce = recording is None
    if recording is None:
        recording = fresh_recording_dir()
    check_record_target(recording)
    env = record_env(recording, announce=announce)
    if "names" in secrets:
        from retrace.sealing import EXTRA_VAR

        env[EXTRA_VAR] = ",".join(filter(None, [env.get(EXTRA_VAR, ""), *secrets["names"]]))
    exec_python(command.full(sys.executable), env)
    return 0  # not reached


def _rendered(result) -> int:
    """A command's exit code, or the result of ``prune`` or ``fetch`` printed (exit 0)."""
    if isinstance(result, int):
        return result
    from retrace.inspection.render import local_time, size_text
    from retrace.retention import Pruned

    if isinstance(result, Pruned):
        verb = "would remove" if result.dry_run else "removed"
        for candidate in result.removed:
            status = f", {candidate.failed}" if candidate.failed else ""
            sys.stdout.write(f"{verb} {candidate.path} (started {local_time(candidate.started)}{status}, "
                             f"{size_text(candidate.size)})\n")
        summary = (f"{verb} {len(result.removed)} of {result.considered} recordings older than "
                   f"{result.older_than} ({size_text(result.freed)})")
        if result.keep_failed:
            summary += f"; kept {len(result.kept)} failed"
        sys.stdout.write(summary + "\n")
    else:  # storage.Fetched
        sys.stdout.write(f"fetched {result.url} into {result.directory}; "
                         f"replay it: retrace-python --replay {result.directory}\n")
    return 0


def _with_replay_keys(env: dict, secrets: dict) -> dict:
    """--key-file and --strict-secrets, as the replay reads them (bootstrap/secrets.py)."""
    from retrace.ciphers import KEY_FILE_VAR
    from retrace.sealing import STRICT_VAR

    if "key_file" in secrets:
        if not os.path.isfile(secrets["key_file"]):
            from retrace.errors import RecordingError

            raise RecordingError(f"--key-file {secrets['key_file']}: no such file")
        env[KEY_FILE_VAR] = os.path.abspath(secrets["key_file"])
    if secrets.get("strict"):
        env[STRICT_VAR] = "1"
    return env


def main(argv: list[str] | None = None) -> int:
    from retrace.errors import EXIT_INTERNAL, RetraceError

    try:
        return run(sys.argv[1:] if argv is None else argv)
    except RetraceError as error:
        if os.environ.get("RETRACE_DEBUG"):
            raise
        sys.stderr.write(f"retrace: {error}\n")
        return error.exit_code
    except OSError as error:  # exec failed: the interpreter vanished, or similar
        sys.stderr.write(f"retrace: cannot start Python: {error}\n")
        return EXIT_INTERNAL
