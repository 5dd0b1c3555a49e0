"""The offline docs render in a real browser that cannot reach the internet.

Unit tests prove the HTML references only local assets; only a browser proves
that those assets actually boot Swagger UI and ReDoc under the pages' CSP.
"""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import uvicorn
from fastapi import FastAPI
from pydantic import BaseModel
from selenium import webdriver
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from tiered.http.docs import install_offline_docs

pytestmark = pytest.mark.browser

RENDER_TIMEOUT_S = 20.0
SERVER_START_TIMEOUT_S = 10.0

# (method, path, summary) of every operation of the test app.
OPERATIONS = (
    ("get", "/items/{item_id}", "Read item"),
    ("post", "/items", "Create item"),
    ("delete", "/orders/{order_id}", "Cancel order"),
)


class Item(BaseModel):
    name: str
    price_cents: int


def build_app() -> FastAPI:
    app = FastAPI(title="Browser docs test", docs_url=None, redoc_url=None)

    @app.get("/items/{item_id}", summary="Read item")
    async def read_item(item_id: int) -> Item:
        return Item(name=f"item {item_id}", price_cents=100)

    @app.post("/items", summary="Create item", status_code=201)
    async def create_item(item: Item) -> Item:
        return item

    @app.delete("/orders/{order_id}", summary="Cancel order", status_code=204)
    async def cancel_order(order_id: int) -> None:
        return None

    install_offline_docs(app)
    return app


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    """A real uvicorn server on a free loopback port, in a background thread.

    The socket is bound here (port 0) and handed to uvicorn, so there is no
    window in which another process can take the port.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(build_app(), log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + SERVER_START_TIMEOUT_S
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                pytest.fail("uvicorn did not start", pytrace=False)
            time.sleep(0.01)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=SERVER_START_TIMEOUT_S)
        sock.close()


def console_entries(driver: webdriver.Chrome) -> list[dict[str, Any]]:
    """Browser console entries since the last call (Chromium drains the buffer)."""
    entries: list[dict[str, Any]] = driver.get_log("browser")  # type: ignore[no-untyped-call]
    return entries


def open_page(driver: webdriver.Chrome, url: str) -> None:
    """Navigate, first dropping console entries of earlier pages."""
    console_entries(driver)
    driver.get(url)


def wait_for_elements(driver: webdriver.Chrome, selector: str, count: int) -> None:
    """Wait until the UI rendered ``count`` elements; on timeout, say what the console said."""
    try:
        WebDriverWait(driver, RENDER_TIMEOUT_S).until(
            lambda d: len(d.find_elements(By.CSS_SELECTOR, selector)) >= count
        )
    except TimeoutException:
        console = [entry["message"] for entry in console_entries(driver)]
        pytest.fail(
            f"{selector!r} not rendered {count} times in {RENDER_TIMEOUT_S} s; console: {console}",
            pytrace=False,
        )


def visible_text(element_text: str) -> str:
    """Drop the zero-width break opportunities Swagger UI puts in long paths."""
    return element_text.replace("\u200b", "").strip()


def loaded_urls(driver: webdriver.Chrome) -> list[str]:
    urls: list[str] = driver.execute_script(
        "return [location.href, ...performance.getEntriesByType('resource').map(e => e.name)];"
    )
    return urls


def assert_page_was_offline_and_clean(driver: webdriver.Chrome, base_url: str) -> None:
    """Nothing left the machine, and the console shows no error at all.

    Any request to another host would show twice: as a console error (the
    page's CSP blocks it, or the host does not resolve) and as a loaded URL.
    """
    errors = [entry["message"] for entry in console_entries(driver) if entry["level"] == "SEVERE"]
    assert not errors, f"browser console errors: {errors}"
    external = [url for url in loaded_urls(driver) if not url.startswith(f"{base_url}/")]
    assert not external, f"page fetched external resources: {external}"
    images = driver.execute_script(
        "return [...document.images].map(image => image.currentSrc || image.src);"
    )
    assert not [src for src in images if re.match(r"(?i)^(https?:)?//", src)], images


def test_swagger_ui_renders_every_operation(driver: webdriver.Chrome, base_url: str) -> None:
    open_page(driver, f"{base_url}/docs")

    wait_for_elements(driver, ".opblock", len(OPERATIONS))

    blocks = driver.find_elements(By.CSS_SELECTOR, ".opblock")
    rendered = {
        (
            visible_text(block.find_element(By.CSS_SELECTOR, ".opblock-summary-method").text),
            visible_text(block.find_element(By.CSS_SELECTOR, ".opblock-summary-path").text),
        )
        for block in blocks
    }
    assert rendered == {(method.upper(), path) for method, path, _ in OPERATIONS}
    assert driver.title == "Browser docs test - Swagger UI"
    assert_page_was_offline_and_clean(driver, base_url)


def test_redoc_renders_every_operation(driver: webdriver.Chrome, base_url: str) -> None:
    open_page(driver, f"{base_url}/redoc")

    operation_headings = "[data-section-id^='operation/'] h2"
    wait_for_elements(driver, operation_headings, len(OPERATIONS))

    headings = {
        visible_text(heading.text)
        for heading in driver.find_elements(By.CSS_SELECTOR, operation_headings)
    }
    assert headings == {summary for _, _, summary in OPERATIONS}
    page_text = driver.find_element(By.TAG_NAME, "body").text
    for _, path, _ in OPERATIONS:
        assert path in page_text
    assert driver.title == "Browser docs test - ReDoc"
    assert_page_was_offline_and_clean(driver, base_url)
