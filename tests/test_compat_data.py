"""Rows of the compatibility matrix (tests/compat_matrix.py): data libraries whose C code
subclasses the stdlib's classes or does its own file I/O (issue #14).

Each program is recorded, the files it read and wrote are deleted, and it is replayed
twice: both replays must be the recorded run, byte for byte."""

from __future__ import annotations


import pytest

from conftest import PYTHON, assert_same_run, needs, run
from threadsupport import record_ok, replay_ok


def _record_then_replay_without(app, *names: str, plain_too: bool = True):
    """Record (the output must be a plain run's, when ``plain_too``), delete ``names``
    from the project, replay twice."""
    if plain_too:
        plain = run([PYTHON, str(app.script)], cwd=app.dir, timeout=120)
        assert plain.returncode == 0, plain.stderr
        for name in names:
            (app.dir / name).unlink(missing_ok=True)
    recorded = record_ok(app, timeout=120)
    if plain_too:
        assert recorded.stdout == plain.stdout
    for name in names:
        assert (app.dir / name).exists(), f"the recording did not write {name}"
        (app.dir / name).unlink()
    for _ in range(2):
        assert_same_run(recorded, replay_ok(app, timeout=120))
        for name in names:
            assert not (app.dir / name).exists(), f"the replay wrote {name}"
    return recorded


PANDAS = """
    import datetime
    import pandas as pd

    with open("data.csv", "w") as out:
        out.write("city,when,amount\\nOslo,2024-01-05,10.5\\nLima,2024-02-01,3\\nOslo,2024-03-09,7\\n")
    frame = pd.read_csv("data.csv", parse_dates=["when"])
    frame["double"] = frame.amount * 2
    print(frame.groupby("city").amount.sum().to_dict())
    print(frame.amount.describe().round(3).to_dict())
    frame.to_csv("out.csv", index=False)
    print(pd.read_csv("out.csv").shape)
    now = pd.Timestamp.now()
    print(type(now).__name__, now > pd.Timestamp("2020-01-01"), now.isoformat() != "")
    print(pd.NaT, pd.isna(pd.NaT), pd.Timestamp("2024-03-01") + pd.Timedelta(days=1))
    print(type(datetime.datetime.now()) is datetime.datetime, isinstance(now, datetime.datetime))
    print(pd.date_range("2024-01-30", periods=3, freq="D").strftime("%m-%d").tolist())
"""


@pytest.mark.compat("pandas")
def test_pandas_reads_and_writes_csv_and_reads_the_clock(program):
    needs("pandas")
    app = program(PANDAS)
    recorded = _record_then_replay_without(app, "data.csv", "out.csv")
    assert "Timestamp True True" in recorded.stdout
    assert "True True" in recorded.stdout.splitlines()[-2]


NUMPY_FILES = """
    import numpy as np

    values = np.arange(12, dtype=np.int32)
    values.tofile("raw.bin")
    np.save("saved.npy", values * 2)
    np.savetxt("text.txt", values[:4])
    values.tofile("comma.txt", sep=",")
    print(np.fromfile("raw.bin", dtype=np.int32))
    print(np.load("saved.npy"))
    with open("raw.bin", "rb") as handle:
        handle.seek(8)
        print(np.fromfile(handle, dtype=np.int32, count=3), handle.tell())
        print(np.fromfile(handle, dtype=np.int16, count=2, offset=4), handle.tell())
    with open("raw.bin", "r+b") as handle:
        handle.seek(4)
        np.array([99, 98], dtype=np.int32).tofile(handle)
        print(handle.tell())
    print(np.fromfile("raw.bin", dtype=np.int32)[:4], np.loadtxt("text.txt"))
    print(np.fromfile("comma.txt", dtype=np.int32, sep=","))
"""


@pytest.mark.compat("numpy")
def test_numpy_reads_and_writes_files_in_c(program):
    needs("numpy")
    app = program(NUMPY_FILES)
    recorded = _record_then_replay_without(app, "raw.bin", "saved.npy", "text.txt", "comma.txt")
    assert "[ 0 99 98  3]" in recorded.stdout


LXML = """
    import os
    from lxml import etree

    with open("doc.xml", "w") as out:
        out.write("<catalog><book id='1'>Dune</book><book id='2'>Emma</book></catalog>")
    tree = etree.parse("doc.xml")
    print(tree.docinfo.URL, [b.text for b in tree.getroot()], tree.xpath("string(//book[@id='2'])"))
    with open("doc.xml", "rb") as handle:
        print(etree.parse(handle).getroot().tag)
    tree.write("copy.xml", pretty_print=True, xml_declaration=True, encoding="utf-8")
    tree.write("copy.xml.gz", compression=6)
    print(etree.parse("copy.xml.gz").getroot()[0].get("id"), os.path.getsize("copy.xml") > 0)
    try:
        etree.parse("missing.xml")
    except OSError as exc:
        print("OSError", exc)
    with open("broken.xml", "w") as out:
        out.write("<a><b></a>")
    try:
        etree.parse("broken.xml")
    except etree.XMLSyntaxError as exc:
        print("XMLSyntaxError", exc)
"""


@pytest.mark.compat("lxml")
def test_lxml_parses_and_writes_files_by_name(program):
    needs("lxml")
    app = program(LXML)
    recorded = _record_then_replay_without(app, "doc.xml", "copy.xml", "copy.xml.gz", "broken.xml")
    assert "doc.xml ['Dune', 'Emma'] Emma" in recorded.stdout
    assert "XMLSyntaxError" in recorded.stdout


AST_SERIALIZE = """
    import os
    import ast_serialize

    with open("m.py", "w") as out:
        out.write("def f(a: int) -> str:\\n    return a  # type: ignore\\n")
    with open("latin.py", "wb") as out:
        out.write(b"# -*- coding: latin-1 -*-\\nx = '\\xe9'\\n")
    os.mkdir("pkg")
    for name in ("m.py", "latin.py", "missing.py", "pkg"):
        try:
            tree, errors, ignores, imports, data = ast_serialize.parse(name, python_version=(3, 11))
            print(name, len(tree), errors, ignores, data["source_hash"])
        except ValueError as exc:
            print(name, type(exc).__name__, exc)
    os.rmdir("pkg")
"""


def test_ast_serialize_parses_files_by_name(program):
    """mypy's Rust parser reads a file it is given by name itself, below Python."""
    needs("ast_serialize")
    app = program(AST_SERIALIZE)
    recorded = _record_then_replay_without(app, "m.py", "latin.py")
    assert "m.py " in recorded.stdout and "latin.py ValueError" in recorded.stdout


PILLOW = """
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (80, 40), (200, 10, 10))
    ImageDraw.Draw(image).rectangle((5, 5, 30, 20), fill=(0, 255, 0))
    image.save("picture.png")
    image.save("picture.jpg", quality=85)
    with open("picture.gif", "wb") as handle:
        image.convert("P").save(handle, format="GIF")
    with Image.open("picture.png") as again:
        print(again.size, again.mode, again.getpixel((10, 10)), again.format)
    with Image.open("picture.jpg") as photo:
        photo.thumbnail((20, 20))
        print(photo.size, photo.format)
    with open("picture.gif", "rb") as handle, Image.open(handle) as gif:
        gif.load()
        print(gif.format, gif.size)
"""


@pytest.mark.compat("pillow")
def test_pillow_saves_into_descriptors_and_reads_back(program):
    """Pillow encodes straight into a file's descriptor (``fileno()``) in C: on replay that
    number must be a real descriptor (retrace/descriptors.py), or the save fails."""
    needs("PIL")
    app = program(PILLOW)
    recorded = _record_then_replay_without(app, "picture.png", "picture.jpg", "picture.gif")
    assert "(80, 40) RGB (0, 255, 0) PNG" in recorded.stdout


def test_the_program_gets_the_descriptor_numbers_of_a_plain_run(program):
    """Retrace's own descriptors (the trace file) sit above the program's: the first file a
    program opens has the number it has without retrace, in the recording and the replay."""
    app = program("""
        import os
        first = open(__file__)
        second = os.open(__file__, os.O_RDONLY)
        print(first.fileno(), second)
    """)
    plain = run([PYTHON, str(app.script)], cwd=app.dir)
    recorded = record_ok(app)
    assert recorded.stdout == plain.stdout == "3 4\n"
    assert_same_run(recorded, replay_ok(app))


MMAP = """
    import mmap, os

    with open("mapped.bin", "wb") as handle:
        handle.write(b"hello mapped world " * 8)
    with open("mapped.bin", "rb") as handle:
        view = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
        print(view[:5], view.find(b"world"), len(view), type(view) is mmap.mmap)
        view.close()
    fd = os.open("mapped.bin", os.O_RDWR)
    shared = mmap.mmap(fd, 64, offset=0)
    shared[0:5] = b"HELLO"
    shared.flush()
    shared.close()
    os.close(fd)
    with open("mapped.bin", "rb") as handle:
        print(handle.read(11))
    anonymous = mmap.mmap(-1, 8)
    anonymous.write(b"anon")
    print(anonymous[:4])
"""


def test_mapped_files_replay_what_the_mapping_held(program):
    """A mapping's reads are memory reads: making it is the boundary, and replay maps the
    bytes the file had (GitPython's object database reads its index and packs this way)."""
    app = program(MMAP)
    recorded = _record_then_replay_without(app, "mapped.bin")
    assert "b'hello' 13 152 True" in recorded.stdout and "b'HELLO mappe'" in recorded.stdout
