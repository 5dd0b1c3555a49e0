#!/usr/bin/env bash
# Install Debian's wrk (the HTTP load generator `make bench` uses). Idempotent;
# without root the HTTP measures are skipped.
set -euo pipefail

command -v wrk >/dev/null 2>&1 && exit 0
bash "$(dirname "$0")/../scripts/apt-install.sh" --optional wrk
