#!/usr/bin/env bash
# Fresh virtualenv in .venv-test, install retrace-python from this checkout with its
# test extras (the compatibility matrix's libraries pinned by tests/constraints.txt), run
# the whole test suite against the installed package. PostgreSQL and Redis (for the matrix's
# database rows) come from Debian's packages when missing.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-services.sh
python3 -m venv .venv-test
.venv-test/bin/python -m pip install -q --upgrade pip
.venv-test/bin/python -m pip install -q -c tests/constraints.txt '.[test]'
exec .venv-test/bin/python -m pytest -q -p no:cacheprovider "$@"
