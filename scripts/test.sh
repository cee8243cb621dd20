#!/usr/bin/env bash
# The whole test suite, on each supported Python: for each one a fresh virtualenv
# (.venv-test-3.X), retrace-python installed from this checkout with its test extras (the
# compatibility matrix's libraries pinned by tests/constraints.txt), the suite run against
# the installed package, in parallel (pytest-xdist). PostgreSQL and Redis (for the
# matrix's database rows) come from Debian's packages when missing.
#
#   bash scripts/test.sh                        every supported version
#   bash scripts/test.sh --python python3.12    that interpreter only (repeatable)
#   bash scripts/test.sh -- -k sqlite           what follows -- goes to pytest
#
# With the default, a supported version that cannot be found is an error: CI must run
# them all. A version being ported (PORTED, retrace/launch.py) runs when asked for with
# --python; pip installs past requires-python for it. RETRACE_TEST_WORKERS sets
# pytest-xdist's worker count (default: auto).
set -euo pipefail
cd "$(dirname "$0")/.."
SUPPORTED=(3.11)            # the whole suite passes on these (retrace/launch.py's SUPPORTED_PYTHONS)
PORTED=(3.12 3.13)          # being ported: asked for with --python (#17)

pythons=()
while [ $# -gt 0 ]; do
    case "$1" in
        --python) pythons+=("$2"); shift 2 ;;
        --python=*) pythons+=("${1#--python=}"); shift ;;
        --) shift; break ;;
        *) break ;;
    esac
done

find_python() {  # a version (3.12) -> a working interpreter of it: on PATH, else pyenv's
    local version=$1 candidate
    for candidate in "python$version" "$(pyenv root 2>/dev/null)"/versions/"$version".*/bin/"python$version"; do
        if "$candidate" -c 'import sys; sys.exit(sys.version_info[:2] != tuple(map(int, sys.argv[1].split("."))))' \
            "$version" 2>/dev/null; then
            command -v "$candidate"
            return 0
        fi
    done
    return 1
}

if [ ${#pythons[@]} -eq 0 ]; then
    for version in "${SUPPORTED[@]}"; do
        if ! found=$(find_python "$version"); then
            echo "test.sh: Python $version not found (on PATH as python$version, or under pyenv): every supported version is tested" >&2
            exit 2
        fi
        pythons+=("$found")
    done
fi

bash scripts/install-services.sh
failed=()
summary=()
for python in "${pythons[@]}"; do
    version=$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
    venv=".venv-test-$version"
    echo "== Python $version ($python)"
    start=$(date +%s)
    rm -rf "$venv"
    "$python" -m venv "$venv"
    "$venv/bin/python" -m pip install -q --upgrade pip
    past=()
    for ported in ${PORTED[@]+"${PORTED[@]}"}; do
        if [ "$version" = "$ported" ]; then
            echo "note: Python $version is being ported: installing past requires-python"
            past=(--ignore-requires-python)
        fi
    done
    "$venv/bin/python" -m pip install -q "${past[@]}" -c tests/constraints.txt '.[test]'
    if "$venv/bin/python" -m pytest -q -p no:cacheprovider -n "${RETRACE_TEST_WORKERS:-auto}" "$@"; then
        summary+=("Python $version: passed in $(( $(date +%s) - start )) s")
    else
        summary+=("Python $version: FAILED in $(( $(date +%s) - start )) s")
        failed+=("$version")
    fi
done
printf '%s\n' "${summary[@]}"
[ ${#failed[@]} -eq 0 ]
