#!/usr/bin/env bash
# The real-programs corpus alone (tests/realworld/: pytest on an sdist, pip, black, flake8, mypy,
# sphinx, httpie, gunicorn, http.server, Django), in the test virtualenv scripts/test.sh
# makes. The whole suite runs it too; this is the one command for it.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv-test/bin/python ]; then
    python3 -m venv .venv-test
    .venv-test/bin/python -m pip install -q --upgrade pip
fi
.venv-test/bin/python -m pip install -q -c tests/constraints.txt '.[test]'
exec .venv-test/bin/python -m pytest -q -p no:cacheprovider -m realworld tests/realworld "$@"
