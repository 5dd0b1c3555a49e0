"""Loaders that count their runs and can be held open, for the cache suites."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from tiered.cache import CacheBackend


class Loader:
    """``await loader()`` returns ``value`` (or raises ``error``), once ``gate`` opens."""

    def __init__(self, value: Any = None, *, error: Exception | None = None) -> None:
        self.value = value
        self.error = error
        self.calls = 0
        self.started = asyncio.Event()
        self.gate = asyncio.Event()
        self.gate.set()

    def hold(self) -> Loader:
        self.gate.clear()
        return self

    async def __call__(self) -> Any:
        self.calls += 1
        self.started.set()
        await self.gate.wait()
        if self.error is not None:
            raise self.error
        return self.value


class WaitSpy:
    """Wraps a backend's ``wait_for_fill`` to tell a test when a cache starts waiting."""

    def __init__(self, backend: CacheBackend) -> None:
        self.waiting = asyncio.Event()
        self.calls = 0
        original: Callable[[str, float], Awaitable[bytes | None]] = backend.wait_for_fill

        async def wait_for_fill(key: str, at_most: float) -> bytes | None:
            self.calls += 1
            self.waiting.set()
            return await original(key, at_most)

        backend.wait_for_fill = wait_for_fill  # type: ignore[method-assign]


async def within(seconds: float, awaitable: Awaitable[Any]) -> Any:
    """Fail instead of hanging when something that should be prompt is not."""
    return await asyncio.wait_for(awaitable, seconds)
