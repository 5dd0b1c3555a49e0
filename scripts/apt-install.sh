#!/usr/bin/env bash
# Install Debian packages as root (directly, or through sudo).
# Usage: apt-install.sh [--optional] PACKAGE...
# Without root or sudo it fails; with --optional it warns and succeeds, so a
# caller can go on without the package.
set -euo pipefail

optional=false
if [[ "${1:-}" == "--optional" ]]; then
    optional=true
    shift
fi
if [[ "$(id -u)" -eq 0 ]]; then
    as_root=()
elif command -v sudo >/dev/null 2>&1; then
    as_root=(sudo)
else
    echo "apt-install: need root (or sudo) to install $*" >&2
    [[ "$optional" == true ]] && exit 0
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
"${as_root[@]}" apt-get update -qq
"${as_root[@]}" apt-get install -y -qq --no-install-recommends "$@" >/dev/null
