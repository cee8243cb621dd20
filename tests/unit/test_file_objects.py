"""The files family's objects against the real ones: stat results, openers, open()'s layers
and argument errors, directory entries, undecodable names."""

import io
import os
import posix
import sys

import pytest

from conftest import make_tree
from fakes import CallThrough

from retrace.boundaries import _direntries, _fileobj, _filekeys


def test_text_files_use_the_recorded_locale_encoding(tmp_path, monkeypatch):
    """The encoding comes with the open event, not from the replaying machine."""
    (tmp_path / "f").write_bytes(b"caf\xe9")
    monkeypatch.setattr(_fileobj, "_locale_encoding", lambda: "latin-1")
    ours = _fileobj.make_open(CallThrough())
    with ours(tmp_path / "f") as f:
        assert (f.encoding, f.read()) == ("latin-1", "caf\u00e9")
    with ours(tmp_path / "f", encoding="locale") as f:
        assert f.encoding == "latin-1"
    with ours(tmp_path / "f", encoding="ascii", errors="replace") as f:
        assert f.read() == "caf\ufffd"


def test_stat_results_round_trip_exactly(tmp_path):
    paths = [str(tmp_path), "/", sys.executable, "/dev/null", "/proc/self/stat"]
    for path in paths:
        st = os.stat(path)
        back = _filekeys.load_stat(_filekeys.store_stat(st, (path,), {}), (path,), {})
        assert back == st
        for field in ("st_atime", "st_mtime", "st_ctime", "st_atime_ns", "st_blksize", "st_blocks", "st_rdev"):
            assert getattr(back, field) == getattr(st, field), field
    os.utime(tmp_path, ns=(-1_500_000_000, 123))  # negative times too
    st = os.stat(tmp_path)
    assert _filekeys.load_stat(_filekeys.store_stat(st, (), {}), (), {}).st_atime == st.st_atime


def test_opener_flags_match_fileio(tmp_path):
    seen = {}
    for mode in ("r", "w", "x", "a", "r+", "w+", "x+", "a+"):
        path = tmp_path / f"f{len(seen)}"
        if mode[0] == "r":
            path.write_text("")

        def opener(name, flags, mode=mode):
            seen[mode] = flags
            return os.open(name, flags)

        io.FileIO(path, mode, opener=opener).close()
        assert _fileobj._opener_flags(mode) == seen[mode], mode


@pytest.mark.parametrize("args", [
    ("f", "rr"), ("f", "rw"), ("f", "z"), ("f", "rbt"), ("f", ""), ("f", "+"), ("f", 3),
    ("f", "rb", -1, "utf-8"), ("f", "rb", -1, None, "strict"), ("f", "wb", -1, None, None, ""),
    ("f", "r", -1, 5), ("f", "r", 1.5), ([], "r"), (None, "r"),
    ("missing-file", "r"),
])
def test_open_argument_errors_match_io_open(args, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    replacement = _fileobj.make_open(CallThrough())
    try:
        io.open(*args)
    except Exception as exc:
        expected = exc
    else:
        raise AssertionError("io.open accepted it")
    with pytest.raises(type(expected)) as got:
        replacement(*args)
    assert str(got.value) == str(expected)


def test_open_builds_the_same_layers_as_io_open(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "f").write_text("x\n")
    ours = _fileobj.make_open(CallThrough())
    for mode, kwargs in [("r", {}), ("rb", {}), ("w", {"buffering": 1}), ("a+", {}), ("rb", {"buffering": 0}),
                         ("r+b", {}), ("wb", {"buffering": 100}), ("x", {})]:
        (tmp_path / "x").unlink(missing_ok=True)
        name = "x" if mode == "x" else "f"
        with io.open(name, mode, **kwargs) as real:
            expected = (type(real), real.mode, getattr(real, "line_buffering", None),
                        getattr(real, "encoding", None), real.name, real.readable(), real.writable())
        (tmp_path / "x").unlink(missing_ok=True)
        with ours(name, mode, **kwargs) as mine:
            got = (type(mine) if mode[-1] != "b" or kwargs.get("buffering") != 0 else io.FileIO, mine.mode,
                   getattr(mine, "line_buffering", None), getattr(mine, "encoding", None), mine.name,
                   mine.readable(), mine.writable())
        assert got == expected, (mode, kwargs)


def test_scandir_entries_match_os_direntry(tmp_path):
    tree = make_tree(tmp_path)
    (tree / "broken").symlink_to("nowhere")
    for top in (str(tree), str(tree) + "/", bytes(tree), tree):
        real = sorted(os.scandir(top), key=lambda e: e.name)
        packed = _direntries.scan(posix.scandir, top)
        ours = sorted(_direntries.ScandirIterator(top, packed), key=lambda e: e.name)
        assert [e.name for e in ours] == [e.name for e in real]
        for mine, theirs in zip(ours, real):
            assert mine.path == theirs.path and mine.inode() == theirs.inode()
            for follow in (True, False):
                assert mine.is_dir(follow_symlinks=follow) == theirs.is_dir(follow_symlinks=follow)
                assert mine.is_file(follow_symlinks=follow) == theirs.is_file(follow_symlinks=follow)
            assert mine.is_symlink() == theirs.is_symlink()
            assert os.fspath(mine) == os.fspath(theirs) and repr(mine) == repr(theirs)
    fd = os.open(tree, os.O_RDONLY)
    try:
        ours = _direntries.ScandirIterator(fd, _direntries.scan(posix.scandir, fd))
        assert sorted(e.path for e in ours) == sorted(e.path for e in os.scandir(fd))
    finally:
        os.close(fd)
    cwd_entries = _direntries.ScandirIterator(None, _direntries.scan(posix.scandir))
    assert sorted(e.path for e in cwd_entries) == sorted(e.path for e in os.scandir())


def test_undecodable_names_survive_packing():
    names = ["plain", "caf\udce9", "\u00e9t\u00e9"]
    blob = _direntries.pack_names(names, False)
    assert _direntries.unpack_names(blob, len(names), False) == names
    assert _direntries.unpack_names(_direntries.pack_names([b"a", b"\xff"], True), 2, True) == [b"a", b"\xff"]
    assert _direntries.unpack_names(b"", 0, False) == []
