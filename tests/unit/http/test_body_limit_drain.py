"""What the body limit reads of a refused body before it answers, driven over plain ASGI."""

from __future__ import annotations

import asyncio
import json

import pytest
from starlette.types import Message, Receive, Scope, Send

from tiered.http.body_limit import DRAIN_BYTES, BodyLimitMiddleware

LIMIT = 100


async def upload(scope: Scope, receive: Receive, send: Send) -> None:
    while (await receive()).get("more_body", False):
        pass
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


def scope_for(*headers: tuple[bytes, bytes], http_version: str = "1.1") -> Scope:
    return {
        "type": "http",
        "method": "POST",
        "path": "/upload",
        "http_version": http_version,
        "headers": list(headers),
    }


class Client:
    """A body of ``chunks`` messages of ``size`` bytes (endless if ``chunks`` is None)."""

    def __init__(self, size: int, chunks: int | None) -> None:
        self.size = size
        self.chunks = chunks
        self.read = 0
        self.sent: list[Message] = []

    async def receive(self) -> Message:
        self.read += self.size
        more = self.chunks is None or self.read < self.size * self.chunks
        return {"type": "http.request", "body": b"x" * self.size, "more_body": more}

    async def send(self, message: Message) -> None:
        self.sent.append(message)

    @property
    def status(self) -> int:
        return int(self.sent[0]["status"])

    @property
    def headers(self) -> dict[bytes, bytes]:
        return dict(self.sent[0]["headers"])

    @property
    def problem(self) -> dict[str, object]:
        body = b"".join(m.get("body", b"") for m in self.sent[1:])
        return dict(json.loads(body))


def middleware(drain_bytes: int = DRAIN_BYTES) -> BodyLimitMiddleware:
    return BodyLimitMiddleware(upload, max_bytes=LIMIT, drain_bytes=drain_bytes)


async def test_declared_body_within_the_drain_bound_is_read_to_its_end() -> None:
    client = Client(size=1000, chunks=50)
    await middleware(drain_bytes=100_000)(
        scope_for((b"content-length", b"50000")), client.receive, client.send
    )
    assert client.read == 50_000
    assert client.status == 413
    assert b"connection" not in client.headers
    assert client.problem["limit_bytes"] == LIMIT


async def test_declared_body_past_the_drain_bound_is_not_read() -> None:
    client = Client(size=1000, chunks=50)
    await middleware(drain_bytes=49_999)(
        scope_for((b"content-length", b"50000")), client.receive, client.send
    )
    assert client.read == 0
    assert client.status == 413
    assert client.headers[b"connection"] == b"close"


async def test_expect_continue_is_answered_without_reading() -> None:
    client = Client(size=1000, chunks=5)
    scope = scope_for((b"content-length", b"5000"), (b"expect", b"100-Continue"))
    await middleware()(scope, client.receive, client.send)
    assert client.read == 0
    assert client.status == 413
    assert client.headers[b"connection"] == b"close"


async def test_stream_that_ends_within_the_drain_bound_keeps_the_connection() -> None:
    client = Client(size=60, chunks=10)
    await middleware(drain_bytes=1000)(scope_for(), client.receive, client.send)
    assert client.read == 600
    assert client.status == 413
    assert b"connection" not in client.headers


async def test_endless_stream_stops_at_the_drain_bound() -> None:
    client = Client(size=60, chunks=None)
    await middleware(drain_bytes=1000)(scope_for(), client.receive, client.send)
    assert LIMIT + 1000 < client.read <= LIMIT + 1000 + 2 * 60
    assert client.status == 413
    assert client.headers[b"connection"] == b"close"


async def test_stream_whose_last_message_crosses_the_limit_is_not_drained() -> None:
    client = Client(size=150, chunks=1)
    await middleware(drain_bytes=0)(scope_for(), client.receive, client.send)
    assert client.read == 150
    assert client.status == 413
    assert b"connection" not in client.headers


@pytest.mark.parametrize(("framing", "first"), [("content-length", 0), ("chunked", 150)])
async def test_stalled_body_is_answered_after_the_drain_time(framing: str, first: int) -> None:
    sent: list[Message] = []
    messages = [{"type": "http.request", "body": b"x" * first, "more_body": True}]

    async def stalled() -> Message:
        if messages:
            return messages.pop()
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    async def send(message: Message) -> None:
        sent.append(message)

    headers = [(b"content-length", b"5000")] if framing == "content-length" else []
    loop = asyncio.get_running_loop()
    started = loop.time()
    guard = BodyLimitMiddleware(upload, max_bytes=LIMIT, drain_seconds=0.2)
    await asyncio.wait_for(guard(scope_for(*headers), stalled, send), timeout=5)
    assert loop.time() - started >= 0.2
    assert sent[0]["status"] == 413
    assert dict(sent[0]["headers"])[b"connection"] == b"close"


async def test_client_gone_during_the_drain_is_not_waited_for() -> None:
    sent: list[Message] = []

    async def gone() -> Message:
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)

    await middleware()(scope_for((b"content-length", b"5000")), gone, send)
    assert sent[0]["status"] == 413
    assert dict(sent[0]["headers"])[b"connection"] == b"close"


async def test_no_connection_header_over_http2() -> None:
    client = Client(size=1000, chunks=50)
    scope = scope_for((b"content-length", b"50000"), http_version="2")
    await middleware(drain_bytes=10)(scope, client.receive, client.send)
    assert client.status == 413
    assert b"connection" not in client.headers
