"""Process facts replay: pid, cwd, environment, host, machine, users and groups.

The strongest test replays in a changed world (root only): another host name
(UTS namespace), another /etc/passwd and /etc/group (bind mounts in a private
mount namespace), one CPU of affinity, another cwd and environment. The replay
must still print what the recording printed.
"""

import os
import shutil

from conftest import ANOTHER_USER, CAN_UNSHARE_NET, LAUNCHER, PYTHON, Program, assert_same_run, run


CAN_CHANGE_WORLD = (
    CAN_UNSHARE_NET and shutil.which("mount") is not None and shutil.which("taskset") is not None
    and run(["unshare", "-m", "-u", "-n", "true"]).returncode == 0
)

FACTS_PROGRAM = """
    import getpass, grp, os, pathlib, platform, pwd, resource, site, socket
    for name in ("LOGNAME", "USER", "LNAME", "USERNAME"):
        os.environ.pop(name, None)  # getpass.getuser() falls back to the user database
    print("pid", os.getpid(), os.getppid(), os.getpgrp(), os.getsid(0))
    print("cwd", os.getcwd(), pathlib.Path.cwd(), os.path.abspath("data.txt"), os.getcwdb())
    print("env", os.environ.get("RT_FACT"), os.getenv("RT_ONLY_IN_REPLAY"), "RT_FACT" in os.environ)
    print("host", socket.gethostname(), platform.node(), os.uname().nodename)
    print("uname", os.uname(), os.uname().sysname, type(os.uname()).__name__)
    print("platform", platform.platform(), platform.processor(), platform.uname().processor, platform.system())
    print("cpus", os.cpu_count(), sorted(os.sched_getaffinity(0)), os.sysconf("SC_PAGE_SIZE"))
    print("users", os.getuid(), os.geteuid(), os.getgid(), os.getegid(), os.getgroups(), getpass.getuser())
    root = pwd.getpwuid(0)
    print("pwd", root, root.pw_name, root.pw_gecos, pwd.getpwnam("root").pw_dir, len(pwd.getpwall()) > 0)
    print("grp", grp.getgrgid(0).gr_name, grp.getgrnam(grp.getgrgid(0).gr_name).gr_gid, len(grp.getgrall()) > 0)
    print("home", os.path.expanduser("~root"))
    print("usersite", site.ENABLE_USER_SITE, site.USER_BASE, site.USER_SITE, site.getusersitepackages())
    try:
        pwd.getpwnam("no-such-user-retrace")
    except KeyError as exc:
        print("missing", repr(exc))
    try:
        print("login", os.getlogin())
    except OSError as exc:
        print("login", type(exc).__name__, exc.errno)
    print("times", os.times(), os.getloadavg(), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def replay_in_changed_world(app: Program, tmp_path, env: dict):
    """Replay with another host name, /etc/passwd, /etc/group, CPU affinity and cwd, as
    another user where unshare can map one."""
    fake = tmp_path / "fake-etc"
    fake.mkdir()
    (fake / "passwd").write_text("root:x:0:0:Someone Else:/elsewhere:/bin/false\n"
                                 "someone:x:12345:12345:Someone Else:/elsewhere:/bin/false\n")
    (fake / "group").write_text("wheel-replayed:x:0:\nsomeones:x:12345:\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    setup = (
        f"mount --bind {fake}/passwd /etc/passwd && mount --bind {fake}/group /etc/group"
        f" && hostname replay-host-elsewhere && exec unshare {' '.join(ANOTHER_USER)} taskset -c 0 \"$@\""
    )
    argv = ["unshare", "-m", "-u", "-n", "sh", "-c", setup, "sh"]
    plain = run([*argv, PYTHON, str(app.script)], cwd=elsewhere, env=env)
    replayed = run([*argv, LAUNCHER, "--replay", str(app.recording)], cwd=elsewhere, env=env)
    return plain, replayed


def _lines(result) -> dict:
    return dict(line.split(" ", 1) for line in result.stdout.splitlines())


def test_process_facts_replay_in_a_changed_world(program, tmp_path):
    app = program(FACTS_PROGRAM)
    recorded = app.record(env={"RT_FACT": "recorded"})
    assert recorded.returncode == 0, recorded.stderr
    facts = _lines(recorded)
    assert facts["env"] == "recorded None True"
    assert facts["cwd"].startswith(str(app.dir))
    assert int(facts["pid"].split()[0]) != os.getpid()

    second = Program(tmp_path / "again", FACTS_PROGRAM)
    other = _lines(second.record(env={"RT_FACT": "recorded"}))
    assert other["pid"] != facts["pid"]  # pids really differ between runs

    env = {"RT_FACT": "changed", "RT_ONLY_IN_REPLAY": "yes"}
    if CAN_CHANGE_WORLD:
        plain, replayed = replay_in_changed_world(app, tmp_path, env)
        assert plain.returncode == 0, plain.stderr
        now = _lines(plain)
        # the world really changed: a plain run there sees other facts
        for label in ("cwd", "env", "host", "cpus", "pwd", "grp", "home", *(["users"] if ANOTHER_USER else [])):
            assert now[label] != facts[label], label
        assert "replay-host-elsewhere" in now["host"] and "Someone Else" in now["pwd"]
    else:
        replayed = app.replay(env=env)
    assert_same_run(recorded, replayed)
    assert_same_run(recorded, app.replay(env=env))


def test_environment_changed_before_replay(program):
    app = program("""
        import os, subprocess
        print(os.environ.get("RT_A"), os.environ.get("RT_B"), os.getenv("RT_NEW", "absent"))
        os.environ["RT_SET"] = "by-program"
        print(sorted(k for k in os.environ if k.startswith("RT_")), os.environb.get(b"RT_A"))
    """)
    recorded = app.record(env={"RT_A": "one", "RT_B": "two"})
    assert recorded.returncode == 0, recorded.stderr
    assert recorded.stdout.startswith("one two absent\n")
    replayed = app.replay(env={"RT_A": "changed", "RT_NEW": "new"})
    assert_same_run(recorded, replayed)


def test_chdir_is_not_repeated_on_replay(program):
    app = program("""
        import os
        os.chdir("sub")
        print(os.getcwd(), os.path.abspath("x"), os.umask(0o077), os.umask(0o022))
        os.chdir("..")
        try:
            os.chdir("missing-dir")
        except FileNotFoundError as exc:
            print("chdir failed", exc.errno, exc.filename)
        print(os.getcwd())
    """)
    sub = app.dir / "sub"
    sub.mkdir()
    recorded = app.record()
    assert recorded.returncode == 0, recorded.stderr
    assert recorded.stdout.splitlines()[0].startswith(str(sub))
    sub.rmdir()  # a replay that really changed directory would fail now
    (app.dir / "missing-dir").mkdir()  # ...or would succeed here
    assert_same_run(recorded, app.replay())


def test_getpass_and_platform_strings(program, tmp_path):
    source = """
        import getpass, platform
        print(getpass.getuser(), platform.platform(), platform.machine(), platform.release())
        print(platform.processor() == platform.uname().processor, platform.architecture())
    """
    app = program(source)
    recorded = app.record(env={"USER": "recorded-user", "LOGNAME": "recorded-user"})
    assert recorded.returncode == 0, recorded.stderr
    assert recorded.stdout.startswith("recorded-user ")
    replayed = app.replay(env={"USER": "someone-else", "LOGNAME": "someone-else"})
    assert_same_run(recorded, replayed)


def test_psutil_facts_asked_in_c_replay_after_the_process_is_gone(program):
    """psutil asks the kernel about the recorded pid in C (affinity, priorities): on replay
    that pid is another process or none, and a real call raises NoSuchProcess."""
    app = program("""
        import psutil
        me = psutil.Process()
        print("affinity", me.cpu_affinity(), me.nice(), tuple(me.ionice()))
        print("machine", psutil.cpu_count(logical=False), psutil.virtual_memory().total > 0)
        print("interfaces", sorted(psutil.net_if_addrs()) == sorted(psutil.net_if_stats()))
        print("disks", len(psutil.disk_partitions(all=True)) > 0, len(psutil.users()) >= 0)
    """)
    recorded = app.record()
    assert recorded.returncode == 0, recorded.stderr
    assert recorded.stdout.startswith("affinity [")
    for _ in range(2):
        assert_same_run(recorded, app.replay())


def test_directories_above_home_are_the_programs_world(program):
    """A config search walking up from the cwd (flake8, black, mypy) stats every folder
    above it, the HOME's parent among them: those reads replay from the recording with the
    whole tree gone. (The user's site-packages below HOME counted as the installation, and
    so did the folders leading to it, even in a virtualenv, which never looks there.)"""
    app = program("""
        import os
        path = os.getcwd()
        while True:
            st = os.stat(path)
            print(os.path.basename(path) or "/", os.path.isdir(os.path.join(path, "home")), st.st_nlink > 0)
            parent = os.path.dirname(path)
            if parent == path:
                break
            path = parent
    """)
    home = app.root / "home"
    home.mkdir()
    recorded = app.record(env={"HOME": str(home)})
    assert recorded.returncode == 0, recorded.stderr
    assert "True" in recorded.stdout.splitlines()[1], recorded.stdout  # (the project's parent holds home/)
    shutil.rmtree(app.dir)
    shutil.rmtree(home)
    for _ in range(2):
        assert_same_run(recorded, app.replay())
