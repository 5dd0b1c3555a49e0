"""Drive one ASGI application in process, on orders read line by line from stdin.

Started once per variant, in that variant's own environment (the main
``.venv`` for markets, ``bench/peers/.venv`` for the others), so this file
imports nothing outside the standard library except ``uvloop`` when present.
Requests go straight to ``app(scope, receive, send)``: no socket, no HTTP
parsing, and a driver so small that its cost is the same few microseconds for
every variant. CPU is ``time.process_time_ns()`` around each request, which
counts every thread of the process (the SQLite driver runs on its own thread).

The process's stdout and stderr are pointed at a log file before the
application is imported, so the application logs exactly as in production;
the orders are answered, one JSON line each, on a private copy of the
original stdout.

Orders (JSON objects, one a line): ``run`` (path, query, n) → the CPU of each
request in ns; ``fetch`` → status, headers and body of one request; ``count``
→ the SQL statements one request runs; ``versions``; ``quit``.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import os
import sys
import time
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from contextlib import AbstractContextManager, contextmanager
from importlib import metadata
from typing import Any, TextIO

Message = MutableMapping[str, Any]
App = Callable[[MutableMapping[str, Any], Any, Any], Awaitable[None]]

_PING = "/* pool pre-ping on checkout */ SELECT 1"
_TRANSACTION_CONTROL = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE")
_REPORTED_PACKAGES = (
    "fastapi",
    "starlette",
    "pydantic",
    "sqlalchemy",
    "aiosqlite",
    "asyncpg",
    "orjson",
    "uvicorn",
    "uvloop",
    "structlog",
    "redis",
    "litestar",
    "advanced-alchemy",
    "msgspec",
    "tiered",
    "markets",
)


class Response:
    __slots__ = ("body", "headers", "status")

    def __init__(self) -> None:
        self.status = 0
        self.headers: list[tuple[bytes, bytes]] = []
        self.body = bytearray()


async def request(app: App, state: dict[str, Any], path: str, query: str) -> Response:
    """One GET through the application, as a server would hand it over."""
    response = Response()
    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": [
            (b"host", b"127.0.0.1:8000"),
            (b"user-agent", b"bench"),
            (b"accept", b"*/*"),
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
        "state": state.copy(),
    }
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        if message["type"] == "http.response.start":
            response.status = message["status"]
            response.headers = list(message.get("headers", ()))
        elif message["type"] == "http.response.body":
            response.body += message.get("body", b"")

    await app(scope, receive, send)
    return response


class Lifespan:
    """The ASGI lifespan protocol, as uvicorn runs it (state shared with requests)."""

    def __init__(self, app: App) -> None:
        self.app = app
        self.state: dict[str, Any] = {}
        self.inbox: asyncio.Queue[Message] = asyncio.Queue()
        self.outbox: asyncio.Queue[Message] = asyncio.Queue()
        self.task: asyncio.Task[None] | None = None

    async def _expect(self, wanted: str) -> None:
        message = await self.outbox.get()
        if message["type"] != wanted:
            raise RuntimeError(f"lifespan: expected {wanted}, got {message}")

    async def start(self) -> None:
        scope = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": self.state}

        async def run() -> None:
            await self.app(scope, self.inbox.get, self.outbox.put)

        self.task = asyncio.create_task(run())
        await self.inbox.put({"type": "lifespan.startup"})
        await self._expect("lifespan.startup.complete")

    async def stop(self) -> None:
        await self.inbox.put({"type": "lifespan.shutdown"})
        await self._expect("lifespan.shutdown.complete")
        if self.task is not None:
            await self.task


@contextmanager
def _sqlalchemy_statements() -> Iterator[list[str]]:
    """Statements from every engine's events, and the pool's pre-pings, which bypass them.

    Where tiered is installed, its own recorder replaces the engine events: it sees
    every statement SQLAlchemy runs and also those a repository runs on the driver
    connection directly, which no engine event sees.
    """
    from sqlalchemy import event
    from sqlalchemy.engine import Engine
    from sqlalchemy.engine.default import DefaultDialect

    statements: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if not statement.lstrip()[:9].upper().startswith(_TRANSACTION_CONTROL):
            statements.append(" ".join(statement.split()))

    ping = DefaultDialect._do_ping_w_event

    def counted_ping(dialect: Any, dbapi_connection: Any) -> bool:
        statements.append(_PING)
        return ping(dialect, dbapi_connection)

    tiered_recorder = _tiered_recorder()
    if tiered_recorder is None:
        event.listen(Engine, "before_cursor_execute", record)
    DefaultDialect._do_ping_w_event = counted_ping  # type: ignore[method-assign, assignment]
    try:
        if tiered_recorder is None:
            yield statements
        else:
            with tiered_recorder as recorded:
                yield statements
            statements += [" ".join(statement.split()) for statement in recorded.statements]
    finally:
        DefaultDialect._do_ping_w_event = ping  # type: ignore[method-assign]
        if tiered_recorder is None:
            event.remove(Engine, "before_cursor_execute", record)


def _tiered_recorder() -> Any:
    try:
        module = importlib.import_module("tiered.db")
    except ImportError:
        return None
    return module.record_statements(strict=False)


def _statement_recorder(module: Any) -> Callable[[], AbstractContextManager[list[str]]]:
    own = getattr(module, "record_statements", None)
    return own if callable(own) else _sqlalchemy_statements


def _versions() -> dict[str, Any]:
    packages = {}
    for name in _REPORTED_PACKAGES:
        try:
            packages[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return {"python": sys.version.split()[0], "packages": packages}


class Worker:
    def __init__(self, app: App, module: Any, replies: TextIO) -> None:
        self.app = app
        self.lifespan = Lifespan(app)
        self.recorder = _statement_recorder(module)
        self.replies = replies

    def reply(self, payload: dict[str, Any]) -> None:
        self.replies.write(json.dumps(payload) + "\n")
        self.replies.flush()

    async def run(self, path: str, query: str, n: int) -> dict[str, Any]:
        app, state, clock = self.app, self.lifespan.state, time.process_time_ns
        times: list[int] = []
        failures = 0
        for _ in range(n):
            start = clock()
            response = await request(app, state, path, query)
            times.append(clock() - start)
            failures += response.status != 200
        return {"times_ns": times, "failures": failures}

    async def fetch(self, path: str, query: str) -> dict[str, Any]:
        response = await request(self.app, self.lifespan.state, path, query)
        return {
            "status": response.status,
            "headers": [[k.decode("latin-1"), v.decode("latin-1")] for k, v in response.headers],
            "body": response.body.decode("utf-8", "replace"),
        }

    async def count(self, path: str, query: str) -> dict[str, Any]:
        with self.recorder() as statements:
            response = await request(self.app, self.lifespan.state, path, query)
        return {"status": response.status, "statements": list(statements)}

    async def serve(self, orders: asyncio.StreamReader) -> None:
        await self.lifespan.start()
        self.reply({"ready": True})
        while line := await orders.readline():
            order = json.loads(line)
            op = order["op"]
            try:
                if op == "quit":
                    break
                if op == "versions":
                    self.reply(_versions())
                elif op == "run":
                    self.reply(await self.run(order["path"], order["query"], order["n"]))
                elif op == "fetch":
                    self.reply(await self.fetch(order["path"], order["query"]))
                elif op == "count":
                    self.reply(await self.count(order["path"], order["query"]))
                else:
                    self.reply({"error": f"unknown order {op!r}"})
            except Exception as error:  # reported to the orchestrator, which stops
                self.reply({"error": f"{type(error).__name__}: {error}"})
        await self.lifespan.stop()


def load_app(target: str, *, factory: bool) -> tuple[App, Any]:
    module_name, _, attribute = target.partition(":")
    module = importlib.import_module(module_name)
    app = getattr(module, attribute)
    return (app() if factory else app), module


async def _stdin_reader() -> asyncio.StreamReader:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=1 << 20)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    return reader


def _redirect_output(log_path: str) -> TextIO:
    """Point fds 1 and 2 at the log; return a private stream on the old stdout."""
    replies = os.fdopen(os.dup(1), "w", buffering=1)
    log = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.close(log)
    return replies


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop]:
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop
    return uvloop.new_event_loop


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--app", required=True, help="module:attribute")
    parser.add_argument("--factory", action="store_true")
    parser.add_argument("--app-dir", default=None)
    parser.add_argument("--log", default=os.devnull)
    parser.add_argument("--cpu", type=int, default=None, help="pin to this core")
    args = parser.parse_args()
    if args.cpu is not None:
        os.sched_setaffinity(0, {args.cpu})
    if args.app_dir:
        sys.path.insert(0, args.app_dir)
    replies = _redirect_output(args.log)
    app, module = load_app(args.app, factory=args.factory)
    worker = Worker(app, module, replies)

    async def go() -> None:
        await worker.serve(await _stdin_reader())

    with asyncio.Runner(loop_factory=_loop_factory()) as runner:
        runner.run(go())


if __name__ == "__main__":
    main()
