"""The async engine and session factory, configured from settings.

SQLite gets WAL (readers never block the writer), enforced foreign keys and a
busy timeout; a server database's pooled connections are checked before reuse
(see ``liveness``) so a restart costs a reconnect, not a burst of 500s (a
SQLite file needs no check); sessions keep
loaded attributes after commit (``expire_on_commit=False``) so responses can be
built from them.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import event, text
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import StaticPool

from tiered.clock import Clock, SystemClock
from tiered.db.liveness import check_connections_on_checkout
from tiered.db.statements import install_statement_listener
from tiered.db.text import register_sqlite_functions
from tiered.db.writer_lock import begin_statement

if TYPE_CHECKING:
    from tiered.settings import AppSettings

__all__ = ["Database", "is_sqlite"]


def is_sqlite(url: str | URL) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # The driver's own transaction handling delays BEGIN until the first write,
    # which breaks SAVEPOINT semantics; SQLAlchemy emits BEGIN itself instead.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=5000")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
    finally:
        cursor.close()
    register_sqlite_functions(dbapi_connection)


def _sqlite_begin(connection: Connection) -> None:
    statement = begin_statement(connection)
    if statement is not None:
        connection.exec_driver_sql(statement)


def _skip_idle_rollbacks(engine: AsyncEngine) -> None:
    """Send SQLite a ROLLBACK only when a transaction is open.

    The connection is in autocommit mode (BEGIN is ours), so a read-only unit
    of work opens no transaction, yet SQLAlchemy rolls back every connection it
    releases: on aiosqlite, a round trip to the connection's thread that undoes
    nothing, about 40 µs of CPU on every read. SQLite knows whether a
    transaction is open (``in_transaction``); when one is, the rollback runs as
    before. SQLAlchemy's own switch for this, ``skip_autocommit_rollback``,
    would skip it always, since the driver's isolation level says autocommit.
    """
    dialect = engine.sync_engine.dialect
    rollback = dialect.do_rollback

    def do_rollback(dbapi_connection: Any) -> None:
        driver = dbapi_connection.driver_connection
        if driver is None or getattr(driver, "in_transaction", True):
            rollback(dbapi_connection)

    dialect.do_rollback = do_rollback  # type: ignore[method-assign]


def _engine_options(settings: AppSettings, url: URL) -> dict[str, Any]:
    # Bound values (emails, hashes, tokens) never reach an error message or a log.
    options: dict[str, Any] = {
        "echo": settings.database_echo,
        "hide_parameters": True,
    }
    if url.get_backend_name() == "sqlite":
        if url.database in (None, "", ":memory:"):
            return {**options, "poolclass": StaticPool}
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        # No overflow: a connection beyond the pool was opened for one request and closed
        # after it (a thread, a file and four PRAGMAs each time), for no capacity SQLite has.
        return {
            **options,
            "connect_args": {"timeout": settings.database_connect_timeout},
            "pool_size": settings.database_pool_size,
            "max_overflow": 0,
            "pool_timeout": settings.database_pool_timeout,
        }
    options.update(
        pool_size=settings.database_pool_size,
        max_overflow=settings.database_max_overflow,
        pool_timeout=settings.database_pool_timeout,
        pool_recycle=settings.database_pool_recycle,
    )
    if url.get_backend_name() == "postgresql":
        options["connect_args"] = {"timeout": settings.database_connect_timeout}
    return options


class Database:
    """One engine and its session factory for the life of the process."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.sessionmaker = async_sessionmaker(engine, expire_on_commit=False, autoflush=False)

    @classmethod
    def from_settings(cls, settings: AppSettings, *, clock: Clock | None = None) -> Database:
        """The engine ``settings`` describe; ``clock`` times pooled connections' idleness."""
        url = make_url(settings.database_url)
        engine = create_async_engine(url, **_engine_options(settings, url))
        if url.get_backend_name() == "sqlite":
            # A local file cannot go away between two checkouts: nothing to check.
            event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
            event.listen(engine.sync_engine, "begin", _sqlite_begin)
            _skip_idle_rollbacks(engine)
        else:
            check_connections_on_checkout(
                engine,
                ping_after=settings.database_ping_idle_after,
                monotonic=(clock or SystemClock()).monotonic,
            )
        install_statement_listener(engine)
        return cls(engine)

    @property
    def url(self) -> URL:
        return self.engine.url

    def session(self) -> AsyncSession:
        return self.sessionmaker()

    async def ping(self) -> None:
        """Raise if the database cannot answer ``SELECT 1``; callers bound the wait."""
        async with self.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))

    async def analyze(self) -> None:
        """Refresh the planner's statistics (``ANALYZE``), e.g. after a bulk load.

        SQLite keeps none until asked: without them its planner may pick an
        index that filters over one that serves the ``ORDER BY``, and sort
        every matching row of each page.
        """
        async with self.engine.begin() as connection:
            await connection.exec_driver_sql("ANALYZE")

    async def dispose(self) -> None:
        await self.engine.dispose()
