"""``CachedRepository``: a repository's read-model fetch by id, through a cache.

It caches the read model (a pydantic DTO), never the entity: an entity is
bound to the session that loaded it. Repositories live for one unit of work,
so a ``CachedRepository`` is as cheap to build per request as the repository
it wraps; the cache is the long-lived part.

Invalidate by id after the change is committed, from the unit of work::

    markets.invalidate_after_commit(uow, market_id)
"""

from __future__ import annotations

from typing import Any, Generic, Protocol, TypeVar

from tiered.cache.cache import Cache
from tiered.repository import ReadModel
from tiered.unit_of_work import BaseUnitOfWork

__all__ = ["CachedRepository", "ReadsModelsById"]

R = TypeVar("R", bound=ReadModel)
M = TypeVar("M", bound=ReadModel)


class ReadsModelsById(Protocol):
    """What a ``CachedRepository`` needs of a repository: ``get_one(id, into=Model)``."""

    async def get_one(self, entity_id: Any, *, into: type[M]) -> M: ...


class CachedRepository(Generic[R]):
    """``get_one(id)`` as the read model ``into``, cached for ``ttl`` seconds.

    Entries are keyed ``<name>:<id>``; ``name`` defaults to the read model's
    qualified name, so two read models of one entity are two entries (each
    ``CachedRepository`` invalidates its own).
    """

    def __init__(
        self,
        repository: ReadsModelsById,
        into: type[R],
        cache: Cache,
        *,
        ttl: float | None = None,
        name: str | None = None,
    ) -> None:
        self.repository = repository
        self.into = into
        self.cache = cache
        self.ttl = ttl
        self.name = name or f"{into.__module__}.{into.__qualname__}"

    def key(self, entity_id: Any) -> str:
        return f"{self.name}:{entity_id}"

    async def get_one(self, entity_id: Any) -> R:
        """The read model of this id; ``NotFoundError`` (not cached) when absent."""
        return await self.cache.get_or_set(
            self.key(entity_id),
            lambda: self.repository.get_one(entity_id, into=self.into),
            codec=self.into,
            ttl=self.ttl,
        )

    async def invalidate(self, entity_id: Any) -> None:
        await self.cache.delete(self.key(entity_id))

    def invalidate_after_commit(self, uow: BaseUnitOfWork, entity_id: Any) -> None:
        """Drop the entry once ``uow`` commits; nothing happens if it rolls back."""
        uow.after_commit(self.cache.invalidation(keys=[self.key(entity_id)]))
