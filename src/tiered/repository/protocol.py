"""``AsyncRepository[T]``: what services may rely on, whatever the backend."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Protocol, TypeVar, overload

from tiered.repository.query import Filter, OffsetPage, Page, PageRequest, SortKey
from tiered.repository.read_model import ReadModel

__all__ = ["AsyncRepository"]

T = TypeVar("T")
R = TypeVar("R", bound=ReadModel)

_DEFAULT_PAGE = OffsetPage()


class AsyncRepository(Protocol[T]):
    async def get_by_id(self, entity_id: Any) -> T | None: ...
    async def get_one(self, entity_id: Any, *, load: Sequence[str] = ()) -> T: ...
    async def get_all(self) -> list[T]: ...
    async def list_paginated(self, skip: int = 0, limit: int = 100) -> list[T]: ...
    async def get_many(self, ids: Iterable[Any]) -> list[T]: ...
    async def exists(self, entity_id: Any) -> bool: ...
    async def count(self) -> int: ...
    async def exists_where(
        self, filters: Sequence[Filter] = (), *, search: str | None = None
    ) -> bool: ...
    async def count_where(
        self, filters: Sequence[Filter] = (), *, search: str | None = None
    ) -> int: ...

    @overload
    async def find(
        self,
        filters: Sequence[Filter] = (),
        *,
        search: str | None = None,
        sort: Sequence[SortKey] = (),
        page: PageRequest = _DEFAULT_PAGE,
        load: Sequence[str] = (),
        into: None = None,
    ) -> Page[T]: ...

    @overload
    async def find(
        self,
        filters: Sequence[Filter] = (),
        *,
        search: str | None = None,
        sort: Sequence[SortKey] = (),
        page: PageRequest = _DEFAULT_PAGE,
        load: Sequence[str] = (),
        into: type[R],
    ) -> Page[R]: ...

    async def create(self, entity: T) -> T: ...
    async def create_many(self, entities: Iterable[T]) -> list[T]: ...
    async def update(self, entity: T) -> T: ...
    async def merge(self, entity: T) -> T: ...
    async def save(self, entity: T) -> T: ...
    async def delete(self, entity: T) -> None: ...
    async def delete_by_id(self, entity_id: Any) -> bool: ...
