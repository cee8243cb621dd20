"""Process facts: who and where the process is, and the machine it runs on.

Process ids, user and group ids, the working directory, CPU counts and
affinity, load, ``uname``, the host name, system configuration values, and the
user and group databases (``pwd``, ``grp``) are leaves: replay returns what the
recorded process saw, although it runs with another pid, from another
directory, maybe on another machine. Library code over them runs for real in
both modes: ``platform.uname()`` and ``platform.node()`` over ``os.uname``,
``getpass.getuser()`` over the environment and ``pwd``, ``os.path.abspath``
over ``os.getcwd``, ``multiprocessing.cpu_count`` over ``os.cpu_count``.

Calls that change the process (``chdir``, ``umask``, ``setuid``, ``setsid``,
``nice``, ``setrlimit``...) are leaves too: recording performs them, replay
does not (it answers with the recorded result or error), so a replay changes
nothing and needs no privileges.

The environment is not a boundary: replay restores ``os.environ`` from the
recording's settings before the program starts.

psutil asks the kernel some of its facts in C, below those leaves (a process's CPU
affinity and priorities by pid, the disks, network interfaces and users): its C
functions are leaves too. On replay the recorded pid names another process, or none.

``platform`` runs the ``uname -p`` and ``file`` commands for ``processor()`` and
``architecture()``; the smallest points that cover them are leaves here so that
replay runs no command.
"""

from __future__ import annotations

import sys

from retrace.boundaries.spec import Family, Patch, Turn, all_args


def _flat(result, args, kwargs):
    """A struct (or a list of them) as plain tuples: see _rebuilt."""
    if type(result) is list:
        return [tuple(item) for item in result]
    return tuple(result)


def _rebuilt(kind_name: str):
    """Replay's value: the struct type of the module being called, rebuilt from tuples.

    ``pwd.struct_passwd`` and friends cross as plain tuples so that reading the
    trace never has to import ``pwd``, ``grp`` or ``resource`` (the trace is read
    ahead of the program, and importing a patched module early leaves it unpatched).
    """
    module_name, _, attr = kind_name.partition(".")

    def load(stored, args, kwargs):
        kind = getattr(sys.modules[module_name], attr)
        if type(stored) is list:
            return [kind(item) for item in stored]
        return kind(stored)

    return load


def _struct(module: str, attr: str, kind: str, why: str, key=None, optional=False) -> Patch:
    return Patch(module, attr, why=why, key=key, optional=optional,
                 make=lambda engine, original, name: engine.leaf(
                     name, original, key=key, store=_flat, load=_rebuilt(kind)))


# os functions that take no argument and report a fact.
_OS_FACTS = (
    "getpid", "getppid", "getuid", "geteuid", "getgid", "getegid", "getgroups", "getlogin",
    "getpgrp", "getresuid", "getresgid", "getcwd", "getcwdb", "cpu_count", "getloadavg",
    "uname", "times",
)
# os functions whose answer depends on their arguments.
_OS_LOOKUPS = ("getpgid", "getsid", "getpriority", "getgrouplist", "sched_getaffinity",
               "sysconf", "confstr")
# os functions that change the process: performed while recording, not on replay.
_OS_CHANGES = (
    "chdir", "fchdir", "umask", "nice", "setpriority", "sched_setaffinity", "setsid", "setpgid",
    "setpgrp", "setuid", "setgid", "seteuid", "setegid", "setreuid", "setregid", "setresuid",
    "setresgid", "setgroups", "initgroups",
)

# psutil's C functions (psutil 7 has them all in _psutil_linux; earlier, some are in
# _psutil_posix): facts, and the calls that change a process.
_PSUTIL_C_FACTS = (
    "proc_cpu_affinity_get", "proc_ioprio_get", "proc_priority_get", "getpriority", "linux_sysinfo",
    "disk_partitions", "users", "net_if_addrs", "net_if_duplex_speed", "net_if_flags",
    "net_if_is_running", "net_if_mtu", "getpagesize", "heap_info",
)
_PSUTIL_C_CHANGES = (
    "proc_cpu_affinity_set", "proc_ioprio_set", "proc_priority_set", "setpriority", "heap_trim",
)


FAMILY = Family(
    name="process",
    doc=__doc__,
    patches=(
        *(Patch("os", name, why="a fact about this process or machine", optional=True, turn=Turn.QUICK)
          for name in _OS_FACTS),
        *(Patch("os", name, why="a fact about a process, user or the system", key=all_args, optional=True,
                turn=Turn.QUICK)
          for name in _OS_LOOKUPS),
        *(Patch("os", name, why="changes the process: done while recording, not on replay", key=all_args,
                optional=True, turn=Turn.QUICK)
          for name in _OS_CHANGES),
        Patch("socket", "gethostname", why="the machine's name", turn=Turn.QUICK),
        _struct("pwd", "getpwuid", "pwd.struct_passwd", why="reads the user database", key=all_args),
        _struct("pwd", "getpwnam", "pwd.struct_passwd", why="reads the user database", key=all_args),
        _struct("pwd", "getpwall", "pwd.struct_passwd", why="reads the user database"),
        _struct("grp", "getgrgid", "grp.struct_group", why="reads the group database", key=all_args),
        _struct("grp", "getgrnam", "grp.struct_group", why="reads the group database", key=all_args),
        _struct("grp", "getgrall", "grp.struct_group", why="reads the group database"),
        _struct("resource", "getrusage", "resource.struct_rusage", why="resource usage of this process",
                key=all_args),
        Patch("resource", "getrlimit", why="a limit of this process", key=all_args),
        Patch("resource", "setrlimit", why="changes the process: done while recording, not on replay",
              key=all_args),
        Patch("resource", "prlimit", why="reads or changes a process's limits", key=all_args, optional=True),
        Patch("resource", "getpagesize", why="a fact about the machine"),
        *(Patch(module, name, why="psutil asks the kernel in C", key=all_args, optional=True, turn=Turn.QUICK)
          for module in ("psutil._psutil_linux", "psutil._psutil_posix") for name in _PSUTIL_C_FACTS),
        *(Patch(module, name, why="psutil changes a process in C: done while recording, not on replay",
                key=all_args, optional=True, turn=Turn.QUICK)
          for module in ("psutil._psutil_linux", "psutil._psutil_posix") for name in _PSUTIL_C_CHANGES),
        # platform.processor() / uname().processor run `uname -p` in a subprocess;
        # _Processor.get is the one place that does it (CPython 3.11 Lib/platform.py).
        Patch("platform", "_Processor.get", why="runs `uname -p`", optional=True),
        # platform.architecture() runs `file -b <executable>` through _syscmd_file.
        Patch("platform", "_syscmd_file", why="runs the `file` command", key=all_args, optional=True),
    ),
)
