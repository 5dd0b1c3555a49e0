"""Pooled PostgreSQL connections are checked before reuse: for free when fresh, pinged when idle.

Each case runs against a real server: connections the server closes
(``pg_terminate_backend``), and connections a TCP proxy drops without a word,
like a NAT that forgot an idle flow.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import asyncpg
import pytest
from sqlalchemy import exc as sa_exc
from sqlalchemy import make_url, text
from sqlalchemy.ext.asyncio import AsyncConnection
from tests.integration.tcp_proxy import TcpProxy

from tiered.clock import FrozenClock
from tiered.db import Database, translate_database_error
from tiered.db.liveness import driver_says_closed
from tiered.errors import DatabaseUnavailableError
from tiered.settings import AppSettings
from tiered.testing import wait_until

pytestmark = pytest.mark.postgres

PING_AFTER = 10.0


class Pings:
    """Counts the dialect's pings on one database's engine."""

    def __init__(self, database: Database) -> None:
        dialect: Any = database.engine.dialect
        self.count = 0
        ping: Callable[[Any], bool] = dialect.do_ping

        def counted(dbapi_connection: Any) -> bool:
            self.count += 1
            return ping(dbapi_connection)

        dialect.do_ping = counted


def _database(url: str, clock: FrozenClock, ping_after: float = PING_AFTER) -> Database:
    settings = AppSettings(
        environment="test", database_url=url, database_ping_idle_after=ping_after
    )
    return Database.from_settings(settings, clock=clock)


async def _backend_pid(connection: AsyncConnection) -> int:
    return int((await connection.execute(text("SELECT pg_backend_pid()"))).scalar_one())


async def _pid_and_driver(database: Database) -> tuple[int, Any]:
    async with database.engine.connect() as connection:
        raw = await connection.get_raw_connection()
        return await _backend_pid(connection), raw.driver_connection


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


@pytest.fixture
async def database(postgres_url: str, clock: FrozenClock) -> AsyncIterator[Database]:
    database = _database(postgres_url, clock)
    yield database
    await database.dispose()


@pytest.fixture
async def proxy(postgres_url: str) -> AsyncIterator[TcpProxy]:
    url = make_url(postgres_url)
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432)
    await proxy.start()
    yield proxy
    await proxy.stop()


@pytest.fixture
async def proxied(
    postgres_url: str, proxy: TcpProxy, clock: FrozenClock
) -> AsyncIterator[Database]:
    url = make_url(postgres_url).set(host="127.0.0.1", port=proxy.port)
    database = _database(url.render_as_string(hide_password=False), clock)
    yield database
    await database.dispose()


@pytest.mark.parametrize(
    ("idle", "pings_sent"),
    [
        pytest.param(PING_AFTER - 0.5, 0, id="used moments ago"),
        pytest.param(PING_AFTER, 1, id="idle"),
    ],
)
async def test_a_connection_is_pinged_before_reuse_only_after_an_idle_spell(
    database: Database, clock: FrozenClock, idle: float, pings_sent: int
) -> None:
    pings = Pings(database)
    first, _ = await _pid_and_driver(database)
    clock.advance(idle)
    second, _ = await _pid_and_driver(database)
    assert second == first
    assert pings.count == pings_sent


async def test_zero_pings_on_every_reuse(postgres_url: str, clock: FrozenClock) -> None:
    database = _database(postgres_url, clock, ping_after=0)
    try:
        pings = Pings(database)
        await _pid_and_driver(database)  # a new connection is not pinged
        for _ in range(3):
            await _pid_and_driver(database)
        assert pings.count == 3
    finally:
        await database.dispose()


async def test_a_connection_the_server_closed_is_replaced_without_a_ping_or_an_error(
    database: Database, postgres_url: str
) -> None:
    pings = Pings(database)
    victim, driver = await _pid_and_driver(database)
    killer = await asyncpg.connect(
        make_url(postgres_url).set(drivername="postgresql").render_as_string(hide_password=False)
    )
    try:
        assert await killer.fetchval("SELECT pg_terminate_backend($1)", victim)
    finally:
        await killer.close()

    async def noticed() -> bool:
        return bool(driver.is_closed())

    await wait_until(noticed, "the driver to see the server close the connection", [], 5)
    replacement, _ = await _pid_and_driver(database)
    assert replacement != victim
    assert pings.count == 0


async def test_a_silently_dropped_idle_connection_fails_its_ping_and_is_replaced(
    proxied: Database, proxy: TcpProxy, clock: FrozenClock
) -> None:
    pings = Pings(proxied)
    first, driver = await _pid_and_driver(proxied)
    proxy.forget_connections()
    await asyncio.sleep(0.05)
    assert not driver.is_closed(), "nothing told the driver: only a ping can find out"
    clock.advance(PING_AFTER)
    second, _ = await _pid_and_driver(proxied)
    assert second != first
    assert pings.count == 1


async def test_a_connection_dropped_silently_within_the_idle_window_fails_one_statement(
    proxied: Database, proxy: TcpProxy
) -> None:
    """The price of trusting a recently used connection, paid once: a 503, then a new one."""
    first, _ = await _pid_and_driver(proxied)
    proxy.forget_connections()
    with pytest.raises(sa_exc.DBAPIError) as caught:
        async with proxied.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
    assert isinstance(translate_database_error(caught.value), DatabaseUnavailableError)
    second, _ = await _pid_and_driver(proxied)
    assert second != first


class _Asyncpg:
    def __init__(self, closed: bool) -> None:
        self.closed = closed

    def is_closed(self) -> bool:
        return self.closed


class _Adapted:
    def __init__(self, driver: object) -> None:
        self.driver_connection = driver


class _Psycopg:
    def __init__(self, closed: bool) -> None:
        self.closed = closed


@pytest.mark.parametrize(
    ("connection", "expected"),
    [
        (_Adapted(_Asyncpg(closed=True)), True),
        (_Adapted(_Asyncpg(closed=False)), False),
        (_Adapted(_Psycopg(closed=True)), True),
        (_Psycopg(closed=False), False),
        (_Adapted(object()), None),
    ],
)
def test_what_a_driver_says_of_its_connection(connection: object, expected: bool | None) -> None:
    assert driver_says_closed(connection) is expected
