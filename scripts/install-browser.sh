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

bash "$(dirname "$0")/apt-install.sh" chromium chromium-driver

"$CHROMIUM" --version
"$CHROMEDRIVER" --version
