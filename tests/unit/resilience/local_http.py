"""A tiny HTTP/1.1 server on 127.0.0.1 for outbound-HTTP tests, run on the test's own loop.

Its ``handler`` decides each reply; it counts the requests it received, and a
test can hold a reply until it says so (``Reply.hold``) and wait until a
request has arrived (``arrived``), so ordering across processes is asserted
by events, never by timing. Every reply closes its connection.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

__all__ = ["LocalServer", "Received", "Reply"]


@dataclass(frozen=True)
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    headers: list[tuple[str, str]] = field(default_factory=list)
    chunked: bool = False
    """Send the body in 64 KiB chunks without a ``Content-Length``."""
    hold: asyncio.Event | None = None
    """Reply only once this event is set."""


Handler = Callable[[Received], Awaitable[Reply] | Reply]


class LocalServer:
    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.received: list[Received] = []
        self._arrivals = asyncio.Condition()
        self._server: asyncio.Server | None = None
        self.port = 0

    @property
    def hits(self) -> int:
        return len(self.received)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def __aenter__(self) -> LocalServer:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    async def arrived(self, count: int) -> None:
        """Wait until ``count`` requests in all have been received."""
        async with self._arrivals:
            await self._arrivals.wait_for(lambda: self.hits >= count)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            received = await self._read(reader)
            if received is None:
                return
            async with self._arrivals:
                self.received.append(received)
                self._arrivals.notify_all()
            reply = self.handler(received)
            if not isinstance(reply, Reply):
                reply = await reply
            if reply.hold is not None:
                await reply.hold.wait()
            await self._write(writer, reply)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    @staticmethod
    async def _read(reader: asyncio.StreamReader) -> Received | None:
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ")
        if len(parts) != 3:
            return None
        headers = {}
        for line in lines[1:]:
            if ":" in line:
                name, value = line.split(":", 1)
                headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0"))
        body = await reader.readexactly(length) if length else b""
        return Received(parts[0], parts[1], headers, body)

    @staticmethod
    async def _write(writer: asyncio.StreamWriter, reply: Reply) -> None:
        head = [f"HTTP/1.1 {reply.status} X", "Connection: close"]
        head += [f"{name}: {value}" for name, value in reply.headers]
        if reply.chunked:
            head.append("Transfer-Encoding: chunked")
        else:
            head.append(f"Content-Length: {len(reply.body)}")
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1"))
        if reply.chunked:
            for start in range(0, len(reply.body), 65536):
                chunk = reply.body[start : start + 65536]
                writer.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
                await writer.drain()
            writer.write(b"0\r\n\r\n")
        else:
            writer.write(reply.body)
        await writer.drain()
