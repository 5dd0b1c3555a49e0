"""Pooled server connections checked before reuse: free when fresh, pinged when idle.

SQLAlchemy's ``pool_pre_ping`` pings on every checkout, and on asyncpg its ping
is three round trips (``BEGIN``, an empty query, ``ROLLBACK``, so that it also
works behind PgBouncer in transaction mode): measured here, a fifth of the CPU
of a list request on PostgreSQL. Most of those pings are for a connection the
pool got back a few milliseconds earlier. When the server closes a connection
(a restart, ``pg_terminate_backend``, its idle timeout) it says so on the
socket, and the driver marks the connection closed as soon as the event loop
reads that; only a connection dropped silently on the way (a NAT or load
balancer forgetting an idle flow) looks alive until it is used, and that takes
an idle spell. So, on checkout:

- a connection the driver knows is closed is replaced, without a round trip;
- one that sat in the pool ``ping_after`` seconds or longer is pinged; if
  the ping fails, it and every connection pooled before it are replaced;
- the rest are used as they are.

A connection whose driver cannot tell whether it is closed is pinged on every
checkout, as ``pool_pre_ping`` would. A replaced connection costs the request
a reconnect, never an error (SQLAlchemy's checkout protocol: raising
``DisconnectionError`` makes the pool open a new one). If the database is
down, the reconnect fails as any connect does.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DisconnectionError, InvalidatePoolError
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import ConnectionPoolEntry, PoolProxiedConnection

__all__ = ["check_connections_on_checkout", "driver_says_closed"]

_RETURNED_AT = "tiered.returned_at"


def driver_says_closed(dbapi_connection: Any) -> bool | None:
    """What the driver knows of the connection: closed, open, or ``None`` if it cannot tell."""
    driver = getattr(dbapi_connection, "driver_connection", dbapi_connection)
    is_closed = getattr(driver, "is_closed", None)  # asyncpg
    if callable(is_closed):
        return bool(is_closed())
    closed = getattr(driver, "closed", None)  # psycopg
    if isinstance(closed, bool):
        return closed
    return None


def check_connections_on_checkout(
    engine: AsyncEngine, *, ping_after: float, monotonic: Callable[[], float]
) -> None:
    """Install the checks above on ``engine``'s pool (instead of ``pool_pre_ping``)."""
    dialect: Dialect = engine.dialect
    pool = engine.sync_engine.pool

    def returned(_dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
        record.info[_RETURNED_AT] = monotonic()

    def checkout(
        dbapi_connection: Any, record: ConnectionPoolEntry, _proxy: PoolProxiedConnection
    ) -> None:
        returned_at = record.info.get(_RETURNED_AT)
        if returned_at is None:
            return  # just opened
        closed = driver_says_closed(dbapi_connection)
        if closed:
            raise DisconnectionError("the server closed this pooled connection")
        if closed is None or monotonic() - returned_at >= ping_after:
            _ping(dialect, dbapi_connection)

    event.listen(pool, "checkin", returned)
    event.listen(pool, "checkout", checkout)


def _ping(dialect: Dialect, dbapi_connection: Any) -> None:
    """The dialect's own ping; whatever makes it fail, the connection is not worth keeping.

    As with ``pool_pre_ping``, a failed ping retires every connection pooled so
    far: whatever dropped one idle connection most likely dropped the others.
    """
    try:
        dialect.do_ping(dbapi_connection)
    except Exception as error:
        raise InvalidatePoolError("a pooled connection did not answer its ping") from error
