"""A TCP forwarder a test can cut and restore: an outage without touching the real server."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable


class TcpProxy:
    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = 0
        self._server: asyncio.Server | None = None
        self._pipes: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()
        self._opened = 0
        self._forgotten = 0

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Refuse new connections and drop every open one, like a crashed server."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for writer in list(self._writers):
            writer.transport.abort()
        for task in list(self._pipes):
            task.cancel()
        await asyncio.gather(*self._pipes, return_exceptions=True)

    def forget_connections(self) -> None:
        """Drop every open connection silently, like a NAT that forgot them.

        Nothing is sent to either side: the client learns of it (a reset) only
        when it next writes.
        """
        self._forgotten = self._opened

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        self._opened += 1
        number = self._opened
        self._writers.update({writer, upstream_writer})

        def forgotten() -> bool:
            if number > self._forgotten:
                return False
            writer.transport.abort()
            upstream_writer.transport.abort()
            return True

        for task in (
            asyncio.create_task(self._pipe(reader, upstream_writer, forgotten)),
            asyncio.create_task(self._pipe(upstream_reader, writer)),
        ):
            self._pipes.add(task)
            task.add_done_callback(self._pipes.discard)

    async def _pipe(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        forgotten: Callable[[], bool] = lambda: False,
    ) -> None:
        try:
            while data := await reader.read(65536):
                if forgotten():
                    return
                writer.write(data)
                await writer.drain()
        except (OSError, asyncio.CancelledError):
            pass
        finally:
            self._writers.discard(writer)
            with contextlib.suppress(Exception):
                writer.transport.abort()
