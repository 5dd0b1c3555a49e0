"""List endpoints' query strings → repository query specs.

A :class:`Listing` is built from a repository class: its client allow-lists
(``filter_fields``, ``sort_fields``, ``search_fields``) are the only ones, the
parameters' types come from the mapping, and the full order (the id last) is
the repository's. It produces a FastAPI dependency whose parameters appear in
OpenAPI. A value the schema forbids (``limit=abc``, ``limit=1000000``) is a 422
like every schema violation; anything else in the query string is a 400
problem: an unknown or repeated parameter, a sort outside the allow-list, a
tampered cursor or one issued for another query, and a control character in
any value (a NUL would otherwise reach the database).

The parameters' schemas say which values are well formed, so clients and
schema-driven fuzzers know them: no text parameter admits a control
character, ``sort`` admits only the allow-listed fields, each once, and
``cursor`` only the codec's alphabet and length. The parser, not the schema
validator, refuses the rest, with the 400s above. A well-formed cursor is
still refused unless this service issued it for this very query, and
``offset`` with ``cursor`` is refused: no schema can say either.

The cursor codec is an explicit dependency (:func:`cursor_codec`): apps built
by ``create_app`` have one; others provide it with
``app.dependency_overrides[cursor_codec]``, and :func:`validate_listings`
refuses to start without one.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Query
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from pydantic import WithJsonSchema
from starlette.requests import Request

from tiered.envelope import PageMeta
from tiered.errors import ConfigurationError, FieldError, InvalidInputError
from tiered.repository.cursor import MAX_CURSOR_CHARS, CursorCodec
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
    parse_sort,
)
from tiered.repository.repository import Repository

__all__ = ["ListQuery", "Listing", "QueryFilter", "cursor_codec", "validate_listings"]

SEARCH_PARAMETER = "q"
SEARCH_MAX_CHARS = 200
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_NO_CONTROL_PATTERN = r"^[^\u0000-\u001f\u007f]*$"
_CURSOR_PATTERN = r"^[A-Za-z0-9_-]*$"
_STRIPPED = r"[ \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*"
"""What ``str.strip`` removes around a sort field, control characters aside (refused before)."""


def _text(**constraints: Any) -> Any:
    """``str``, documented with ``constraints`` (JSON Schema keywords) that the parser enforces."""
    return Annotated[str, WithJsonSchema({"type": "string", **constraints})]


def _sort_pattern(fields: Iterable[str]) -> str:
    """The ``sort`` values :func:`parse_sort` accepts, as an ECMA-262 regular expression.

    Comma-separated fields of the allow-list, each at most once (the negative
    lookahead), each with an optional ``-`` (descending) and ``+``; empty is
    the default order.
    """
    names = "|".join(re.escape(name) for name in sorted(fields))
    key = f"{_STRIPPED}-?\\+?"
    token = f"{key}(?:{names}){_STRIPPED}"
    repeated = f"(?:[^,]*,)*{key}({names}){_STRIPPED},(?:[^,]*,)*{key}\\1{_STRIPPED}(?:,|$)"
    return f"^(?!{repeated})(?:{token}(?:,{token})*)?$"


@dataclass(frozen=True, slots=True)
class QueryFilter:
    """One query-string filter: ``?name=value`` → ``Filter(field, op, value)``.

    ``field`` (default: ``name``) must be one of the repository's
    ``filter_fields``; ``annotation`` defaults to the column's Python type.
    ``many=True`` accepts the parameter repeatedly (``?status=a&status=b``) and
    filters with ``IN``.
    """

    name: str
    annotation: Any = None
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
        """Pagination metadata; ``next_cursor`` continues after this page, for this query only.

        The cursor is encoded in the order the repository read the page in.
        """
        cursor = None
        if page.next_after:
            order = page.order or self.order
            cursor = self.codec.encode(
                page.next_after, order, filters=self.filters, search=self.search
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


async def cursor_codec(request: Request) -> CursorCodec:
    """The app's cursor codec; override this dependency to provide one outside ``create_app``."""
    codec = getattr(request.app.state, "cursor_codec", None)
    if not isinstance(codec, CursorCodec):
        raise ConfigurationError(_NO_CODEC)
    return codec


_CURSOR_DESCRIPTION = """`meta.next_cursor` of the previous page (not with `offset`).

Opaque and signed: only a cursor this service issued, sent with the filters, search
and sort of the request that returned it, is accepted; any other is a 400
`INVALID_CURSOR`. Empty means none."""

_NO_CODEC = (
    "a Listing needs a CursorCodec: build the app with tiered.app.create_app, or set "
    "app.dependency_overrides[tiered.http.listing.cursor_codec] = lambda: CursorCodec(secret)"
)
_LISTING_ATTRIBUTE = "__tiered_listing__"


class Listing:
    """The query string of one repository's list endpoint.

    Every field of the repository's ``filter_fields`` is a ``?field=value``
    parameter; ``filters`` refine some (several values, another operator, a
    description) or add others on the same fields (``max_price`` → ``price <=``).
    """

    def __init__(
        self,
        repository: type[Repository[Any]],
        *,
        filters: Sequence[QueryFilter] = (),
        default_sort: str = "",
        default_limit: int = DEFAULT_PAGE_SIZE,
        max_limit: int = MAX_PAGE_SIZE,
    ) -> None:
        repository.check_declaration()
        self.repository = repository
        self.sort_fields = repository.sort_fields
        self.default_sort = parse_sort(default_sort, self.sort_fields)
        declaration = repository.declaration()
        given = tuple(filters or ())
        targeted = {item.target for item in given}
        filters = given + tuple(
            QueryFilter(name) for name in sorted(repository.filter_fields - targeted)
        )
        self.filters = tuple(
            item
            if item.annotation is not None
            else QueryFilter(
                item.name,
                declaration.python_types.get(item.target, str),
                item.field,
                item.op,
                item.many,
                item.description,
            )
            for item in filters
        )
        outside = sorted(i.target for i in self.filters if i.target not in repository.filter_fields)
        if outside:
            raise ConfigurationError(
                f"Listing of {repository.__name__}: {', '.join(outside)} not in its filter_fields"
            )
        self.search = bool(repository.search_fields)
        self.default_limit = default_limit
        self.max_limit = max_limit
        self.single = frozenset(
            {"limit", "offset", "cursor", "sort"}
            | {item.name for item in self.filters if not item.many}
            | ({SEARCH_PARAMETER} if self.search else set())
        )
        self.allowed = self.single | {item.name for item in self.filters}

    def problems(self) -> tuple[InvalidInputError, ...]:
        """One real error per 400 code this listing answers (for ``problem_responses``).

        Each is produced by the code that produces it for a client, so a route's
        documented examples cannot drift from its answers.
        """
        produced: list[InvalidInputError] = [
            _invalid("/offset", "use either offset or cursor", "INVALID_PAGE"),
            _invalid(_pointer("colour"), "unknown parameter 'colour'"),
        ]
        for attempt in (
            lambda: parse_sort("popularity", self.sort_fields),
            lambda: CursorCodec(b"example").decode("not-a-cursor", ()),
        ):
            try:
                attempt()
            except InvalidInputError as error:
                produced.append(error)
        return tuple(produced)

    def validate(self, app: FastAPI) -> None:
        """Refuse to start what would fail later: a codec is needed to page."""
        self.repository.check_declaration()
        codec = getattr(app.state, "cursor_codec", None)
        if not isinstance(codec, CursorCodec) and cursor_codec not in app.dependency_overrides:
            raise ConfigurationError(_NO_CODEC)

    def _parameters(self) -> list[inspect.Parameter]:
        keyword = inspect.Parameter.KEYWORD_ONLY
        sortable = ", ".join(sorted(self.sort_fields))
        parameters = [
            inspect.Parameter("request", keyword, annotation=Request),
            inspect.Parameter(
                "codec", keyword, annotation=CursorCodec, default=Depends(cursor_codec)
            ),
            inspect.Parameter(
                "limit",
                keyword,
                annotation=int,
                default=Query(
                    self.default_limit,
                    ge=1,
                    le=self.max_limit,
                    description=f"Page size, 1 to {self.max_limit}.",
                ),
            ),
            inspect.Parameter(
                "offset",
                keyword,
                annotation=int | None,
                default=Query(
                    None,
                    ge=0,
                    le=MAX_OFFSET,
                    description="Rows to skip (offset pages; not with `cursor`).",
                ),
            ),
            inspect.Parameter(
                "cursor",
                keyword,
                annotation=_text(pattern=_CURSOR_PATTERN, maxLength=MAX_CURSOR_CHARS) | None,
                default=Query(None, description=_CURSOR_DESCRIPTION),
            ),
            inspect.Parameter(
                "sort",
                keyword,
                annotation=_text(pattern=_sort_pattern(self.sort_fields)) | None,
                default=Query(
                    None,
                    description=f"Comma-separated, `-` for descending, each field once; "
                    f"of: {sortable}.",
                ),
            ),
        ]
        if self.search:
            search = _text(minLength=1, maxLength=SEARCH_MAX_CHARS, pattern=_NO_CONTROL_PATTERN)
            parameters.append(
                inspect.Parameter(
                    SEARCH_PARAMETER,
                    keyword,
                    annotation=search | None,
                    default=Query(
                        None, min_length=1, max_length=SEARCH_MAX_CHARS, description="Text search."
                    ),
                )
            )
        for item in self.filters:
            annotation: Any = item.annotation
            if annotation is str:
                annotation = _text(pattern=_NO_CONTROL_PATTERN)
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
        async def list_query(request: Request, codec: CursorCodec, **values: Any) -> ListQuery:
            return self.parse(request, codec, values)

        list_query.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
            self._parameters(), return_annotation=ListQuery
        )
        setattr(list_query, _LISTING_ATTRIBUTE, self)
        return list_query

    def parse(self, request: Request, codec: CursorCodec, values: dict[str, Any]) -> ListQuery:
        unknown = sorted(set(request.query_params) - self.allowed)
        if unknown:
            raise _invalid(_pointer(unknown[0]), f"unknown parameter {unknown[0]!r}")
        repeated = sorted(
            name for name in self.single if len(request.query_params.getlist(name)) > 1
        )
        if repeated:
            raise _invalid(_pointer(repeated[0]), f"{repeated[0]} given more than once")
        _refuse_control_characters(request)
        sort = parse_sort(values.get("sort"), self.sort_fields) or self.default_sort
        order = self.repository.ordering(sort)
        filters = tuple(
            Filter(item.target, Op.IN if item.many else item.op, _value(values[item.name], item))
            for item in self.filters
            if values.get(item.name) is not None
        )
        search = values.get(SEARCH_PARAMETER)
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


def validate_listings(app: FastAPI) -> None:
    """Validate every :class:`Listing` the app's routes depend on (at startup)."""
    for route in _api_routes(app.routes):
        for listing in _listings(route.dependant):
            listing.validate(app)


def _api_routes(routes: Sequence[Any]) -> Iterator[APIRoute]:
    """Every ``APIRoute``, included routers' and mounts' too."""
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
            continue
        included = getattr(route, "original_router", None)  # FastAPI's lazy include
        children = getattr(included if included is not None else route, "routes", None)
        if isinstance(children, Sequence):
            yield from _api_routes(children)


def _listings(dependant: Dependant) -> list[Listing]:
    found = []
    listing = getattr(dependant.call, _LISTING_ATTRIBUTE, None)
    if isinstance(listing, Listing):
        found.append(listing)
    for sub in dependant.dependencies:
        found += _listings(sub)
    return found
