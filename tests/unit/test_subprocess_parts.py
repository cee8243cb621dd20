"""The subprocesses family's parts: fork_exec's key, which children are recorded Python
programs, wait results round-trip."""

from __future__ import annotations

import os
import sys

from retrace.boundaries import subprocesses
from retrace.trace.digest import call_digest


def _fork_exec_args(argv, executables, cwd, env, fds):
    return (argv, executables, True, (fds[0],), cwd, env, -1, -1, fds[1], fds[2], -1, -1, fds[3], fds[4],
            True, False, -1, None, None, None, -1, None, True)


def test_fork_exec_key_ignores_descriptors_and_environment_content():
    key = subprocesses._fork_exec_key
    base = call_digest(key, _fork_exec_args([b"ls", "-l"], (b"/bin/ls",), None, [b"A=1", b"B=2"],
                                            (5, 6, 7, 8, 9)), {})
    same = call_digest(key, _fork_exec_args([b"ls", "-l"], (b"/bin/ls",), None, [b"B=2", b"X=3"],
                                            (15, 16, 17, 18, 19)), {})
    assert base == same != 0
    for other in (
        _fork_exec_args([b"ls", "-a"], (b"/bin/ls",), None, [b"A=1"], (5, 6, 7, 8, 9)),
        _fork_exec_args([b"ls", "-l"], (b"/usr/bin/ls",), None, [b"A=1"], (5, 6, 7, 8, 9)),
        _fork_exec_args([b"ls", "-l"], (b"/bin/ls",), "/tmp", [b"A=1"], (5, 6, 7, 8, 9)),
        _fork_exec_args([b"ls", "-l"], (b"/bin/ls",), None, None, (5, 6, 7, 8, 9)),
    ):
        assert call_digest(key, other, {}) != base


def test_which_children_are_recorded_python_programs(tmp_path):
    """One function decides (bootstrap/children.py): this interpreter, directly or through a
    script's #! line, with options that keep the start-up hook; everything else is a command."""
    from retrace.bootstrap.children import python_argv

    env = dict(os.environ)
    python = (os.fsencode(sys.executable),)
    assert python_argv([sys.executable, "-c", "pass"], python, env) == [sys.executable, "-c", "pass"]
    assert python_argv([sys.executable, "-S", "-c", "pass"], python, env) is None  # no site: no hook
    assert python_argv([sys.executable, "-I", "app.py"], python, env) is None
    assert python_argv([sys.executable], python, env) is None  # a program read from stdin
    assert python_argv(["sh", "-c", "true"], (b"/bin/sh",), env) is None
    script = tmp_path / "tool"
    script.write_text(f"#!{sys.executable} -u\nprint(1)\n")
    script.chmod(0o755)
    assert python_argv([str(script), "x"], (str(script),), env) == [sys.executable, "-u", str(script), "x"]
    other = tmp_path / "other"
    other.write_text("#!/bin/sh\necho 1\n")
    other.chmod(0o755)
    assert python_argv([str(other)], (str(other),), env) is None


def test_wait_results_round_trip():
    """os.waitpid/wait3/wait4 results (with a resource.struct_rusage) survive the trace."""
    from retrace.trace import values
    from retrace.trace.cbor import dumps, loads

    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)
    for value in ((1234, 256), (1234, 0, usage)):
        back = loads(dumps(values.to_wire(value)), tag_hook=values.decode_tag)
        back = values.resolve_deferred(back)
        assert back == value and type(back) is tuple
        if len(value) == 3:
            assert type(back[2]) is resource.struct_rusage
