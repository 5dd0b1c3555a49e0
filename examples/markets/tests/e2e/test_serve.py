"""``markets serve`` as a user runs it: a real uvicorn process on loopback."""

from __future__ import annotations

import os
import re
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from markets.migrate import head_revision
from markets.services.demo_data import demo_market_name
from tiered.testing import free_port

# A question of words and well-formed numbers ($40,000 · #12 · 1.0 · 2031 · 60):
# "0k", a leading zero, a stray brace or "None" cannot match.
_WORD = r"[A-Za-z]+"
_NUMBER = r"(?:\$[1-9]\d{0,2}(?:,\d{3})*|#[1-9]\d*|[1-9]\d*\.\d|[1-9]\d*)"
SANE_NAME = re.compile(rf"^Will(?: (?:{_WORD}|{_NUMBER}))+\?$")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    workdir = tmp_path_factory.mktemp("serve")
    port = free_port()
    env = {
        **os.environ,
        "MARKETS_DATABASE_URL": f"sqlite+aiosqlite:///{workdir / 'var' / 'markets.db'}",
        "MARKETS_LOG_JSON": "true",
        "MARKETS_ENVIRONMENT": "dev",  # as `make serve` sets it
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "markets", "serve", "--port", str(port)],
        cwd=workdir,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            assert process.poll() is None, process.stdout.read().decode() if process.stdout else ""
            try:
                if httpx.get(f"{base}/health/live", timeout=0.5).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        else:
            pytest.fail("markets serve did not start within 30 s")
        yield base
    finally:
        process.terminate()
        process.wait(timeout=15)


def test_ready_on_embedded_default(server: str) -> None:
    response = httpx.get(f"{server}/health/ready")
    assert response.status_code == 200
    assert response.json()["checks"] == {"database": "ok", "jobs": "ok"}


def test_docs_reference_no_external_host(server: str) -> None:
    for page in ("/docs", "/redoc"):
        response = httpx.get(f"{server}{page}")
        assert response.status_code == 200
        assert not re.findall(r"""(?:src|href)=["']https?://""", response.text), page
        for asset in re.findall(r"""(?:src|href)=["'](/[^"']+)["']""", response.text):
            assert httpx.get(f"{server}{asset}").status_code == 200, asset


def test_unknown_route_is_problem_json(server: str) -> None:
    response = httpx.get(f"{server}/nope")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert set(body) >= {"type", "title", "status", "detail", "instance", "code", "request_id"}
    assert body["request_id"] == response.headers["x-request-id"]


def test_server_header_and_uvicorn_access_log_are_off(server: str) -> None:
    response = httpx.get(f"{server}/api/v1")
    assert response.status_code == 200
    assert "server" not in response.headers


def test_migrated_on_start(server: str, tmp_path_factory: pytest.TempPathFactory) -> None:
    del server
    database = next(tmp_path_factory.getbasetemp().glob("serve*/var/markets.db"))
    with sqlite3.connect(database) as connection:
        (revision,) = connection.execute("SELECT version_num FROM alembic_version").fetchone()
    assert revision == head_revision(f"sqlite+aiosqlite:///{database}")


def test_root_leads_to_the_docs(server: str) -> None:
    for method in ("GET", "HEAD"):
        response = httpx.request(method, f"{server}/")
        assert response.status_code == 307, method
        assert response.headers["location"] == "/docs"
    assert httpx.get(f"{server}/", follow_redirects=True).url.path == "/docs"


@pytest.mark.parametrize("path", ["/health/live", "/api/v1/markets", "/docs", "/openapi.json"])
def test_head_over_a_real_server(server: str, path: str) -> None:
    get = httpx.get(f"{server}{path}")
    head = httpx.head(f"{server}{path}")
    assert head.status_code == get.status_code == 200
    assert head.headers["content-type"] == get.headers["content-type"]
    assert head.content == b""
    assert head.headers["content-length"] == get.headers["content-length"]


def test_demo_markets_read_naturally(server: str) -> None:
    names: list[str] = []
    params: dict[str, str | int] = {"limit": 100}
    while True:
        body = httpx.get(f"{server}/api/v1/markets", params=params).json()
        names.extend(item["name"] for item in body["data"])
        cursor = body["meta"].get("next_cursor")
        if not cursor:
            break
        params = {"limit": 100, "cursor": cursor}
    assert len(names) > 50
    assert not [name for name in names if not SANE_NAME.match(name) or "0k" in name]


def test_every_demo_market_name_is_sane_and_distinct() -> None:
    names = [demo_market_name(index) for index in range(5000)]
    assert len(set(names)) == len(names)
    assert not [name for name in names if not SANE_NAME.match(name) or "0k" in name]
    assert demo_market_name(0) == "Will BTC close above $40,000 this year?"


def test_port_in_use_is_one_clear_line_before_anything_starts(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = {
            **os.environ,
            "MARKETS_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'var' / 'markets.db'}",
            "MARKETS_ENVIRONMENT": "dev",
        }
        done = subprocess.run(
            [sys.executable, "-m", "markets", "serve", "--port", str(port)],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert done.returncode == 1, done.stdout + done.stderr
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert lines == [
        f"markets: port {port} is in use; choose another with `make serve PORT={port + 1}`"
        f" or `markets serve --port {port + 1}`"
    ]
    assert not (tmp_path / "var").exists()  # refused before migrating


def test_serve_by_hand_on_the_dev_secrets_refuses_to_start(tmp_path: Path) -> None:
    """Without MARKETS_ENVIRONMENT the process is production: it says how to fix it, and stops."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("MARKETS_")}
    env["MARKETS_DATABASE_URL"] = f"sqlite+aiosqlite:///{tmp_path}/var/markets.db"
    done = subprocess.run(
        [sys.executable, "-m", "markets", "serve", "--port", str(free_port())],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2, done.stdout + done.stderr
    message = " ".join(done.stderr.split())
    assert "environment defaults to production" in message
    assert "Set MARKETS_JWT_SECRET and MARKETS_CURSOR_SECRET to a random value" in message
    assert "set MARKETS_ENVIRONMENT=dev" in message
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "var").exists()  # refused before touching the database
