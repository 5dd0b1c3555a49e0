"""Wake-ups by key: how a caller waiting for an entry learns it was filled.

Waiting is a future per waiter, resolved when a change to the key is
announced (by this process or, through Redis pub/sub, by another one), so a
waiter costs nothing until it is woken and nobody polls.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["FillSignals", "wait_for"]


class FillSignals:
    def __init__(self) -> None:
        self._waiters: dict[str, set[asyncio.Future[None]]] = {}

    @contextmanager
    def watch(self, key: str) -> Iterator[asyncio.Future[None]]:
        """A future resolved by the next :meth:`notify` of ``key`` while the block runs.

        Register *before* checking whether the entry is already there: a fill
        announced between the check and the wait is then not missed.
        """
        woken: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        waiters = self._waiters.setdefault(key, set())
        waiters.add(woken)
        try:
            yield woken
        finally:
            waiters.discard(woken)
            if not waiters and self._waiters.get(key) is waiters:
                del self._waiters[key]

    def notify(self, key: str) -> None:
        for woken in self._waiters.get(key, ()):
            if not woken.done():
                woken.set_result(None)

    def notify_all(self) -> None:
        """Wake every waiter (the channel that announces fills was lost)."""
        for key in list(self._waiters):
            self.notify(key)

    def __len__(self) -> int:
        return sum(len(waiters) for waiters in self._waiters.values())


async def wait_for(woken: asyncio.Future[None], at_most: float) -> None:
    """Wait for ``woken`` at most ``at_most`` seconds; no error when the time is up."""
    try:
        await asyncio.wait_for(woken, at_most)
    except TimeoutError:
        return
