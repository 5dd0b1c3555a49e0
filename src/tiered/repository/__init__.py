"""Repositories: SQLAlchemy and in-memory backends of one contract."""

from tiered.repository.boundary import database_boundary
from tiered.repository.cursor import CursorCodec
from tiered.repository.declaration import Declaration, Relation
from tiered.repository.memory_session import InMemorySession, InMemoryStore
from tiered.repository.protocol import AsyncRepository
from tiered.repository.query import (
    DEFAULT_PAGE_SIZE,
    MAX_OFFSET,
    MAX_PAGE_SIZE,
    CursorPage,
    Filter,
    Increment,
    OffsetPage,
    Op,
    Page,
    PageRequest,
    SortKey,
    ordering,
    parse_sort,
)
from tiered.repository.read_model import ReadModel
from tiered.repository.read_rows import ReadRows
from tiered.repository.repository import Repository

__all__ = [
    "DEFAULT_PAGE_SIZE",
    "MAX_OFFSET",
    "MAX_PAGE_SIZE",
    "AsyncRepository",
    "CursorCodec",
    "CursorPage",
    "Declaration",
    "Filter",
    "InMemorySession",
    "InMemoryStore",
    "Increment",
    "OffsetPage",
    "Op",
    "Page",
    "PageRequest",
    "ReadModel",
    "ReadRows",
    "Relation",
    "Repository",
    "SortKey",
    "database_boundary",
    "ordering",
    "parse_sort",
]
