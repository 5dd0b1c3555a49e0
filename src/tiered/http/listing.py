"""List endpoints' query strings → repository query specs.

A :class:`Listing` declares what a collection accepts (filters, text search,
sortable fields, page sizes) and produces a FastAPI dependency whose
parameters appear in OpenAPI. Anything else in the query string is a 400
problem, as is a sort on a field outside the allow-list, a page size out of
range, a tampered cursor or one issued for another query, and a control
character in any value (a NUL would otherwise reach the database, which
PostgreSQL refuses with an error instead of a 400).
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass, field
from typing import Any

from fastapi import Query
from starlette.requests import Request

from tiered.envelope import PageMeta
from tiered.errors import FieldError, InvalidInputError
from tiered.repository.cursor import CursorCodec
from tiered.repository.query import (
    DEFAULT_PAGE_SIZE,
    MAX_OFFSET,
    MAX_PAGE_SIZE,
    CursorPage,
    Filter,
    OffsetPage,
    Op,
    Page,
    SortKey,
    ordering,
    parse_sort,
)

__all__ = ["ListQuery", "Listing", "QueryFilter"]

SEARCH_PARAMETER = "q"
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True, slots=True)
class QueryFilter:
    """One query-string filter: ``?name=value`` → ``Filter(field, op, value)``.

    ``many=True`` accepts the parameter repeatedly (``?status=a&status=b``) and
    filters with ``IN``.
    """

    name: str
    annotation: Any
    field: str | None = None
    op: Op = Op.EQ
    many: bool = False
    description: str | None = None

    @property
    def target(self) -> str:
        return self.field or self.name


@dataclass(frozen=True, slots=True)
class ListQuery:
    filters: tuple[Filter, ...]
    search: str | None
    sort: tuple[SortKey, ...]
    page: OffsetPage | CursorPage
    order: tuple[SortKey, ...]
    codec: CursorCodec = field(repr=False)

    def meta(self, page: Page[Any]) -> PageMeta:
        """Pagination metadata; ``next_cursor`` continues after this page, for this query only."""
        cursor = None
        if page.next_after:
            cursor = self.codec.encode(
                page.next_after, self.order, filters=self.filters, search=self.search
            )
        return PageMeta(total=page.total, limit=page.limit, offset=page.offset, next_cursor=cursor)


def _pointer(name: str) -> str:
    return "/" + name.replace("~", "~0").replace("/", "~1")


def _invalid(pointer: str, detail: str, code: str = "INVALID_QUERY") -> InvalidInputError:
    return InvalidInputError(
        f"Invalid query parameter: {detail}.",
        code=code,
        errors=[FieldError(pointer, detail, "query")],
    )


class Listing:
    def __init__(
        self,
        *,
        sort_fields: Collection[str],
        default_sort: str = "",
        filters: Sequence[QueryFilter] = (),
        search: bool = False,
        default_limit: int = DEFAULT_PAGE_SIZE,
        max_limit: int = MAX_PAGE_SIZE,
        id_field: str = "id",
    ) -> None:
        self.sort_fields = frozenset(sort_fields)
        self.default_sort = parse_sort(default_sort, self.sort_fields)
        self.filters = tuple(filters)
        self.search = search
        self.default_limit = default_limit
        self.max_limit = max_limit
        self.id_field = id_field
        self.allowed = frozenset(
            {"limit", "offset", "cursor", "sort"}
            | {item.name for item in self.filters}
            | ({SEARCH_PARAMETER} if search else set())
        )

    def _parameters(self) -> list[inspect.Parameter]:
        keyword = inspect.Parameter.KEYWORD_ONLY
        sortable = ", ".join(sorted(self.sort_fields))
        parameters = [
            inspect.Parameter("request", keyword, annotation=Request),
            inspect.Parameter(
                "limit",
                keyword,
                annotation=int,
                default=Query(
                    self.default_limit,
                    description=f"Page size, 1 to {self.max_limit}.",
                    json_schema_extra={"minimum": 1, "maximum": self.max_limit},
                ),
            ),
            inspect.Parameter(
                "offset",
                keyword,
                annotation=int | None,
                default=Query(
                    None,
                    description="Rows to skip (offset pages; not with `cursor`).",
                    json_schema_extra={"minimum": 0, "maximum": MAX_OFFSET},
                ),
            ),
            inspect.Parameter(
                "cursor",
                keyword,
                annotation=str | None,
                default=Query(
                    None,
                    description="`meta.next_cursor` of the previous page (not with `offset`).",
                ),
            ),
            inspect.Parameter(
                "sort",
                keyword,
                annotation=str | None,
                default=Query(
                    None, description=f"Comma-separated, `-` for descending; of: {sortable}."
                ),
            ),
        ]
        if self.search:
            parameters.append(
                inspect.Parameter(
                    SEARCH_PARAMETER,
                    keyword,
                    annotation=str | None,
                    default=Query(None, min_length=1, max_length=200, description="Text search."),
                )
            )
        for item in self.filters:
            annotation: Any = item.annotation
            annotation = list[annotation] | None if item.many else annotation | None
            parameters.append(
                inspect.Parameter(
                    item.name,
                    keyword,
                    annotation=annotation,
                    default=Query(None, description=item.description),
                )
            )
        return parameters

    def dependency(self) -> Callable[..., Awaitable[ListQuery]]:
        async def list_query(request: Request, **values: Any) -> ListQuery:
            return self.parse(request, values)

        list_query.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
            self._parameters(), return_annotation=ListQuery
        )
        return list_query

    def parse(self, request: Request, values: dict[str, Any]) -> ListQuery:
        unknown = sorted(set(request.query_params) - self.allowed)
        if unknown:
            raise _invalid(_pointer(unknown[0]), f"unknown parameter {unknown[0]!r}")
        _refuse_control_characters(request)
        sort = parse_sort(values.get("sort"), self.sort_fields) or self.default_sort
        order = ordering(sort, self.id_field)
        filters = tuple(
            Filter(item.target, Op.IN if item.many else item.op, _value(values[item.name], item))
            for item in self.filters
            if values.get(item.name) is not None
        )
        search = values.get(SEARCH_PARAMETER)
        codec: CursorCodec = request.app.state.cursor_codec
        limit = int(values["limit"])
        cursor, offset = values.get("cursor") or None, values.get("offset")
        page: OffsetPage | CursorPage
        if cursor is not None:
            if offset is not None:
                raise _invalid("/offset", "use either offset or cursor", "INVALID_PAGE")
            after = codec.decode(cursor, order, filters=filters, search=search)
            page = CursorPage(limit, after, self.max_limit)
        else:
            page = OffsetPage(limit, offset or 0, self.max_limit)
        return ListQuery(filters, search, sort, page, order, codec)


def _refuse_control_characters(request: Request) -> None:
    """C0 controls and DEL, tab and newlines included: no listing value needs them."""
    for name, raw in request.query_params.multi_items():
        if _CONTROL.search(raw):
            raise _invalid(_pointer(name), f"{name} contains a control character")


def _value(raw: Any, item: QueryFilter) -> Any:
    return tuple(raw) if item.many else raw
