"""Oversized bodies against a real uvicorn, spoken to over a raw socket.

Most clients write the whole request before they read: the 413 must reach
them all the same, and a body far past what the server will drain must be cut
off without the server reading it.
"""

from __future__ import annotations

import json
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import uvicorn
from fastapi import APIRouter, FastAPI, Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from tests.integration.conftest import free_port

from tiered.app import create_app
from tiered.http.body_limit import DRAIN_BYTES, DRAIN_SECONDS, BodyLimitMiddleware
from tiered.settings import AppSettings

LIMIT = 1000
TWELVE_MB = 12 * 1000 * 1000
HTTP_IMPLEMENTATIONS = ["h11", "httptools"]

router = APIRouter()


@router.post("/upload")
async def upload(request: Request) -> dict[str, int]:
    return {"bytes": len(await request.body())}


class BodyMeter:
    """Counts the body bytes the server hands to the application."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.bytes = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def counted() -> Message:
            message = await receive()
            self.bytes += len(message.get("body", b""))
            return message

        await self.app(scope, counted, send)


@contextmanager
def serving(app: ASGIApp, http: str) -> Iterator[int]:
    port = free_port()
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        http=http,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=2,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started:
            assert thread.is_alive(), "uvicorn exited during startup"
            assert time.monotonic() < deadline, "uvicorn did not start within 10 s"
            time.sleep(0.01)
        yield port
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        assert not thread.is_alive(), "uvicorn did not stop"


@pytest.fixture
def tiered_app(sqlite_url: str) -> FastAPI:
    settings = AppSettings(database_url=sqlite_url, max_body_bytes=LIMIT)
    return create_app(settings, title="t", routers=[router])


def plain_app(*, drain_bytes: int = DRAIN_BYTES, drain_seconds: float = DRAIN_SECONDS) -> BodyMeter:
    app = FastAPI()
    app.include_router(router)
    limited = BodyLimitMiddleware(
        app, max_bytes=LIMIT, drain_bytes=drain_bytes, drain_seconds=drain_seconds
    )
    return BodyMeter(limited)


def connect(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 64 * 1024)
    return sock


def request_head(*headers: str) -> bytes:
    lines = ["POST /upload HTTP/1.1", "Host: test", *headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def chunked(body: bytes, size: int = 64 * 1024) -> bytes:
    parts = [
        f"{len(body[i : i + size]):x}\r\n".encode() + body[i : i + size] + b"\r\n"
        for i in range(0, len(body), size)
    ]
    return b"".join(parts) + b"0\r\n\r\n"


def read_response(sock: socket.socket) -> tuple[str, dict[str, str], bytes]:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"connection closed before a response: {data!r}"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status, *lines = head.decode("latin-1").split("\r\n")
    headers = {
        name.lower(): value.strip() for name, _, value in (li.partition(":") for li in lines)
    }
    length = int(headers["content-length"])
    while len(body) < length:
        chunk = sock.recv(65536)
        assert chunk, "connection closed inside the response body"
        body += chunk
    return status, headers, body[:length]


def assert_413_problem(status: str, headers: dict[str, str], body: bytes) -> None:
    assert status.startswith("HTTP/1.1 413"), status
    assert headers["content-type"] == "application/problem+json"
    problem = json.loads(body)
    assert problem["code"] == "PAYLOAD_TOO_LARGE"
    assert problem["limit_bytes"] == LIMIT


def send_until_cut_off(sock: socket.socket, block: bytes, cap: int = 2**30) -> int:
    """Write ``block`` over and over until the server cuts the connection; bytes sent."""
    sent = 0
    try:
        while sent < cap:
            sock.sendall(block)
            sent += len(block)
    except (ConnectionResetError, BrokenPipeError):
        return sent
    raise AssertionError(f"the server accepted {cap} bytes of a refused body")


@pytest.mark.parametrize("http", HTTP_IMPLEMENTATIONS)
@pytest.mark.parametrize("framing", ["content-length", "chunked"])
def test_client_that_writes_everything_first_reads_the_413(
    tiered_app: FastAPI, http: str, framing: str
) -> None:
    body = b"x" * TWELVE_MB
    if framing == "content-length":
        request = request_head(f"Content-Length: {len(body)}", "Connection: close") + body
    else:
        request = request_head("Transfer-Encoding: chunked", "Connection: close") + chunked(body)
    with serving(tiered_app, http) as port, connect(port) as sock:
        sock.sendall(request)
        assert_413_problem(*read_response(sock))
        assert sock.recv(1) == b"", "the server should close after the 413"


def test_urllib_upload_reads_the_413(tiered_app: FastAPI) -> None:
    with serving(tiered_app, "httptools") as port:
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/upload", data=b"x" * TWELVE_MB, method="POST"
        )
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=10)
        with refused.value as response:
            assert response.code == 413
            assert json.loads(response.read())["code"] == "PAYLOAD_TOO_LARGE"


@pytest.mark.parametrize("http", HTTP_IMPLEMENTATIONS)
def test_drained_connection_serves_the_next_request(tiered_app: FastAPI, http: str) -> None:
    body = b"x" * TWELVE_MB
    with serving(tiered_app, http) as port, connect(port) as sock:
        sock.sendall(request_head(f"Content-Length: {len(body)}") + body)
        status, headers, problem = read_response(sock)
        assert_413_problem(status, headers, problem)
        assert "connection" not in headers
        sock.sendall(b"GET /health/live HTTP/1.1\r\nHost: test\r\n\r\n")
        status, _, _ = read_response(sock)
        assert status.startswith("HTTP/1.1 200"), status


@pytest.mark.parametrize("http", HTTP_IMPLEMENTATIONS)
def test_declared_body_past_the_drain_bound_is_not_read(http: str) -> None:
    app = plain_app(drain_bytes=1024 * 1024)
    started = time.monotonic()
    with serving(app, http) as port, connect(port) as sock:
        sock.sendall(request_head(f"Content-Length: {2**30}"))
        sent = send_until_cut_off(sock, b"z" * (64 * 1024))
    assert app.bytes == 0
    assert sent < 64 * 1024 * 1024
    assert time.monotonic() - started < 5


@pytest.mark.parametrize("http", HTTP_IMPLEMENTATIONS)
def test_endless_stream_is_cut_after_the_drain_bound(http: str) -> None:
    drain_bytes = 1024 * 1024
    app = plain_app(drain_bytes=drain_bytes)
    started = time.monotonic()
    with serving(app, http) as port, connect(port) as sock:
        sock.sendall(request_head("Transfer-Encoding: chunked"))
        sent = send_until_cut_off(sock, chunked(b"z" * (64 * 1024))[: -len(b"0\r\n\r\n")])
    assert LIMIT + drain_bytes <= app.bytes <= LIMIT + 2 * drain_bytes
    assert sent < 64 * 1024 * 1024
    assert time.monotonic() - started < 5


@pytest.mark.parametrize("http", HTTP_IMPLEMENTATIONS)
def test_stalled_body_gets_the_413_after_the_drain_time(http: str) -> None:
    app = plain_app(drain_seconds=0.5)
    with serving(app, http) as port, connect(port) as sock:
        sock.sendall(request_head(f"Content-Length: {TWELVE_MB}") + b"x" * 5000)
        sent_at = time.monotonic()
        status, headers, body = read_response(sock)
        waited = time.monotonic() - sent_at
        assert_413_problem(status, headers, body)
        assert headers["connection"] == "close"
        assert sock.recv(1) == b""
    assert 0.4 <= waited < 5
