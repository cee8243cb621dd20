#!/usr/bin/env bash
# The servers the compatibility matrix's tests start themselves (tests/services.py):
# PostgreSQL and Redis from Debian's packages, installed when missing. Nothing is left
# running: the packages' own services are not started here (the tests start their own
# servers on free ports in temporary directories).
set -euo pipefail
missing=()
compgen -G "/usr/lib/postgresql/*/bin/initdb" > /dev/null || missing+=(postgresql)
command -v redis-server > /dev/null || [ -x /usr/bin/redis-server ] || missing+=(redis-server)
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ] || ! command -v apt-get > /dev/null; then
    echo "note: ${missing[*]} not installed (needs root and apt-get); their compatibility rows will be skipped" >&2
    exit 0
fi
export DEBIAN_FRONTEND=noninteractive
# policy-rc.d 101: the packages must not start their services (no init system in CI anyway).
if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
fi
log=$(mktemp)
if ! apt-get install -y -q "${missing[@]}" > "$log" 2>&1; then
    if ! { apt-get update -q && apt-get install -y -q "${missing[@]}"; } > "$log" 2>&1; then
        tail -20 "$log" >&2
        echo "error: could not install ${missing[*]} from Debian's packages (the compatibility rows need them)" >&2
        rm -f "$log"
        exit 1
    fi
fi
rm -f "$log"
