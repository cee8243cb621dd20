"""``python -m retrace --recording DIR``: replay a recording (the FAQ's form).

Run from anywhere (typically ``cd DIR/run && python -m retrace --recording ..``).
If this interpreter was not started for this replay (hash seed, start-up hook),
it re-executes itself with what the replay needs. Under a debugger (an IDE's
launch, as replay.code-workspace's "Replay recording"), it replays in this
interpreter instead, the debugger kept out of the replay (bootstrap/debugging.py):
a re-exec would leave the debugger behind. The interpreter must then have been
started with the recorded hash seed.
"""

from __future__ import annotations

import sys

USAGE = "usage: python -m retrace --recording DIR [--process ID]"


def _option(argv: list[str], name: str) -> str | None:
    for index, arg in enumerate(argv):
        if arg == name and index + 1 < len(argv):
            return argv[index + 1]
        if arg.startswith(name + "="):
            return arg.split("=", 1)[1]
    return None


def main(argv: list[str]) -> int:
    path = _option(argv, "--recording")
    if path is None:
        sys.stderr.write(USAGE + "\n")
        return 2
    from retrace.bootstrap import replay

    if replay.prepared():  # the start-up hook set this interpreter up for the replay
        replay.run_main()
        return 0
    from retrace.bootstrap import debugging
    from retrace.errors import RetraceError
    from retrace.launch import exec_python, replay_command

    try:
        if debugging.debugger_running():
            return _replay_here(path, _option(argv, "--process"))
        exec_python(*replay_command(path, _option(argv, "--process")))
    except RetraceError as error:
        sys.stderr.write(f"retrace: {error}\n")
        return error.exit_code
    return 0  # not reached: exec replaced this process


def _replay_here(path: str, process: str | None) -> int:
    """Replay in this interpreter, started by a debugger."""
    import os

    from retrace.bootstrap import replay
    from retrace.errors import UsageError
    from retrace.launch import replay_config
    from retrace.recording import Recording

    config, settings = replay_config(path, process, debug={})
    want, have = settings.get("hash_seed"), os.environ.get("PYTHONHASHSEED")
    if want != have:
        raise UsageError(f"under a debugger the replay runs in the debugger's interpreter, which must start "
                         f"with PYTHONHASHSEED={want} (it has {have}); the \"Replay recording\" launch "
                         f"configuration of {Recording(config['recording']).workspace_path} sets it")
    replay.prepare(config)
    replay.run_main()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
