"""What every repository backend shares: its declaration and spec validation.

Validation lives here, not in a backend, so that an unknown filter or sort
field is the same 400 problem whether the data is in PostgreSQL or in a dict.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any, ClassVar, Generic, TypeVar, overload

from tiered.errors import FieldError, InvalidInputError, NotFoundError
from tiered.repository.query import (
    Filter,
    FindQuery,
    OffsetPage,
    Op,
    Page,
    PageRequest,
    SortKey,
    ordering,
)
from tiered.repository.read_model import ReadModel

__all__ = ["RepositoryConfig"]

T = TypeVar("T")
R = TypeVar("R", bound=ReadModel)

_FIRST_PAGE = OffsetPage()


class RepositoryConfig(ABC, Generic[T]):
    """Class-level declaration of a repository, and what both backends share.

    ``filter_fields`` and ``sort_fields`` are allow-lists (an API must not let a
    client filter or sort on any column it likes); ``search_fields`` are the text
    columns a ``search`` matches; ``relations`` the relationships ``load=`` may
    eager-load (a read model follows the relationships its nested fields name).
    Sort fields must be NOT NULL columns: keyset positions compare values, and
    NULL compares with nothing (the SQL repository refuses a nullable one).
    """

    model_class: ClassVar[type[Any]]
    id_field: ClassVar[str] = "id"
    version_field: ClassVar[str | None] = None
    filter_fields: ClassVar[frozenset[str]] = frozenset()
    sort_fields: ClassVar[frozenset[str]] = frozenset()
    search_fields: ClassVar[tuple[str, ...]] = ()
    relations: ClassVar[frozenset[str]] = frozenset()
    not_found_code: ClassVar[str | None] = None

    @classmethod
    def entity_name(cls) -> str:
        return cls.model_class.__name__

    def not_found(self, entity_id: Any) -> NotFoundError:
        name = self.entity_name()
        code = self.not_found_code or f"{name.upper()}_NOT_FOUND"
        return NotFoundError(f"{name} {entity_id} does not exist.", code=code)

    def check_id(self, entity_id: Any, method: str) -> None:
        """Refuse a filter where an id belongs: a clear ``TypeError``, not an ``AttributeError``."""
        if isinstance(entity_id, Filter) or (
            isinstance(entity_id, list | tuple) and any(isinstance(i, Filter) for i in entity_id)
        ):
            raise TypeError(
                f"{type(self).__name__}.{method}() takes an id; "
                f"to test filters use {method}_where([...])"
            )

    def check_spec(
        self,
        filters: Sequence[Filter] = (),
        sort: Sequence[SortKey] = (),
        search: str | None = None,
        load: Sequence[str] = (),
    ) -> None:
        errors = [
            FieldError(f"/{item.field}", f"cannot filter by {item.field!r}", "query")
            for item in filters
            if item.field not in self.filter_fields
        ]
        errors += [
            FieldError(f"/{item.field}", f"{item.op} needs a list", "query")
            for item in filters
            if item.op is Op.IN and not isinstance(item.value, tuple | list | set | frozenset)
        ]
        errors += [
            FieldError("/sort", f"cannot sort by {key.field!r}", "query")
            for key in sort
            if key.field not in self.sort_fields and key.field != self.id_field
        ]
        if search is not None and not self.search_fields:
            errors.append(FieldError("/q", "this resource has no text search", "query"))
        if search is not None and "\x00" in search:
            errors.append(FieldError("/q", "contains a NUL character", "query"))
        errors += [
            FieldError(f"/{item.field}", "contains a NUL character", "query")
            for item in filters
            if _has_nul(item.value)
        ]
        errors += [
            FieldError("/load", f"unknown relation {name!r}", "query")
            for name in load
            if name not in self.relations
        ]
        if errors:
            raise InvalidInputError(
                "The query asks for something this resource does not allow; see errors.",
                code="INVALID_QUERY",
                errors=errors,
            )

    @overload
    async def find(
        self,
        filters: Sequence[Filter] = (),
        *,
        search: str | None = None,
        sort: Sequence[SortKey] = (),
        page: PageRequest = _FIRST_PAGE,
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
        page: PageRequest = _FIRST_PAGE,
        load: Sequence[str] = (),
        into: type[R],
    ) -> Page[R]: ...

    async def find(
        self,
        filters: Sequence[Filter] = (),
        *,
        search: str | None = None,
        sort: Sequence[SortKey] = (),
        page: PageRequest = _FIRST_PAGE,
        load: Sequence[str] = (),
        into: type[R] | None = None,
    ) -> Page[T] | Page[R]:
        """Filter, search, sort (the id breaks ties) and page; entities or read models."""
        self.check_spec(filters, sort, search, load)
        order = ordering(sort, self.id_field)
        return await self._find(FindQuery(tuple(filters), search, order, page, tuple(load), into))

    @abstractmethod
    async def _find(self, query: FindQuery) -> Page[Any]:
        """The backend's query for a validated ``find`` call."""


def _has_nul(value: Any) -> bool:
    """NUL in text: PostgreSQL refuses it, SQLite keeps it; refused alike everywhere."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, tuple | list | set | frozenset):
        return any(isinstance(each, str) and "\x00" in each for each in value)
    return False
