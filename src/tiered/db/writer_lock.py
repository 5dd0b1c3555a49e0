"""Queue SQLite writers instead of failing them with "database is locked".

SQLite allows one writer at a time. A deferred ``BEGIN`` takes the write lock
only at the first write, and in WAL mode a reader that then writes gets
``SQLITE_BUSY_SNAPSHOT`` at once, without waiting for ``busy_timeout``. So a
writing unit of work opens with ``BEGIN IMMEDIATE`` (the write lock up front,
waiting ``busy_timeout`` for other processes), and writers of one process take
a :class:`WriterLock` first, so they wait on the event loop rather than in the
driver's thread. Readers take neither and keep WAL's non-blocking reads.
"""

from __future__ import annotations

import asyncio
from typing import Any
from weakref import WeakKeyDictionary

from sqlalchemy.engine import Connection, Engine

__all__ = ["BEGIN_OPTION", "WriterLock", "begin_statement", "writer_lock"]

BEGIN_OPTION = "tiered_sqlite_begin"
"""Execution option naming the ``BEGIN`` variant of a transaction (``"IMMEDIATE"``)."""


class WriterLock:
    """An asyncio lock that knows its holder, so a task never waits for itself."""

    def __init__(self) -> None:
        self._lock = asyncio.Lock()
        self._holder: asyncio.Task[Any] | None = None

    def held_by_current_task(self) -> bool:
        return self._holder is not None and self._holder is asyncio.current_task()

    async def acquire(self) -> None:
        await self._lock.acquire()
        self._holder = asyncio.current_task()

    def release(self) -> None:
        self._holder = None
        self._lock.release()


_LOCKS: WeakKeyDictionary[Engine, WriterLock] = WeakKeyDictionary()


def writer_lock(engine: Engine) -> WriterLock:
    """The lock the writers of ``engine`` in this process take turns on."""
    lock = _LOCKS.get(engine)
    if lock is None:
        lock = _LOCKS[engine] = WriterLock()
    return lock


def begin_statement(connection: Connection) -> str | None:
    """The ``BEGIN`` a transaction opens with; ``None`` for a read that needs none.

    ``"NONE"`` leaves SQLite in autocommit: each statement reads its own
    snapshot, and the round trip of a ``BEGIN`` is saved. Only read-only units
    of work ask for it.
    """
    options: dict[str, Any] = dict(connection.get_execution_options())
    mode = options.get(BEGIN_OPTION)
    if mode == "NONE":
        return None
    return f"BEGIN {mode}" if mode in {"IMMEDIATE", "EXCLUSIVE"} else "BEGIN"
