"""The floor: markets' own SQL through the bare driver, rows to JSON with orjson.

No framework, no ORM, no validation: a raw ASGI callable that runs the
statements the markets service runs for the same request (the page of
markets joined to their creators, then ``COUNT(*)`` for the total) and
writes the rows out. What is left is the cost of the driver, the JSON and
the ASGI exchange, which no framework can go under.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable, Iterator, MutableMapping, Sequence
from contextlib import contextmanager
from decimal import Decimal
from typing import Any, Protocol
from urllib.parse import parse_qsl
from uuid import UUID

import orjson

__all__ = ["create_app", "record_statements"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

_COLUMNS = (
    "markets.id, markets.name, markets.status, markets.outcome, markets.volume, "
    "markets.created_at, markets.updated_at, creator.id, creator.display_name"
)
_FROM = "FROM markets LEFT OUTER JOIN users AS creator ON markets.creator_id = creator.id"
_LIST = (
    f"SELECT {_COLUMNS} {_FROM} WHERE markets.status {{distinct}} {{p1}} "
    "ORDER BY markets.created_at DESC, markets.id ASC LIMIT {p2} OFFSET {p3}"
)
_COUNT = "SELECT count(*) FROM markets WHERE markets.status {distinct} {p1}"
_GET = (
    f"SELECT {_COLUMNS}, markets.description, markets.version {_FROM} "
    "WHERE markets.id = {p1} LIMIT 1"
)
_JSON = [(b"content-type", b"application/json")]
_LIVE = orjson.dumps({"status": "ok", "checks": {}})
_NOT_FOUND = orjson.dumps({"detail": "Not Found"})

_recording: list[str] | None = None


@contextmanager
def record_statements() -> Iterator[list[str]]:
    """Statements run while inside, for the benchmark's per-request count."""
    global _recording  # noqa: PLW0603 - one request at a time when counting
    _recording = []
    try:
        yield _recording
    finally:
        _recording = None


def _statements(p1: str, p2: str, p3: str, distinct: str) -> dict[str, str]:
    marks = {"p1": p1, "p2": p2, "p3": p3, "distinct": distinct}
    return {
        "list": _LIST.format(**marks),
        "count": _COUNT.format(**marks),
        "get": _GET.format(**marks),
    }


class _Backend(Protocol):
    async def start(self) -> None: ...
    async def stop(self) -> None: ...
    async def fetch(self, name: str, *args: object) -> Sequence[Sequence[Any]]: ...
    def market(self, row: Sequence[Any]) -> dict[str, Any]: ...
    def market_id(self, value: UUID) -> object: ...


def _money(scaled: int) -> str:
    units, fraction = divmod(scaled, 10_000)
    return f"{units}.{fraction:04d}"


def _timestamp(naive_utc: str) -> str:
    return f"{naive_utc.replace(' ', 'T')}Z"


class _Sqlite:
    """One aiosqlite connection: requests are served one at a time on its thread anyway."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.connection: Any = None
        self.statements = _statements("?", "?", "?", "IS NOT")

    async def start(self) -> None:
        import aiosqlite

        self.connection = await aiosqlite.connect(self.path)

    async def stop(self) -> None:
        await self.connection.close()

    async def fetch(self, name: str, *args: object) -> Sequence[Sequence[Any]]:
        query = self.statements[name]
        if _recording is not None:
            _recording.append(query)
        async with self.connection.execute(query, args) as cursor:
            rows: Sequence[Sequence[Any]] = await cursor.fetchall()
            return rows

    def market(self, row: Sequence[Any]) -> dict[str, Any]:
        return {
            "id": UUID(hex=row[0]),
            "name": row[1],
            "status": row[2],
            "outcome": row[3],
            "volume": _money(row[4]),
            "created_at": _timestamp(row[5]),
            "updated_at": _timestamp(row[6]),
            "creator": {"id": UUID(hex=row[7]), "display_name": row[8]},
        }

    def market_id(self, value: UUID) -> object:
        return value.hex


class _Postgres:
    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self.pool: Any = None
        self.statements = _statements("$1", "$2", "$3", "IS DISTINCT FROM")

    async def start(self) -> None:
        import asyncpg  # type: ignore[import-untyped]

        self.pool = await asyncpg.create_pool(self.dsn, min_size=1, max_size=10)

    async def stop(self) -> None:
        await self.pool.close()

    async def fetch(self, name: str, *args: object) -> Sequence[Sequence[Any]]:
        query = self.statements[name]
        if _recording is not None:
            _recording.append(query)
        rows: Sequence[Sequence[Any]] = await self.pool.fetch(query, *args)
        return rows

    def market(self, row: Sequence[Any]) -> dict[str, Any]:
        volume: Decimal = row[4]
        return {  # asyncpg's own UUID class is not one orjson knows
            "id": str(row[0]),
            "name": row[1],
            "status": row[2],
            "outcome": row[3],
            "volume": str(volume),
            "created_at": row[5],
            "updated_at": row[6],
            "creator": {"id": str(row[7]), "display_name": row[8]},
        }

    def market_id(self, value: UUID) -> object:
        return value


def _backend(url: str) -> _Backend:
    scheme, _, rest = url.partition("://")
    if scheme.startswith("sqlite"):
        return _Sqlite(rest.removeprefix("/"))
    return _Postgres(f"postgresql://{rest}")


async def _respond(send: Send, status: int, body: bytes) -> None:
    await send({"type": "http.response.start", "status": status, "headers": _JSON})
    await send({"type": "http.response.body", "body": body})


def create_app() -> Callable[[Scope, Receive, Send], Awaitable[None]]:
    backend = _backend(os.environ["BENCH_DATABASE_URL"])
    dumps_options = orjson.OPT_UTC_Z

    async def lifespan(receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await backend.start()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await backend.stop()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def list_markets(scope: Scope) -> bytes:
        params = dict(parse_qsl(scope["query_string"].decode()))
        limit = min(max(int(params.get("limit", 20)), 1), 100)
        offset = max(int(params.get("offset", 0)), 0)
        rows = await backend.fetch("list", "draft", limit, offset)
        if offset == 0 and len(rows) < limit:
            total = len(rows)
        else:
            total = (await backend.fetch("count", "draft"))[0][0]
        meta = {"total": total, "limit": limit, "offset": offset}
        page = {"data": [backend.market(row) for row in rows], "meta": meta}
        return orjson.dumps(page, option=dumps_options)

    async def get_market(market_id: str) -> bytes | None:
        try:
            key = UUID(market_id)
        except ValueError:
            return None
        rows = await backend.fetch("get", backend.market_id(key))
        if not rows or rows[0][2] == "draft":
            return None
        row = rows[0]
        market = backend.market(row)
        market["description"] = row[9]
        market["version"] = row[10]
        return orjson.dumps(market, option=dumps_options)

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await lifespan(receive, send)
            return
        path: str = scope["path"]
        if path == "/health/live":
            await _respond(send, 200, _LIVE)
        elif path == "/api/v1/markets":
            await _respond(send, 200, await list_markets(scope))
        elif path.startswith("/api/v1/markets/"):
            body = await get_market(path.removeprefix("/api/v1/markets/"))
            await _respond(send, 200 if body else 404, body or _NOT_FOUND)
        else:
            await _respond(send, 404, _NOT_FOUND)

    return app
