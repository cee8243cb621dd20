#!/usr/bin/env bash
# Development install: a venv in .venv with retrace-python installed from this
# checkout, its packages then replaced by symlinks to the source folders so that
# edits take effect without reinstalling (hatchling cannot do an editable install
# of our renamed folders: launcher/ -> retrace_launcher, site/ -> retrace_site).
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
.venv/bin/pip install -q --upgrade pip >/dev/null
.venv/bin/pip install -q '.[test]'
sp=$(.venv/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
for pair in retrace:retrace retrace_launcher:launcher retrace_site:site; do
  installed=${pair%%:*}; source=${pair##*:}
  rm -rf "$sp/$installed"
  ln -s "$PWD/$source" "$sp/$installed"
done
echo "dev install ready: $sp -> $PWD"
