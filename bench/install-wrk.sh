#!/usr/bin/env bash
# Install Debian's wrk (the HTTP load generator `make bench` uses). Idempotent.
set -euo pipefail

if command -v wrk >/dev/null 2>&1; then
    exit 0
fi
if [[ "$(id -u)" -eq 0 ]]; then
    as_root=()
elif command -v sudo >/dev/null 2>&1; then
    as_root=(sudo)
else
    echo "install-wrk: need root (or sudo) to install wrk; the HTTP measures will be skipped" >&2
    exit 0
fi
export DEBIAN_FRONTEND=noninteractive
"${as_root[@]}" apt-get update -qq
"${as_root[@]}" apt-get install -y -qq --no-install-recommends wrk >/dev/null
