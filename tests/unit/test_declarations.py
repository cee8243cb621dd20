"""The declarations file (retrace/declarations.py): parsed, rendered into DIR/boundaries.toml, found upwards."""

import textwrap

import pytest

from retrace import declarations
from retrace.boundaries import declared


def test_parse_and_render_round_trip():
    text = textwrap.dedent("""
        [[tool.retrace.boundaries]]
        module = "psycopg2"
        functions = ["connect", "extensions.parse_dsn"]
        classes = ["extensions.connection"]
        why = "libpq \\"talks\\" to the server"
    """)
    found = declarations.parse(text, "pyproject.toml", pyproject=True)
    assert found == [declarations.Declaration("psycopg2", ["connect", "extensions.parse_dsn"],
                                              ["extensions.connection"], 'libpq "talks" to the server')]
    rendered = declarations.render(found, ["pyproject.toml"])
    assert declarations.parse(rendered, "copy", pyproject=False) == found
    patches, actions = declared.patches_for(found)
    assert [p.name for p in patches] == ["psycopg2.connect", "psycopg2.extensions.parse_dsn",
                                         "psycopg2.extensions.connection"]
    assert all(p.optional for p in patches) and [a.module for a in actions] == ["psycopg2"]
    # A standalone file may also use the pyproject layout.
    assert declarations.parse(text, "env.toml", pyproject=False) == found
    assert declarations.parse("", "empty.toml", pyproject=False) == []
    with pytest.raises(ValueError):
        declarations.parse("[[boundaries]\n", "bad.toml", pyproject=False)


def test_find_pyproject_walks_up(tmp_path):
    (tmp_path / "pyproject.toml").write_text("")
    deep = tmp_path / "src" / "app"
    deep.mkdir(parents=True)
    assert declarations.find_pyproject(str(deep)) == str(tmp_path / "pyproject.toml")
