"""``Repository[T]``: one declaration per resource, on SQL or in memory.

The semantics of each operation are those of
:class:`~tiered.repository.AsyncRepository`, written down there once.

A repository class states what the mapping cannot: the model, which fields a
*client* may filter, sort and search on (the HTTP listing reads these
allow-lists), and the code of its 404. The id, version column, relationships
and unique constraints come from the SQLAlchemy mapping. The backend is chosen
by what the repository is built with: an ``AsyncSession`` runs SQL, an
``InMemorySession`` (or store) runs the same semantics in memory, so a custom
method written with :meth:`find_one` and :meth:`update_where` works on both.

Internal lookups are not held to the client allow-lists; a field that is not
a column, or a relation that is not mapped, is a :class:`ConfigurationError`
(a bug, a 500), never a 400. Every coroutine method, a subclass's own
included, runs inside the database-error boundary.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar, overload

from sqlalchemy.ext.asyncio import AsyncSession

from tiered.errors import ConfigurationError, NotFoundError
from tiered.repository.boundary import guard_coroutines
from tiered.repository.checks import query_problems, read_model_problems
from tiered.repository.declaration import Declaration, declaration_of
from tiered.repository.memory import MemoryBackend
from tiered.repository.memory_session import InMemorySession, InMemoryStore
from tiered.repository.query import (
    CursorPage,
    Filter,
    FindQuery,
    OffsetPage,
    Page,
    PageRequest,
    SortKey,
    ordering,
)
from tiered.repository.read_model import ReadModel
from tiered.repository.sql import SqlBackend

if TYPE_CHECKING:
    from tiered.repository.backend import RepositoryBackend

__all__ = ["Repository"]

T = TypeVar("T")
R = TypeVar("R", bound=ReadModel)

_FIRST_PAGE = OffsetPage()
_ONE = CursorPage(limit=1)
_DECLARATIONS: dict[type[Any], Declaration] = {}
_CHECKED: set[type[Any]] = set()
_CHECKED_READ_MODELS: set[tuple[type[Any], type[ReadModel]]] = set()


class Repository(Generic[T]):
    """Subclass with ``model_class`` and, for list endpoints, the client allow-lists."""

    model_class: ClassVar[type[Any]]
    filter_fields: ClassVar[frozenset[str]] = frozenset()
    """Fields a client may filter on (``?status=active``)."""
    sort_fields: ClassVar[frozenset[str]] = frozenset()
    """Fields a client may sort on; NOT NULL columns only (a keyset cannot order NULL)."""
    search_fields: ClassVar[tuple[str, ...]] = ()
    """Text columns that ``search`` (``?q=``) matches."""
    not_found_code: ClassVar[str | None] = None
    """The 404's code; ``<MODEL>_NOT_FOUND`` by default."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        guard_coroutines(cls)

    def __init__(self, session: AsyncSession | InMemorySession | InMemoryStore | None = None):
        type(self).check_declaration()
        backend: RepositoryBackend
        if isinstance(session, AsyncSession):
            backend = SqlBackend(session, self)
        else:
            if not isinstance(session, InMemorySession):
                session = InMemorySession(session, autocommit=True)
            backend = MemoryBackend(session, self)
        self._backend = backend

    # -- the declaration ----------------------------------------------------------------

    @classmethod
    def declaration(cls) -> Declaration:
        """What the mapping says of ``model_class`` (read once, at first use)."""
        found = _DECLARATIONS.get(cls.model_class)
        if found is None:
            found = _DECLARATIONS[cls.model_class] = declaration_of(cls.model_class)
        return found

    @classmethod
    def check_declaration(cls) -> None:
        """Refuse allow-lists that name no column, nullable sort fields, non-text search."""
        if cls in _CHECKED:
            return
        declaration = cls.declaration()
        name = cls.__name__
        declaration.require_columns(name, "filter_fields", cls.filter_fields)
        declaration.require_columns(name, "sort_fields", cls.sort_fields)
        declaration.require_columns(name, "search_fields", cls.search_fields)
        nullable = sorted(declaration.nullable & cls.sort_fields)
        if nullable:
            raise ConfigurationError(
                f"{name}.sort_fields has nullable columns: {', '.join(nullable)} "
                "(a keyset page cannot order NULL)"
            )
        not_text = sorted(set(cls.search_fields) - declaration.text)
        if not_text:
            raise ConfigurationError(f"{name}.search_fields are not text: {', '.join(not_text)}")
        _CHECKED.add(cls)

    @property
    def id_field(self) -> str:
        return self.declaration().id_field

    @property
    def version_field(self) -> str | None:
        return self.declaration().version_field

    @classmethod
    def entity_name(cls) -> str:
        return str(cls.model_class.__name__)

    def not_found(self, entity_id: Any) -> NotFoundError:
        name = self.entity_name()
        code = self.not_found_code or f"{name.upper()}_NOT_FOUND"
        return NotFoundError(f"{name} {entity_id} does not exist.", code=code)

    @classmethod
    def ordering(cls, sort: Sequence[SortKey]) -> tuple[SortKey, ...]:
        """The full order of a sort: its keys, then the id as the tie-breaker."""
        return ordering(sort, cls.declaration().id_field)

    @property
    def session(self) -> AsyncSession:
        """The SQL session, for queries only SQL can express (SQL repositories only)."""
        if not isinstance(self._backend, SqlBackend):
            raise TypeError(
                f"{type(self).__name__} runs in memory: write the query with find, find_one "
                "and update_where to run it on every backend"
            )
        return self._backend.session

    # -- validation ---------------------------------------------------------------------

    def check_query(
        self,
        filters: Sequence[Filter] = (),
        sort: Sequence[SortKey] = (),
        search: str | None = None,
        load: Sequence[str] = (),
    ) -> None:
        """A query the mapping cannot answer is a bug; NUL in client text is a 400."""
        owner = type(self).__name__
        query_problems(self.declaration(), owner, self.search_fields, (filters, sort, search, load))

    @classmethod
    def check_read_model(cls, model: type[ReadModel]) -> None:
        """Refuse a read model whose fields are not columns or many-to-one relations."""
        if (cls, model) not in _CHECKED_READ_MODELS:
            read_model_problems(cls.declaration(), cls.__name__, model)
            _CHECKED_READ_MODELS.add((cls, model))

    def check_id(self, entity_id: Any, method: str) -> None:
        """Refuse a filter where an id belongs: a clear ``TypeError``, not an ``AttributeError``."""
        if isinstance(entity_id, Filter) or (
            isinstance(entity_id, list | tuple) and any(isinstance(i, Filter) for i in entity_id)
        ):
            raise TypeError(
                f"{type(self).__name__}.{method}() takes an id; "
                f"to test filters use {method}_where([...])"
            )

    # -- reads ---------------------------------------------------------------------------

    async def get_by_id(self, entity_id: Any) -> T | None:
        """The entity with this id, or ``None``."""
        self.check_id(entity_id, "get_by_id")
        found: T | None = await self._backend.get(entity_id, ())
        return found

    @overload
    async def get_one(
        self, entity_id: Any, *, load: Sequence[str] = (), into: None = None
    ) -> T: ...

    @overload
    async def get_one(self, entity_id: Any, *, load: Sequence[str] = (), into: type[R]) -> R: ...

    async def get_one(
        self, entity_id: Any, *, load: Sequence[str] = (), into: type[R] | None = None
    ) -> T | R:
        """The entity (relations in ``load`` eager-loaded) or read model; a 404 when absent."""
        self.check_id(entity_id, "get_one")
        if into is not None:
            found = await self.find_one([Filter.eq(self.id_field, entity_id)], into=into)
        else:
            self.check_query(load=load)
            found = await self._backend.get(entity_id, tuple(load))
        if found is None:
            raise self.not_found(entity_id)
        return found

    async def get_all(self) -> list[T]:
        """Every entity, by id (small tables only)."""
        found: list[T] = await self._backend.get_all()
        return found

    async def list_paginated(self, skip: int = 0, limit: int = 100) -> list[T]:
        """Entities ``skip … skip+limit`` by id."""
        found: list[T] = await self._backend.list_paginated(skip, limit)
        return found

    async def get_many(self, ids: Iterable[Any]) -> list[T]:
        """The entities of these ids that exist, by id; one query per driver-sized chunk."""
        found: list[T] = await self._backend.get_many(list(dict.fromkeys(ids)))
        return found

    async def exists(self, entity_id: Any) -> bool:
        """Whether this id exists (``SELECT EXISTS``)."""
        self.check_id(entity_id, "exists")
        return await self._backend.exists(entity_id)

    async def count(self) -> int:
        """How many entities there are."""
        return await self.count_where()

    async def exists_where(
        self, filters: Sequence[Filter] = (), *, search: str | None = None
    ) -> bool:
        """Whether any entity matches."""
        self.check_query(filters, search=search)
        return await self._backend.exists_where(tuple(filters), search)

    async def count_where(
        self, filters: Sequence[Filter] = (), *, search: str | None = None
    ) -> int:
        """How many entities match."""
        self.check_query(filters, search=search)
        return await self._backend.count_where(tuple(filters), search)

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
        """Filter, search, sort (the id breaks ties) and page; entities or read models.

        The page carries the full order it used, for the cursor of the next page.
        """
        self.check_query(filters, sort, search, load)
        if into is not None:
            self.check_read_model(into)
        order = self.ordering(sort)
        query = FindQuery(tuple(filters), search, order, page, tuple(load), into)
        found: Page[T] | Page[R] = await self._backend.find(query)
        return found

    @overload
    async def find_one(
        self, filters: Sequence[Filter], *, load: Sequence[str] = (), into: None = None
    ) -> T | None: ...

    @overload
    async def find_one(
        self, filters: Sequence[Filter], *, load: Sequence[str] = (), into: type[R]
    ) -> R | None: ...

    async def find_one(
        self, filters: Sequence[Filter], *, load: Sequence[str] = (), into: type[R] | None = None
    ) -> T | R | None:
        """The first match by id, or ``None``: one query, no count."""
        page = await self.find(filters, page=_ONE, load=load, into=into)
        return page.items[0] if page.items else None

    # -- writes (flush, never commit) -------------------------------------------------------

    async def create(self, entity: T) -> T:
        """Insert; an existing id or unique value is a ``DuplicateResourceError`` (409)."""
        created: T = await self._backend.create(entity)
        return created

    async def create_many(self, entities: Iterable[T]) -> list[T]:
        """Insert all, batched."""
        created: list[T] = await self._backend.create_many(list(entities))
        return created

    async def update(self, entity: T) -> T:
        """Write an entity's changes; never stored → 404, changed by another writer → 409."""
        updated: T = await self._backend.update(entity)
        return updated

    async def merge(self, entity: T) -> T:
        """Copy a detached entity onto the stored one (inserting when absent); stale → 409."""
        merged: T = await self._backend.merge(entity)
        return merged

    async def save(self, entity: T) -> T:
        """Insert or replace in one statement (``INSERT … ON CONFLICT DO UPDATE``)."""
        saved: T = await self._backend.save(entity)
        return saved

    async def delete(self, entity: T) -> None:
        """Delete; never stored → 404, changed by another writer → 409."""
        await self._backend.delete(entity)

    async def delete_by_id(self, entity_id: Any) -> bool:
        """Delete by id; whether a row went."""
        self.check_id(entity_id, "delete_by_id")
        return await self._backend.delete_by_id(entity_id)

    async def update_where(self, filters: Sequence[Filter], values: Mapping[str, Any]) -> int:
        """``UPDATE … SET … WHERE …`` in one statement; how many rows changed.

        A value may be an :class:`~tiered.repository.Increment` (``volume + :x``),
        computed by the database, so concurrent updates never lose one. The
        version is bumped too. Loaded entities are not refreshed: like any
        stale copy, writing one afterwards is a conflict.
        """
        self.check_query(filters)
        self.declaration().require_columns(type(self).__name__, "update_where", values)
        return await self._backend.update_where(tuple(filters), dict(values))


guard_coroutines(Repository)
