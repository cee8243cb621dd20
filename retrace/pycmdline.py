"""Parse a ``python`` command line the way CPython does (pure).

Used by the launcher (to split its own options from python's) and by the start-up
hook (to learn what the interpreter is about to run, from ``sys.orig_argv``).
"""

from __future__ import annotations

# Single-letter options that take no argument, and those that take one.
_FLAGS = set("bBdEhiIOPqsSuvVx?")
_WITH_ARG = set("WXcmQ")
_LONG_WITH_ARG = {"--check-hash-based-pycs"}
_LONG_FLAGS = {"--help", "--version", "--help-env", "--help-xoptions", "--help-all"}


class CommandLineError(ValueError):
    pass


class PythonCommand:
    def __init__(self) -> None:
        self.options: list[str] = []       # interpreter options, as given
        self.kind = "stdin"                # "script", "module", "command" or "stdin"
        self.target: str | None = None     # script path, module name or command text
        self.args: list[str] = []          # what follows the target
        self.flags: set[str] = set()       # single-letter flags (and long flags) seen
        self.argv: list[str] = []          # everything after the executable, untouched

    def target_argv(self) -> list[str]:
        """The argv tail that selects what to run: ``[script]``, ``['-m', mod]``..."""
        if self.kind == "script":
            return [self.target]
        if self.kind == "module":
            return ["-m", self.target]
        if self.kind == "command":
            return ["-c", self.target]
        return []

    def full(self, executable: str) -> list[str]:
        """The command line as given (``-OO`` stays ``-OO``: it shows in sys.orig_argv)."""
        return [executable, *self.argv]


def parse(argv: list[str]) -> PythonCommand:
    """Parse python's arguments (without the executable)."""
    cmd = PythonCommand()
    cmd.argv = list(argv)
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--":
            i += 1
            break
        if arg == "-" or not arg.startswith("-"):
            break
        if arg.startswith("--"):
            name = arg.split("=", 1)[0]
            if name in _LONG_WITH_ARG:
                if "=" in arg:
                    cmd.options.append(arg)
                else:
                    if i + 1 >= len(argv):
                        raise CommandLineError(f"option {arg} requires an argument")
                    cmd.options += [arg, argv[i + 1]]
                    i += 1
            elif name in _LONG_FLAGS:
                cmd.options.append(arg)
                cmd.flags.add(name)
            else:
                raise CommandLineError(f"unknown option {arg}")
            i += 1
            continue
        # a cluster of single-letter options, e.g. -uB or -Wignore or -c"code"
        j = 1
        while j < len(arg):
            letter = arg[j]
            if letter in _WITH_ARG:
                value = arg[j + 1:]
                if not value:
                    if i + 1 >= len(argv):
                        raise CommandLineError(f"option -{letter} requires an argument")
                    i += 1
                    value = argv[i]
                if letter == "c":
                    cmd.kind, cmd.target = "command", value
                    cmd.args = argv[i + 1:]
                    return cmd
                if letter == "m":
                    cmd.kind, cmd.target = "module", value
                    cmd.args = argv[i + 1:]
                    return cmd
                cmd.options += [f"-{letter}", value]
                break
            if letter not in _FLAGS:
                raise CommandLineError(f"unknown option -{letter}")
            cmd.options.append(f"-{letter}")
            cmd.flags.add(letter)
            j += 1
        i += 1
    if i < len(argv):
        if argv[i] == "-":
            cmd.kind, cmd.args = "stdin", argv[i + 1:]
        else:
            cmd.kind, cmd.target, cmd.args = "script", argv[i], argv[i + 1:]
    return cmd
