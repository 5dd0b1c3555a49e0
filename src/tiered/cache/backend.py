"""``CacheBackend``: where cache entries, tag versions and fill leases live.

:class:`~tiered.cache.Cache` speaks to a backend in bytes and in three kinds of
key: entries, tags (a version counter each, never expiring) and leases (the
right to run the loader of an entry, which other callers wait on). The
backends (memory, Redis, memory in front of Redis) pass one contract suite
(``tests/contract/cache``). A backend that cannot reach its server raises
:class:`~tiered.errors.CacheError`; the cache, not the backend, degrades.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

__all__ = ["AnswersNow", "CacheBackend"]


class CacheBackend(Protocol):
    async def get(self, key: str) -> bytes | None:
        """The entry, or ``None`` when it is absent or expired."""
        ...

    async def set(
        self, key: str, value: bytes, ttl: float, *, lease_token: str | None = None
    ) -> None:
        """Store the entry with its expiry in one step, tell every process it changed, and
        release the lease ``lease_token`` held on it (if it still holds it)."""
        ...

    async def delete(self, keys: Sequence[str]) -> None:
        """Remove entries, and tell every process they changed."""
        ...

    async def tag_versions(self, tags: Sequence[str]) -> list[int]:
        """The current version of each tag (``0`` for one never bumped)."""
        ...

    async def bump_tags(self, tags: Sequence[str]) -> None:
        """Add one to each tag's version, so every entry keyed on the old ones is unreachable."""
        ...

    async def acquire_lease(self, key: str, ttl: float) -> str | None:
        """A token for the right to fill ``key`` for ``ttl`` seconds, or ``None`` if taken."""
        ...

    async def release_lease(self, key: str, token: str) -> None:
        """Give up a lease without filling, waking whoever waits for the entry."""
        ...

    async def wait_for_fill(self, key: str, at_most: float) -> bytes | None:
        """The entry once its lease holder fills it, or ``None`` after at most ``at_most``
        seconds (lease given up, holder gone, or no way to hear of the fill)."""
        ...

    async def sync(self) -> None:
        """Return once every change made anywhere before the call is visible here."""
        ...

    async def aclose(self) -> None:
        """Stop background work; the backend may not be used afterwards."""
        ...


@runtime_checkable
class AnswersNow(Protocol):
    """A backend in this process's memory, which reads without waiting and cannot fail.

    The cache reads a hit from one without a coroutine per step: on an API's
    cached read, the awaits of the general path cost as much as the lookups.
    """

    def tag_versions_now(self, tags: Sequence[str]) -> list[int]:
        """:meth:`CacheBackend.tag_versions`, at once."""
        ...

    def get_now(self, key: str) -> bytes | None:
        """:meth:`CacheBackend.get`, at once."""
        ...
