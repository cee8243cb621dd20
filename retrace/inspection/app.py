"""The command line of the subcommands (typer): ``inspect`` and ``events``, and also
``prune``, ``fetch`` and ``keygen``, whose work is done elsewhere (retrace/retention.py,
retrace/storage.py, retrace/ciphers.py; prune and fetch return results that
launcher/cli.py renders).

The launcher's hand-written parser stays in charge of recording and replay (its
start-up time is every recorded program's); it imports this module only when the
first argument is one of ``COMMANDS``. Failures keep the launcher's shape:
a RetraceError propagates to ``launcher.cli.main`` (one ``retrace:`` line, its
exit code); a command-line mistake is one ``retrace:`` line and exit 2.
"""

import json
import sys
from typing import Annotated, List, Optional

import typer
import typer.main

from retrace.errors import EXIT_BAD_RECORDING, EXIT_USAGE, TraceCorrupt
from retrace.inspection import render
from retrace.inspection.model import EventQuery, load_recording
from retrace.recording import ROOT_PROCESS

COMMANDS = ("inspect", "events", "prune", "fetch", "keygen")

app = typer.Typer(
    add_completion=False,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
    help="Look at a recording without replaying it.",
)

Directory = Annotated[str, typer.Argument(metavar="DIR", help="The recording directory.", show_default=False)]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON (a versioned shape: see docs/cli.md).")]


@app.command("inspect")
def inspect_command(
    directory: Directory,
    as_json: AsJson = False,
    follow: Annotated[bool, typer.Option(
        "--follow", help="While the recording is being written, print its processes and event counts as "
                         "they grow; end when the root process ends (Ctrl-C ends too).")] = False,
    wait: Annotated[float, typer.Option(
        "--wait", min=0, metavar="SECONDS",
        help="With --follow: how long to wait for DIR to become a recording.")] = 10.0,
    secrets: Annotated[bool, typer.Option(
        "--secrets", help="List what the recording sealed (environment variables, credentials in data "
                          "received), never the secrets themselves.")] = False,
) -> int:
    """The recording's versions, start, state, and its process tree: each process's
    command line, duration, exit status, events, trace size, CPU time and peak memory."""
    if secrets:
        from retrace.inspection.model import sealed_secrets

        load_recording(directory)  # (a clear error if DIR is no recording)
        info, found = sealed_secrets(directory)
        if as_json:
            sys.stdout.write(json.dumps(render.secrets_json(info, found), indent=2) + "\n")
        else:
            sys.stdout.write(render.secrets_text(info, found))
        return 0
    if follow:
        from retrace.inspection.follow import follow as follow_recording

        return follow_recording(directory, wait=wait, as_json=as_json)
    info = load_recording(directory)
    if as_json:
        sys.stdout.write(json.dumps(render.inspect_json(info), indent=2) + "\n")
    else:
        sys.stdout.write(render.inspect_text(info))
    sys.stdout.flush()
    if info.damage:
        raise TraceCorrupt(info.damage)
    return 0


@app.command("events")
def events_command(
    directory: Directory,
    process: Annotated[str, typer.Option("--process", metavar="ID",
                                         help="Whose events: 0 is the root, 0.1 its first child...")] = ROOT_PROCESS,
    thread: Annotated[Optional[int], typer.Option("--thread", metavar="N", min=0,
                                                  help="Only logical thread N (0 is the main thread).")] = None,
    boundary: Annotated[Optional[List[str]], typer.Option(
        "--boundary", metavar="PATTERN",
        help="Only boundaries whose name matches this glob, e.g. 'time.*' (repeat for several).")] = None,
    limit: Annotated[Optional[int], typer.Option("--limit", metavar="N", min=0,
                                                 help="Only the first N matching events.")] = None,
    as_json: AsJson = False,
) -> int:
    """One line per recorded event: index, thread, boundary, call site, value."""
    query = EventQuery(directory, process, boundaries=boundary, thread=thread, limit=limit)
    rows, problem = [], None
    try:
        for row in query:
            if as_json:
                rows.append(row)
            else:
                sys.stdout.write(render.event_line(row) + "\n")
    except TraceCorrupt as exc:
        problem = exc
    if as_json:
        sys.stdout.write(json.dumps(render.events_json(process, rows, problem and str(problem)), indent=1) + "\n")
    sys.stdout.flush()
    if problem is not None:
        raise problem
    return 0


@app.command("prune")
def prune_command(
    directory: Annotated[str, typer.Argument(metavar="DIR", show_default=False,
                                             help="The directory that holds recordings.")],
    older_than: Annotated[str, typer.Option("--older-than", metavar="AGE",
                                            help="Remove recordings started longer ago than AGE: 7d, 12h, 30m, "
                                                 "90s, 2w.")],
    keep_failed: Annotated[bool, typer.Option(
        "--keep-failed", help="Keep recordings that did not end with exit 0 (an error, a signal, a crash, a "
                              "size cap).")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Say what would be removed; remove nothing.")] = False,
) -> object:
    """Retention: remove old recordings from DIR. Recordings still being written are
    never removed."""
    from retrace.retention import prune

    return prune(directory, older_than, keep_failed=keep_failed, dry_run=dry_run)  # (launcher/cli.py renders it)


@app.command("fetch")
def fetch_command(
    url: Annotated[str, typer.Argument(metavar="URL", show_default=False,
                                       help="s3://bucket/prefix/NAME: a recording uploaded by RETRACE_UPLOAD.")],
    directory: Annotated[Optional[str], typer.Argument(metavar="[DIR]", show_default=False,
                                                       help="Where to put it (default: ./NAME).")] = None,
) -> object:
    """Download a recording from S3 (or S3-compatible storage: AWS_ENDPOINT_URL)."""
    from retrace import storage

    return storage.fetch(url, directory)  # (launcher/cli.py renders it)


@app.command("keygen")
def keygen_command(
    keyfile: Annotated[str, typer.Argument(metavar="KEYFILE", show_default=False,
                                           help="Where to write the new private key (never over a file).")],
) -> int:
    """Make a key pair for sealing: write the private key to KEYFILE (mode 0600) and print
    the public key. Record with RETRACE_SEAL_TO=<public key> (production holds nothing
    secret); replay with RETRACE_KEY_FILE=KEYFILE or --key-file KEYFILE (docs/security.md)."""
    from retrace.ciphers import keygen

    sys.stdout.write(keygen(keyfile) + "\n")
    return 0


def main(argv: List[str]) -> object:
    """Run ``inspect``/``events``/... with ``argv`` (its first item is the command's name):
    an exit code, or the result of ``prune`` or ``fetch`` for the launcher to render."""
    command = typer.main.get_command(app)
    try:
        result = command.main(args=argv, prog_name="retrace-python", standalone_mode=False)
    except typer.TyperException as exc:  # a usage mistake (typer's click exceptions)
        where = argv[0] if argv and argv[0] in COMMANDS else "inspect"
        sys.stderr.write(f"retrace: {exc.format_message().rstrip('.')} (see retrace-python {where} --help)\n")
        return EXIT_USAGE
    except typer.Abort:
        return 130
    except OSError as exc:
        sys.stderr.write(f"retrace: cannot read the recording: {exc}\n")
        return EXIT_BAD_RECORDING
    return 0 if result is None else result

