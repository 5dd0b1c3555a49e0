#!/usr/bin/env bash
# Install Debian's Chromium and its matching chromedriver for the browser tests
# (`pytest -m browser`). Idempotent: does nothing when both are already present.
# We use the distribution packages rather than Selenium Manager so that tests
# never download a browser or driver at run time.
set -euo pipefail

readonly CHROMIUM=/usr/bin/chromium
readonly CHROMEDRIVER=/usr/bin/chromedriver

if [[ -x "$CHROMIUM" && -x "$CHROMEDRIVER" ]]; then
    echo "chromium and chromedriver already installed"
    exit 0
fi

if [[ "$(id -u)" -eq 0 ]]; then
    as_root=()
elif command -v sudo >/dev/null 2>&1; then
    as_root=(sudo)
else
    echo "install-browser: need root (or sudo) to install chromium" >&2
    exit 1
fi

export DEBIAN_FRONTEND=noninteractive
"${as_root[@]}" apt-get update
"${as_root[@]}" apt-get install -y --no-install-recommends chromium chromium-driver

"$CHROMIUM" --version
"$CHROMEDRIVER" --version
