"""Headless Chromium for the browser tests, from Debian's packages only.

Selenium would otherwise run Selenium Manager, which downloads a browser and a
driver at test time: slow, flaky, and impossible offline. We point it at
``/usr/bin/chromium`` and ``/usr/bin/chromedriver`` (``scripts/install-browser.sh``
installs them) and make any attempt to use Selenium Manager an error.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import NoReturn

import pytest
from selenium import webdriver
from selenium.webdriver.common.selenium_manager import SeleniumManager

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")

CHROMIUM_ARGUMENTS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1280,1024",
    # Any host but the loopback test server fails to resolve, so a page that
    # still needs a CDN cannot render and the test notices.
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
)


def require_chromium() -> None:
    """Skip (on a laptop) or fail (when ``CI=true``) without Debian's Chromium."""
    missing = [str(path) for path in (CHROMIUM, CHROMEDRIVER) if not path.is_file()]
    if not missing:
        return
    reason = f"{' and '.join(missing)} missing (run scripts/install-browser.sh)"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason)


def _refuse_selenium_manager(*_args: object, **_kwargs: object) -> NoReturn:
    msg = "Selenium Manager must not run: it would download a browser or driver"
    raise AssertionError(msg)


@pytest.fixture(scope="module")
def driver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[webdriver.Chrome]:
    """A headless Chromium with a fresh profile, quit at the end of the module."""
    require_chromium()

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SE_OFFLINE", "true")
        patch.setattr(SeleniumManager, "binary_paths", _refuse_selenium_manager)

        options = webdriver.ChromeOptions()
        options.binary_location = str(CHROMIUM)
        for argument in CHROMIUM_ARGUMENTS:
            options.add_argument(argument)
        options.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}")
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        service = webdriver.ChromeService(executable_path=str(CHROMEDRIVER))

        chrome = webdriver.Chrome(service=service, options=options)
        try:
            yield chrome
        finally:
            chrome.quit()
