"""The in-memory stand-in for a database and its sessions.

:class:`InMemoryStore` holds committed rows. :class:`InMemorySession` is one
transaction on it, shaped like a SQLAlchemy session so that unit tests on the
fakes see what production sees:

- an identity map: one object per id, and changes made to a loaded object are
  written at the next flush (every repository write, a savepoint, the commit);
- a write set: flushed rows are visible to this session only until commit, so
  concurrent sessions are isolated and a rollback discards exactly its own work;
- an undo journal over the write set, so a savepoint rolls back only what it did;
- a commit that re-checks every written row against what is committed now:
  a row another session committed since this one read it is a conflict
  (``StaleVersionError`` for a versioned model, ``TransactionConflictError``
  otherwise), never a lost update. Where a database would make the second
  writer wait, the fake fails it, which a service must handle anyway.

Store operations never await, so each is atomic under asyncio; a lock makes the
commit atomic across threads too.
"""

from __future__ import annotations

import copy
import dataclasses
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from tiered.errors import DuplicateResourceError, StaleVersionError, TransactionConflictError

__all__ = ["InMemorySession", "InMemoryStore", "TableSpec"]

Key = tuple[type[Any], Any]
_UNSEEN: Any = object()
"""No write of this session yet (a write of ``None`` means "deleted")."""


@dataclass(frozen=True, slots=True)
class TableSpec:
    """What the store enforces for one model, as a database enforces its schema."""

    id_field: str = "id"
    version_field: str | None = None
    unique_fields: tuple[tuple[str, ...], ...] = ()
    relations: frozenset[str] = frozenset()


def column_state(entity: Any, relations: frozenset[str]) -> dict[str, Any]:
    """The values a row is made of: public attributes, relationships excluded."""
    if dataclasses.is_dataclass(entity):
        names = [item.name for item in dataclasses.fields(entity)]
    else:
        names = list(vars(entity))
    return {
        name: getattr(entity, name)
        for name in names
        if not name.startswith("_") and name not in relations
    }


def _duplicate(constraint: str) -> DuplicateResourceError:
    return DuplicateResourceError(
        "A resource with the same unique value already exists.",
        details={"constraint": constraint},
    )


class InMemoryStore:
    """Committed rows of every model; share one between the sessions of a test."""

    def __init__(self) -> None:
        self._tables: dict[type[Any], dict[Any, Any]] = {}
        self._specs: dict[type[Any], TableSpec] = {}
        self._lock = threading.Lock()

    def declare(self, model: type[Any], spec: TableSpec) -> None:
        self._specs.setdefault(model, spec)

    def spec(self, model: type[Any]) -> TableSpec:
        return self._specs.get(model, TableSpec())

    def table(self, model: type[Any]) -> Mapping[Any, Any]:
        """Committed rows of ``model`` by id (read-only: rows are replaced, never mutated)."""
        return self._tables.get(model, {})

    def committed(self, key: Key) -> Any:
        return self._tables.get(key[0], {}).get(key[1])

    def apply(self, writes: Mapping[Key, Any], bases: Mapping[Key, Any]) -> None:
        """Commit ``writes`` at once, or none of them if any conflicts."""
        with self._lock:
            for key, row in writes.items():
                self._check_base(key, row, bases[key])
            for key, row in writes.items():
                if row is not None:
                    self._check_unique(key, row, writes)
            for (model, entity_id), row in writes.items():
                table = self._tables.setdefault(model, {})
                if row is None:
                    table.pop(entity_id, None)
                else:
                    table[entity_id] = row

    def _check_base(self, key: Key, row: Any, base: Any) -> None:
        current = self.committed(key)
        if current is base:
            return
        if base is None and row is not None:
            raise _duplicate(self.spec(key[0]).id_field)
        if self.spec(key[0]).version_field is not None:
            raise StaleVersionError.of(key[0].__name__)
        raise TransactionConflictError(
            "Another transaction changed the same data; retry.",
        )

    def _check_unique(self, key: Key, row: Any, writes: Mapping[Key, Any]) -> None:
        model = key[0]
        for fields in self.spec(model).unique_fields:
            values = tuple(getattr(row, name) for name in fields)
            for other_id, other in self._tables.get(model, {}).items():
                if other_id == key[1] or writes.get((model, other_id), other) is not other:
                    continue
                if tuple(getattr(other, name) for name in fields) == values:
                    raise _duplicate(",".join(fields))


@dataclass(slots=True)
class _Savepoint:
    journal_mark: int
    touched: set[Key] = field(default_factory=set)


class InMemorySession:
    """One transaction on a store: identity map, write set, undo journal.

    ``autocommit=True`` commits after every write: the mode of a repository used
    without a unit of work.
    """

    def __init__(self, store: InMemoryStore | None = None, *, autocommit: bool = False) -> None:
        self.store = store or InMemoryStore()
        self.autocommit = autocommit
        self._writes: dict[Key, Any] = {}
        self._bases: dict[Key, Any] = {}
        self._journal: list[tuple[Key, Any]] = []
        self._identity: dict[Key, Any] = {}
        self._loaded: dict[Key, dict[str, Any]] = {}
        self._savepoints: list[_Savepoint] = []
        self.refuse_writes: Callable[[], Exception] | None = None
        """Set by a read-only unit of work: the error every write raises."""

    # -- reading ------------------------------------------------------------------------

    def row(self, key: Key) -> Any:
        """The row as this session sees it (its own flushed writes first), or ``None``."""
        written = self._writes.get(key, _UNSEEN)
        return self.store.committed(key) if written is _UNSEEN else written

    def rows(self, model: type[Any]) -> dict[Any, Any]:
        """Every row of ``model`` this session sees, by id."""
        visible = dict(self.store.table(model))
        for (written_model, entity_id), row in self._writes.items():
            if written_model is not model:
                continue
            if row is None:
                visible.pop(entity_id, None)
            else:
                visible[entity_id] = row
        return visible

    def entity(self, key: Key, row: Any) -> Any:
        """The session's object for ``key``: the one already handed out, else a copy of ``row``."""
        known = self._identity.get(key)
        if known is not None:
            return known
        entity = copy.copy(row)
        self._adopt(key, entity, row)
        return entity

    def identity(self, key: Key) -> Any:
        return self._identity.get(key)

    # -- writing ------------------------------------------------------------------------

    def adopt(self, key: Key, entity: Any) -> None:
        """Make ``entity`` the session's object for ``key``, as loaded from the visible row."""
        self._adopt(key, entity, self.row(key))

    def _adopt(self, key: Key, entity: Any, row: Any) -> None:
        self._identity[key] = entity
        relations = self.store.spec(key[0]).relations
        self._loaded[key] = column_state(row, relations) if row is not None else {}

    def loaded_state(self, key: Key) -> dict[str, Any]:
        return self._loaded.get(key, {})

    def write(self, key: Key, row: Any) -> None:
        """Record ``row`` (``None`` deletes) as this session's version of ``key``.

        Like a SQL ``UPDATE``, it leaves a loaded object as it is: that object is
        now stale, and flushing a change to it is a version conflict.
        """
        if self.refuse_writes is not None:
            raise self.refuse_writes()
        previous = self._writes.get(key, _UNSEEN)
        if key not in self._bases:
            self._bases[key] = self.store.committed(key)
        self._journal.append((key, previous))
        for savepoint in self._savepoints:
            savepoint.touched.add(key)
        self._writes[key] = None if row is None else copy.copy(row)
        if row is None:
            self.forget(key)

    def forget(self, key: Key) -> None:
        self._identity.pop(key, None)
        self._loaded.pop(key, None)

    def dirty(self) -> Iterator[tuple[Key, Any]]:
        """Loaded objects whose values differ from what was loaded or last flushed."""
        for key, entity in list(self._identity.items()):
            relations = self.store.spec(key[0]).relations
            if column_state(entity, relations) != self._loaded.get(key):
                yield key, entity

    def flush(self) -> None:
        """Write every changed loaded object, checking its version as SQL would."""
        for key, entity in self.dirty():
            spec = self.store.spec(key[0])
            stored = self.row(key)
            if stored is None:
                continue
            if spec.version_field is not None:
                loaded_version = self._loaded[key].get(spec.version_field)
                if getattr(stored, spec.version_field) != loaded_version:
                    raise StaleVersionError.of(key[0].__name__)
                setattr(entity, spec.version_field, loaded_version + 1)
            self.write(key, entity)
            self._loaded[key] = column_state(entity, spec.relations)
        if self.autocommit:
            self.commit()

    def check_unique(self, key: Key, row: Any) -> None:
        """Refuse ``row`` when another visible row has the same unique values."""
        model = key[0]
        for fields in self.store.spec(model).unique_fields:
            values = tuple(getattr(row, name) for name in fields)
            for other_id, other in self.rows(model).items():
                if other_id != key[1] and tuple(getattr(other, name) for name in fields) == values:
                    raise _duplicate(",".join(fields))

    # -- transaction --------------------------------------------------------------------

    def commit(self) -> None:
        self._flush_dirty_only()
        self.store.apply(self._writes, self._bases)
        self._reset()

    def _flush_dirty_only(self) -> None:
        autocommit, self.autocommit = self.autocommit, False
        try:
            self.flush()
        finally:
            self.autocommit = autocommit

    def rollback(self) -> None:
        for key, entity in list(self._identity.items()):
            if key in self._writes or column_state(
                entity, self.store.spec(key[0]).relations
            ) != self._loaded.get(key):
                self._restore(key, entity, self.store.committed(key))
        self._reset()

    def _reset(self) -> None:
        self._writes.clear()
        self._bases.clear()
        self._journal.clear()
        self._savepoints.clear()

    def expunge_all(self) -> None:
        self._identity.clear()
        self._loaded.clear()

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        """A nested transaction: an error inside undoes only the writes made inside."""
        self._flush_dirty_only()
        savepoint = _Savepoint(len(self._journal))
        self._savepoints.append(savepoint)
        try:
            yield
            self._flush_dirty_only()
        except BaseException:
            self._undo(savepoint)
            raise
        finally:
            self._savepoints.remove(savepoint)

    def _undo(self, savepoint: _Savepoint) -> None:
        while len(self._journal) > savepoint.journal_mark:
            key, previous = self._journal.pop()
            if previous is _UNSEEN:
                self._writes.pop(key, None)
                self._bases.pop(key, None)
            else:
                self._writes[key] = previous
        for key in savepoint.touched:
            entity = self._identity.get(key)
            if entity is not None:
                self._restore(key, entity, self.row(key))
        for key, entity in list(self.dirty()):
            self._restore(key, entity, self.row(key))

    def _restore(self, key: Key, entity: Any, row: Any) -> None:
        """Put ``entity`` back to ``row``, as SQL expires and reloads it; gone rows drop out."""
        if row is None:
            self.forget(key)
            return
        relations = self.store.spec(key[0]).relations
        for name, value in column_state(row, relations).items():
            setattr(entity, name, value)
        self._loaded[key] = column_state(row, relations)
