#!/usr/bin/env bash
# The real-programs corpus alone (tests/realworld/: pytest on an sdist, pip, black, flake8, mypy,
# sphinx, httpie, gunicorn, http.server, Django), in the test virtualenv scripts/test.sh
# makes (for python3's version). The whole suite runs it too; this is the one command for it.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=".venv-test-$(python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
    "$venv/bin/python" -m pip install -q --upgrade pip
fi
"$venv/bin/python" -m pip install -q -c tests/constraints.txt '.[test]'
exec "$venv/bin/python" -m pytest -q -p no:cacheprovider -m realworld tests/realworld "$@"
