"""``python -m retrace --recording DIR``: replay a recording (the FAQ's form).

Run from anywhere (typically ``cd DIR/run && python -m retrace --recording ..``).
If this interpreter was not started for this replay (hash seed, start-up hook),
it re-executes itself with what the replay needs.
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
    from retrace.errors import RetraceError
    from retrace.launch import exec_python, replay_command

    try:
        exec_python(*replay_command(path, _option(argv, "--process")))
    except RetraceError as error:
        sys.stderr.write(f"retrace: {error}\n")
        return error.exit_code
    return 0  # not reached: exec replaced this process


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
