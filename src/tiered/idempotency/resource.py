"""Give an :class:`~tiered.idempotency.Idempotency` the app's store when the app starts.

Keys must be shared by every process that may receive a retry, so an app with
Redis keeps them there; an embedded app (one process) keeps them in memory.
Which one is known only once the lifespan has connected (or not) to Redis,
hence a lifespan resource rather than a constructor argument.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import TYPE_CHECKING

from tiered.clock import Clock
from tiered.idempotency.dependency import Idempotency
from tiered.store.memory import MemoryStore
from tiered.store.redis_store import RedisStore

if TYPE_CHECKING:
    from tiered.app.state import AppState

__all__ = ["idempotency_store"]

DEFAULT_MEMORY_KEYS = 100_000


def idempotency_store(
    idempotency: Idempotency,
    *,
    max_memory_keys: int = DEFAULT_MEMORY_KEYS,
    clock: Clock | None = None,
) -> Callable[[AppState], AbstractAsyncContextManager[None]]:
    """A ``create_app(resources=[...])`` entry that sets ``idempotency.store``.

    On Redis, keys are prefixed with the app's name (``<app_name>:idempotency:…``).
    In memory, at most ``max_memory_keys`` keys are kept (one per key sent in
    the retention period): beyond that the least recently used are forgotten,
    and their retries run again.
    """

    @asynccontextmanager
    async def attach(state: AppState) -> AsyncIterator[None]:
        if state.redis is not None:
            idempotency.store = RedisStore(state.redis, prefix=f"{state.settings.app_name}:")
        else:
            idempotency.store = MemoryStore(max_keys=max_memory_keys, clock=clock)
        try:
            yield
        finally:
            idempotency.store = None

    return attach
