"""Files replay from the recording: reads see the recorded content, writes are not redone.

Every end-to-end test changes the world between record and replay (files edited,
deleted, created where the program expects none), so a replay that touched the
file system would print something else or fail.
"""

import os
import random
import shutil
import textwrap

import pytest

from conftest import PYTHON, assert_same_run, make_tree, run

from retrace.boundaries import files
from retrace.trace.model import Event, iter_events
from retrace.trace.reader import TraceReader


def events(recording) -> list[str]:
    """Boundary names of the recorded events, in order."""
    return [e.boundary for e in iter_events(TraceReader(str(recording / "trace.bin"))) if isinstance(e, Event)]


def file_events(recording) -> list[str]:
    return [name for name in events(recording) if name.startswith(("os.", "io.", "builtins."))
            and name.partition(".")[2] in _FILE_LEAVES]


_FILE_LEAVES = {patch.attr for patch in files.FAMILY.patches} | {
    "open", "FileIO.readinto", "FileIO.read", "FileIO.readall", "FileIO.write", "FileIO.seek",
    "FileIO.tell", "FileIO.truncate", "FileIO.close"}


def record_ok(app, *args, **kwargs):
    recorded = app.record(*args, **kwargs)
    assert recorded.returncode == 0, recorded.stderr
    return recorded


def plain_run(app):
    return run([PYTHON, str(app.script)], cwd=app.dir)


# -- reading --------------------------------------------------------------------------
READER = """
    import io, os, pathlib, codecs, linecache, tokenize
    with open("data.txt") as f:
        print("text", repr(f.read()), f.name, f.mode, f.closed, type(f).__name__, type(f.buffer).__name__)
    print("closed after with", f.closed)
    with open("data.txt", encoding="utf-8") as f:
        print("lines", [line for line in f])
    with open("data.txt", "rb") as f:
        print("binary", f.read(5), f.tell(), f.read(), f.mode, type(f).__name__)
    with open("data.txt", "rb", buffering=0) as f:
        buf = bytearray(7)
        print("unbuffered", type(f).__name__, f.readinto(buf), bytes(buf), f.seek(-4, 2), f.read())
    with open("data.txt", "r+") as f:
        print("readline", repr(f.readline()), f.tell(), repr(f.readline(3)))
        f.seek(0)
        print("after seek", f.readlines())
    print("pathlib", repr(pathlib.Path("data.txt").read_text()), len(pathlib.Path("data.txt").read_bytes()))
    print("io.open", io.open("data.txt", newline="").read().count("\\r"))
    with codecs.open("data.txt", encoding="utf-8") as f:
        print("codecs", f.read(6))
    with tokenize.open("data.txt") as f:
        print("tokenize", repr(f.readline()))
    print("linecache", repr(linecache.getline(os.path.abspath("data.txt"), 2)))
    fd = os.open("data.txt", os.O_RDONLY)
    print("os", os.read(fd, 4), os.lseek(fd, 0, os.SEEK_CUR), os.pread(fd, 3, 1), os.fstat(fd).st_size)
    bufs = [bytearray(2), bytearray(3)]
    print("readv", os.readv(fd, bufs), bufs)
    with os.fdopen(fd, "rb") as f:
        print("fdopen", f.read(), f.name)
    f = open("data.txt")
    print("no close", f.readline().strip())
"""


def test_read_replays_recorded_content_after_file_changed_and_deleted(program):
    app = program(READER)
    data = app.dir / "data.txt"
    data.write_bytes(b"first line\r\nsecond line\nthird\n")
    recorded = record_ok(app)
    assert "first line" in recorded.stdout
    data.write_text("changed completely\n")
    assert "changed completely" in plain_run(app).stdout  # the program really reads the file
    data.unlink()
    assert_same_run(recorded, app.replay())
    assert not data.exists()


def test_reading_a_large_file_in_chunks_and_lines(program):
    app = program("""
        import hashlib
        h = hashlib.sha256()
        with open("big.bin", "rb") as f:
            while chunk := f.read(10_000):
                h.update(chunk)
        count = sum(1 for _ in open("big.txt"))
        print(h.hexdigest(), count)
    """)
    # (seeded: os.urandom's bytes hold a secret's shape, `pwd=...`, about once in 500 such
    # files, and a sealed value replays blanked without the key, with a warning)
    (app.dir / "big.bin").write_bytes(random.Random(17).randbytes(300_000))
    (app.dir / "big.txt").write_text("".join(f"line {i}\n" for i in range(20_000)))
    recorded = record_ok(app)
    (app.dir / "big.bin").write_bytes(b"other")
    (app.dir / "big.txt").unlink()
    assert_same_run(recorded, app.replay())


def test_locale_encoding_of_text_files_is_recorded(program):
    """open() without an encoding uses the locale's, a fact of the recording machine."""
    app = program("""
        import locale, pathlib
        with open("data.txt", errors="replace") as f:
            print(f.encoding, ascii(f.read()))
        print(ascii(pathlib.Path("data.txt").read_text(errors="replace")))
        print(locale.getpreferredencoding(False))
    """)
    (app.dir / "data.txt").write_text("caf\u00e9\n", encoding="utf-8")
    recorded = record_ok(app, env={"LC_ALL": "C", "PYTHONCOERCECLOCALE": "0", "PYTHONUTF8": "0"})
    assert recorded.stdout.startswith("ANSI_X3.4-1968 'caf\\ufffd\\ufffd\\n'")
    assert_same_run(recorded, app.replay(env={"LC_ALL": "C.UTF-8", "PYTHONUTF8": "1"}))


# -- writing ------------------------------------------------------------------------------
WRITER = """
    import os, pathlib
    with open("out.txt", "w") as f:
        print("write", f.write("hello\\n"), file=None)
        print("second", file=f)
        f.writelines(["a\\n", "b\\n"])
    with open("out.txt", "a") as f:
        print("append tell", f.tell(), f.write("appended\\n"))
    with open("out.bin", "wb") as f:
        print("binary", f.write(b"\\x00\\x01\\x02"), f.tell(), f.mode, f.name)
    with open("new.txt", "x") as f:
        f.write("created")
    try:
        open("new.txt", "x")
    except FileExistsError as e:
        print("x again:", e)
    with open("rw.txt", "w+") as f:
        f.write("read me back")
        f.seek(0)
        print("w+", f.read(), f.truncate(4), f.seek(0, 2))
    fd = os.open("raw.bin", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    print("os.write", os.write(fd, b"raw bytes"), os.pwrite(fd, b"X", 0), os.writev(fd, [b"1", b"22"]))
    os.fsync(fd)
    os.ftruncate(fd, 5)
    os.close(fd)
    print("pathlib", pathlib.Path("p.txt").write_text("pathlib text"))
    print("read back", open("out.txt").read().splitlines(), open("raw.bin", "rb").read())
    print("sizes", os.path.getsize("out.txt"), os.path.getsize("p.txt"))
    with open("unbuffered.bin", "wb", buffering=0) as f:
        print("unbuffered", f.write(b"abc"), type(f).__name__, repr(f).startswith("<_io.FileIO name="))
"""


def test_writes_are_not_performed_again_on_replay(program):
    app = program(WRITER)
    recorded = record_ok(app)
    outputs = ["out.txt", "out.bin", "new.txt", "rw.txt", "raw.bin", "p.txt", "unbuffered.bin"]
    assert all((app.dir / name).exists() for name in outputs)
    assert (app.dir / "raw.bin").read_bytes() == b"Xaw b"
    for name in outputs:
        (app.dir / name).unlink()
    (app.dir / "new.txt").write_text("in the way")  # a real open(..., "x") would fail now
    replayed = app.replay()
    assert_same_run(recorded, replayed)
    assert sorted(p.name for p in app.dir.iterdir()) == ["app.py", "new.txt"]
    assert (app.dir / "new.txt").read_text() == "in the way"
    assert_same_run(recorded, app.replay())


# -- directories -----------------------------------------------------------------------
LISTER = """
    import glob, os, pathlib
    print("listdir", sorted(os.listdir("tree")), sorted(os.listdir(b"tree")))
    with os.scandir("tree") as it:
        for e in sorted(it, key=lambda e: e.name):
            print("entry", e.name, e.path, e.is_dir(), e.is_file(), e.is_symlink(),
                  e.is_dir(follow_symlinks=False), e.stat().st_size if not e.is_dir() else "-",
                  e.stat(follow_symlinks=False).st_mode & 0o170000, e.inode() > 0, os.fspath(e), repr(e))
    print("scandir()", sorted(e.path for e in os.scandir()))
    for top, dirs, names in os.walk("tree"):
        dirs.sort()
        print("walk", top, dirs, sorted(names))
    for top, dirs, names, fd in os.fwalk("tree"):
        print("fwalk", top, sorted(dirs), sorted(names), fd > 2)
    print("glob", sorted(glob.glob("tree/**/*.txt", recursive=True)))
    print("rglob", sorted(str(p) for p in pathlib.Path("tree").rglob("*")))
    print("iterdir", sorted(p.name for p in pathlib.Path("tree").iterdir()))
    print("Path.glob", sorted(str(p) for p in pathlib.Path("tree").glob("*/*")))
    print("is_dir", pathlib.Path("tree/sub").is_dir(), pathlib.Path("tree/link").is_symlink())
"""


def test_directory_listings_replay_the_recorded_tree(program):
    app = program(LISTER)
    tree = make_tree(app.dir)
    recorded = record_ok(app)
    assert "entry link tree/link True False True False" in recorded.stdout
    shutil.rmtree(tree / "sub")
    (tree / "a.txt").write_text("longer content now")
    (tree / "new.txt").write_text("new")
    assert plain_run(app).stdout != recorded.stdout
    assert_same_run(recorded, app.replay())
    shutil.rmtree(tree)
    assert_same_run(recorded, app.replay())


def test_path_queries_on_files_that_disappear(program):
    app = program("""
        import os, os.path as p
        for name in ["f.txt", "d", "missing", "ln"]:
            print(name, p.exists(name), p.isfile(name), p.isdir(name), p.islink(name), p.lexists(name))
        print(p.getsize("f.txt"), p.getmtime("f.txt"), p.realpath("ln"), p.samefile("f.txt", "ln"))
        print(os.access("f.txt", os.R_OK), os.access("missing", os.F_OK), os.readlink("ln"))
        st = os.stat("f.txt")
        print(st, st.st_mtime, st.st_mtime_ns, st[8], type(st).__name__)
        print(os.lstat("ln").st_mode & 0o170000 == 0o120000, os.statvfs(".").f_bsize > 0)
    """)
    (app.dir / "f.txt").write_text("12345")
    (app.dir / "d").mkdir()
    (app.dir / "ln").symlink_to("f.txt")
    recorded = record_ok(app)
    for name in ("f.txt", "ln"):
        (app.dir / name).unlink()
    (app.dir / "d").rmdir()
    (app.dir / "missing").write_text("now here")
    assert_same_run(recorded, app.replay())


def test_file_system_changes_are_not_repeated(program):
    app = program("""
        import os, pathlib
        os.mkdir("made")
        os.makedirs("deep/er/est", exist_ok=True)
        os.rmdir("deep/er/est")
        os.removedirs("deep/er")
        open("doomed.txt", "w").close()
        os.remove("doomed.txt")
        os.rename("old.txt", "renamed.txt")
        os.replace("renamed.txt", "made/replaced.txt")
        os.symlink("made", "link")
        os.link("made/replaced.txt", "hard.txt")
        os.chmod("hard.txt", 0o600)
        os.utime("hard.txt", (1, 2))
        os.truncate("hard.txt", 3)
        pathlib.Path("touched").touch()
        pathlib.Path("touched").unlink()
        os.unlink("hard.txt")
        print(sorted(os.listdir(".")), sorted(os.listdir("made")), os.stat("made/replaced.txt").st_size)
    """)
    (app.dir / "old.txt").write_text("old content")
    recorded = record_ok(app)
    assert (app.dir / "made" / "replaced.txt").read_text() == "old"
    # The world as the recording left it, then disturbed: replay must leave it alone.
    (app.dir / "old.txt").write_text("back again")
    (app.dir / "doomed.txt").write_text("must survive")
    shutil.rmtree(app.dir / "made")
    (app.dir / "link").unlink()
    before = sorted(p.name for p in app.dir.iterdir())
    assert_same_run(recorded, app.replay())
    assert sorted(p.name for p in app.dir.iterdir()) == before
    assert (app.dir / "old.txt").read_text() == "back again"
    assert (app.dir / "doomed.txt").read_text() == "must survive"


def test_shutil_copies_and_trees(program):
    app = program("""
        import os, shutil
        print(shutil.copyfile("src/a.txt", "copyfile.txt"))
        print(shutil.copy("src/a.txt", "copy.txt"), shutil.copy2("src/a.txt", "copy2.txt"))
        print(os.stat("copy2.txt").st_mtime == os.stat("src/a.txt").st_mtime)
        print(shutil.copytree("src", "dst"))
        print(sorted(os.listdir("dst")), open("dst/sub/b.txt").read())
        shutil.move("copy.txt", "moved.txt")
        shutil.rmtree("dst")
        print(os.path.exists("dst"), shutil.disk_usage(".").total > 0)
        with open("src/a.txt", "rb") as fsrc, open("stream.txt", "wb") as fdst:
            shutil.copyfileobj(fsrc, fdst)
        print(sorted(os.listdir(".")))
    """)
    (app.dir / "src" / "sub").mkdir(parents=True)
    (app.dir / "src" / "a.txt").write_text("alpha")
    (app.dir / "src" / "sub" / "b.txt").write_text("beta")
    recorded = record_ok(app)
    assert not (app.dir / "dst").exists() and (app.dir / "moved.txt").read_text() == "alpha"
    shutil.rmtree(app.dir / "src")
    for name in ("copyfile.txt", "moved.txt", "copy2.txt", "stream.txt"):
        (app.dir / name).unlink()
    (app.dir / "dst").mkdir()  # copytree into an existing directory would fail for real
    assert_same_run(recorded, app.replay())
    assert sorted(p.name for p in app.dir.iterdir()) == ["app.py", "dst"]


def test_tempfile_names_replay_identical(program):
    app = program("""
        import os, tempfile
        fd, name = tempfile.mkstemp(suffix=".tmp")
        os.write(fd, b"temp data"); os.close(fd)
        print("mkstemp", name, open(name).read())
        with tempfile.NamedTemporaryFile("w+", delete=True) as f:
            f.write("named"); f.seek(0)
            print("named", f.name, f.read(), os.path.exists(f.name))
        print("named gone", os.path.exists(f.name))
        with tempfile.TemporaryDirectory() as d:
            open(os.path.join(d, "inside"), "w").write("x")
            print("tempdir", d, os.listdir(d))
        print("tempdir gone", os.path.exists(d))
        with tempfile.TemporaryFile() as f:
            f.write(b"anonymous"); f.seek(0); print("tempfile", f.read())
        made = tempfile.mkdtemp()
        print("mkdtemp", made, tempfile.gettempdir())
        os.rmdir(made)
        os.remove(name)
        leftover = tempfile.NamedTemporaryFile(delete=True)
        print("left open", leftover.name)
    """)
    recorded = record_ok(app)
    names = [line.split()[1] for line in recorded.stdout.splitlines()
             if line.split()[0] in ("mkstemp", "named", "tempdir", "mkdtemp", "left")]
    other = app.__class__(app.root / "again", textwrap.dedent(app.script.read_text()))
    assert record_ok(other).stdout != recorded.stdout  # the names are random
    replayed = app.replay()
    assert_same_run(recorded, replayed)
    assert not any(os.path.exists(name) for name in names[:-1])


# -- errors ---------------------------------------------------------------------------
def test_errors_are_raised_the_same_on_replay(program):
    app = program("""
        import os
        def show(call, *args):
            try:
                call(*args)
            except OSError as e:
                print(type(e).__name__, e.errno, e.strerror, e.filename, e.filename2, "|", e)
            else:
                print("no error")
        show(open, "missing.txt")
        show(open, "adir", "w")
        show(os.stat, "missing.txt")
        show(os.rename, "missing.txt", "elsewhere.txt")
        show(os.link, "adir", "adir-link")
        show(os.rmdir, "full")
        show(os.listdir, "missing")
        show(os.mkdir, "adir")
        show(os.open, "locked.txt", os.O_WRONLY)
        show(os.read, 987, 10)
        show(lambda: list(os.scandir("missing")))
        show(open, "locked.txt", "a")
    """)
    (app.dir / "adir").mkdir()
    (app.dir / "full").mkdir()
    (app.dir / "full" / "x").write_text("x")
    locked = app.dir / "locked.txt"
    locked.write_text("")
    locked.chmod(0o444)
    recorded = record_ok(app)
    assert "FileNotFoundError 2 No such file or directory missing.txt None" in recorded.stdout
    assert "PermissionError 1 Operation not permitted adir adir-link" in recorded.stdout
    # The world changes so that each call would now succeed (or fail differently).
    (app.dir / "missing.txt").write_text("here now")
    (app.dir / "missing").mkdir()
    shutil.rmtree(app.dir / "full")
    shutil.rmtree(app.dir / "adir")
    locked.chmod(0o666)
    assert_same_run(recorded, app.replay())


def test_uncaught_open_error_prints_the_same_traceback(program):
    app = program("""
        def load(name):
            with open(name) as f:
                return f.read()
        print("start")
        load("nope.txt")
    """)
    plain = plain_run(app)
    recorded = app.record()
    assert recorded.returncode == 1
    assert recorded.output == plain.output  # exactly what python prints
    assert "FileNotFoundError: [Errno 2] No such file or directory: 'nope.txt'" in recorded.stderr
    (app.dir / "nope.txt").write_text("exists now")
    assert_same_run(recorded, app.replay())


def test_caught_tracebacks_match_between_record_and_replay(program):
    app = program("""
        import os, traceback
        for call in (lambda: open("nope"), lambda: os.stat("nope"), lambda: list(os.scandir("nope"))):
            try:
                call()
            except OSError:
                traceback.print_exc()
    """)
    recorded = record_ok(app)
    assert recorded.stderr.count("Traceback") == 3
    assert_same_run(recorded, app.replay())


# -- output ---------------------------------------------------------------------------
def test_os_write_to_stdout_and_stderr_happens_on_replay(program):
    app = program("""
        import os, sys
        print("print first", flush=True)
        print("os.write", os.write(1, b"to stdout via os.write\\n"), flush=True)
        os.write(2, b"to stderr via os.write\\n")
        os.writev(1, [b"vector ", b"write\\n"])
        with open(1, "w", closefd=False) as out:
            out.write("through open(1)\\n")
        with open("/dev/stderr", "w") as err:
            err.write("through /dev/stderr\\n")
        print("done")
    """)
    recorded = record_ok(app)
    assert recorded.stdout == ("print first\nto stdout via os.write\nos.write 23\nvector write\n"
                               "through open(1)\ndone\n")
    assert recorded.stderr == "to stderr via os.write\nthrough /dev/stderr\n"
    assert_same_run(recorded, app.replay())


# -- descriptors, locks, openers ------------------------------------------------------
def test_descriptor_calls_openers_and_locks(program):
    app = program("""
        import fcntl, os, struct, termios
        fd = os.open("data.txt", os.O_RDWR)
        fcntl.flock(fd, fcntl.LOCK_EX)
        print("flags", fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_ACCMODE == os.O_RDWR, os.isatty(fd))
        buf = bytearray(4)
        try:
            fcntl.ioctl(fd, termios.FIONREAD, buf)
            print("ioctl", struct.unpack("i", buf)[0])
        except OSError as e:
            print("ioctl error", e.errno)
        fcntl.flock(fd, fcntl.LOCK_UN)
        dup = os.dup(fd)
        print("dup", dup > fd, os.read(dup, 5))
        os.close(dup); os.close(fd)
        r, w = os.pipe()
        os.write(w, b"through a pipe"); os.close(w)
        print("pipe", os.read(r, 100)); os.close(r)
        seen = []
        def opener(path, flags):
            seen.append(flags & os.O_ACCMODE)
            return os.open(path, flags)
        with open("data.txt", opener=opener) as f:
            print("opener", f.read(), seen, f.name)
        dir_fd = os.open(".", os.O_RDONLY)
        with open("data.txt", "rb", opener=lambda p, fl: os.open(p, fl, dir_fd=dir_fd)) as f:
            print("dir_fd opener", f.read(4))
        print("stat dir_fd", os.stat("data.txt", dir_fd=dir_fd).st_size, sorted(os.listdir(dir_fd))[:2])
        os.close(dir_fd)
    """)
    (app.dir / "data.txt").write_text("descriptor data")
    recorded = record_ok(app)
    assert "opener descriptor data [0] data.txt" in recorded.stdout
    (app.dir / "data.txt").unlink()
    assert_same_run(recorded, app.replay())


def test_garbage_collected_files_record_no_events(program):
    """Closing (and flushing) a file the program dropped happens when the garbage
    collector gets to it, which is not at the same moment on replay: no events."""
    app = program("""
        import gc
        class Holder:
            def __init__(self):
                self.me = self
                self.src = open("data.txt")
                self.first = self.src.read(4)
        Holder()
        open("out.txt", "w").write("flushed and closed when dropped")
        junk = [[object()] for _ in range(50_000)]
        gc.collect()
        print(repr(open("out.txt").read()))
    """)
    (app.dir / "data.txt").write_text("data for the holder")
    recorded = record_ok(app)
    assert recorded.stdout == "'flushed and closed when dropped'\n"
    names = file_events(app.recording)
    assert names.count("io.open") == 3 and "io.FileIO.write" not in names and "io.FileIO.close" not in names
    (app.dir / "out.txt").unlink()
    assert_same_run(recorded, app.replay())
    assert not (app.dir / "out.txt").exists()


@pytest.mark.parametrize("options", [["-X", "dev"], ["-X", "warn_default_encoding"]])
def test_warnings_about_files_are_python_s(program, options):
    app = program("""
        import os
        def first_line():
            return open("data.txt").readline()
        print(first_line().strip())
        raw = open("data.txt", "rb", buffering=0)
        del raw
        with open("data.txt") as f:
            print(f.read().upper())
        print(list(os.scandir(".")) != [])
    """)
    (app.dir / "data.txt").write_text("some data\n")
    plain = run([PYTHON, *options, str(app.script)], cwd=app.dir)
    recorded = record_ok(app, python_args=options)
    assert recorded.output == plain.output
    assert "Warning" in recorded.stderr
    (app.dir / "data.txt").unlink()
    assert_same_run(recorded, app.replay())


# -- retrace's own file work --------------------------------------------------------------
def test_retrace_machinery_is_never_recorded(program):
    app = program("""
        import os
        import helper
        print(os.path.exists("data.txt"), helper.VALUE)
    """)
    app.write("helper.py", "VALUE = 42\n")
    for index in range(30):  # a tree for the code snapshot to walk and copy
        app.write(f"pkg{index % 3}/mod{index}.py", f"X = {index}\n")
    (app.dir / "data.txt").write_text("x")
    recorded = record_ok(app)
    assert (app.recording / "run" / "helper.py").exists()  # the snapshot did its file work
    assert file_events(app.recording) == ["os.stat"]
    assert_same_run(recorded, app.replay())


def test_file_objects_left_open_at_exit(program):
    app = program("""
        import tempfile
        log = open("log.txt", "w")
        log.write("buffered, flushed at exit")
        data = open("log.txt", "rb")
        keep = tempfile.NamedTemporaryFile()
        print("end", keep.name.startswith("/"))
    """)
    recorded = record_ok(app)
    assert (app.dir / "log.txt").read_text() == "buffered, flushed at exit"
    (app.dir / "log.txt").unlink()
    replayed = app.replay()
    assert_same_run(recorded, replayed)
    assert not (app.dir / "log.txt").exists()


# Files importlib reads and writes for someone other than the import system, through
# posix and _io.open_code rather than the os and open leaves: py_compile and compileall
# (pip compiling what it installed), runpy.run_path, cProfile and trace reading a script,
# pkgutil.get_data reading a package's data file.
# The previous code replayed these from the replaying machine: FileNotFoundError there.
IMPORTLIB_FILE_ACCESS = """
    import compileall, io, os, py_compile, runpy, sys, traceback
    import helper  # a module of the program: the import system reads it (unrecorded, from run/ on replay)
    print("compiled", py_compile.compile("tool/one.py", cfile="one.pyc", doraise=True), os.path.getsize("one.pyc") > 0)
    print("compileall", compileall.compile_dir("tool", quiet=1, force=True))
    print("cached", sorted(os.listdir("tool/__pycache__")))
    print("run_path", runpy.run_path("script.py")["answer"])
    import pkgutil
    print("package data", pkgutil.get_data("pkg", "data.txt"))
    with io.open_code(os.path.abspath("script.py")) as handle:
        print("open_code", handle.read())
    try:
        helper.fail()
    except ZeroDivisionError:
        print("".join(traceback.format_exc().splitlines(True)[-3:]), end="")
"""


def test_files_importlib_reads_for_others_replay_with_the_tree_gone(program):
    app = program(IMPORTLIB_FILE_ACCESS)
    app.write("helper.py", """
        def fail():
            return 1 / 0
    """)
    app.write("tool/one.py", "x = 1\n")
    app.write("tool/two.py", "y = 2\n")
    app.write("script.py", "answer = 6 * 7\n")
    app.write("pkg/__init__.py", "")
    app.write("pkg/data.txt", "some data\n")
    recorded = record_ok(app)
    assert "run_path 42\n" in recorded.stdout and "cached ['one.cpython-" in recorded.stdout, recorded.stdout
    assert "return 1 / 0" in recorded.stdout, recorded.stdout
    for name in ("tool", "script.py", "one.pyc", "helper.py", "__pycache__", "pkg"):
        path = app.dir / name
        shutil.rmtree(path) if path.is_dir() else path.unlink(missing_ok=True)
    assert_same_run(recorded, app.replay())
    assert not (app.dir / "tool").exists() and not (app.dir / "one.pyc").exists()  # nothing written on replay


# -- output through redirected descriptors -------------------------------------------------


def test_output_to_a_redirected_stdout_stays_out_of_the_replays_terminal(program):
    """pytest's capture puts a file at descriptors 1 and 2 (os.dup2) while a test runs:
    what the recording wrote there went into that file, not to the terminal. On replay no
    dup2 is done, and the writes through the redirected descriptors (print, os.write) must
    not come out on the replay's stdout; those through a saved copy of 1 do."""
    app = program("""
        import os, sys, tempfile
        captured = tempfile.TemporaryFile()
        sys.stdout.flush()
        saved = os.dup(1)
        os.dup2(captured.fileno(), 1)
        os.write(1, b"captured, not shown\\n")
        print("also captured", flush=True)
        os.write(saved, b"through the saved copy\\n")
        os.dup2(saved, 1)
        os.close(saved)
        captured.seek(0)
        print("shown", captured.read())
        os.dup2(1, 2)
        print("stderr now goes to stdout", file=sys.stderr, flush=True)
    """)
    recorded = app.record()
    assert recorded.returncode == 0, recorded.stderr
    assert recorded.stdout == ("through the saved copy\nshown b'captured, not shown\\nalso captured\\n'\n"
                               "stderr now goes to stdout\n"), recorded.stdout
    for _ in range(2):
        assert_same_run(recorded, app.replay())
