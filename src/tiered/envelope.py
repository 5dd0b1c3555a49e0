"""The success envelope: ``{"success": true, "data": …, "meta": …}``.

One shape for every success body lets clients unwrap responses generically.
Two types share it so the schema says what ``meta`` holds: :class:`ApiResponse`
for one resource (``meta`` is ``null``), :class:`PageResponse` for one page of
a collection (``meta`` is a :class:`PageMeta`, always present).

Every member is always sent, so the response schema marks each one required
(``"meta": null`` included). Each envelope documents an example built from the
examples of the type it carries (``json_schema_extra={"examples": [...]}`` on
the model): a body the route could send, where an example generated from types
alone shows ``"limit": 0`` and page metadata on single resources.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Annotated, Any, Generic, Literal, Protocol, TypeVar, get_args, get_origin

import orjson
from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema
from starlette.responses import Response

__all__ = ["ApiResponse", "PageMeta", "PageResponse", "json_response"]

T = TypeVar("T")

_EXAMPLE_CURSOR = (
    "mDGci3EB3pxokZaK9heFEyZEiJrPmn5PW1sidCIsIjIwMjUtMDMtMDJUMTc6NDU6MTIrMDA6MDAiXSxbInUiLCI0YjFhOWM3"
    "ZS0yZDVmLTRlOGEtOWIzYy02ZjBkMmUxYTdjNGIiXV0"
)


def json_response(
    body: BaseModel, *, status_code: int = 200, headers: dict[str, str] | None = None
) -> Response:
    """``body`` as JSON bytes, serialised once by pydantic-core.

    A route that returns this skips FastAPI's response-model pass, which
    validates the body again item by item: the route's ``response_model`` still
    documents the shape, and the body is exactly what that model serialises to.
    """
    content = body.__pydantic_serializer__.to_json(body)
    return Response(content, status_code, headers, media_type="application/json")


class PageMeta(BaseModel):
    """Where a page sits in its collection, and how to get the next one."""

    model_config = ConfigDict(
        json_schema_serialization_defaults_required=True,
        json_schema_extra={
            "examples": [
                {"total": 57, "limit": 20, "offset": 20, "next_cursor": _EXAMPLE_CURSOR},
                {"total": None, "limit": 20, "offset": None, "next_cursor": _EXAMPLE_CURSOR},
            ]
        },
    )

    total: int | None = Field(
        default=None,
        ge=0,
        description="Rows matching the filters (offset pages; null on cursor pages).",
    )
    limit: int = Field(ge=1, description="The page size applied.")
    offset: int | None = Field(
        default=None, ge=0, description="Rows skipped (offset pages; null on cursor pages)."
    )
    next_cursor: str | None = Field(
        default=None,
        description="Opaque: send it as `cursor` for the next page; null on the last page.",
    )


def _examples_of(annotation: Any) -> list[Any]:
    """The documented examples of ``annotation``: a model's own, or a list of them."""
    if get_origin(annotation) is list:
        items = _examples_of(get_args(annotation)[0])
        return [items] if items else []
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        examples = annotation.model_json_schema(mode="serialization").get("examples", [])
        return list(examples)
    return []


def _single_example(schema: dict[str, Any], model: type[BaseModel]) -> None:
    examples = _examples_of(model.model_fields["data"].annotation)
    if examples:
        schema["examples"] = [{"success": True, "data": examples[0], "meta": None}]


def _page_example(schema: dict[str, Any], model: type[BaseModel]) -> None:
    """A first page of a longer collection: as many items as ``limit``, and a cursor onwards."""
    items = _examples_of(model.model_fields["data"].annotation)
    if items and items[0]:
        data = items[0]
        meta = {"total": 10 * len(data) + 7, "limit": len(data), "offset": 0}
        schema["examples"] = [
            {"success": True, "data": data, "meta": {**meta, "next_cursor": _EXAMPLE_CURSOR}}
        ]


_ANY_META = WithJsonSchema(
    {
        "anyOf": [{"type": "object", "additionalProperties": True}, {"type": "null"}],
        "description": "Null for a single resource; a page of a list carries its PageMeta.",
    }
)


class _Envelope(BaseModel):
    """Parametrised by a model class (``ApiResponse[Market]``) in a dictionary lookup.

    A route names its envelope on every request, and pydantic's own lookup of
    an already parametrised generic model costs about 0.9 µs. Other parameters
    (unions, annotations) go to pydantic, which tells apart, for instance,
    ``Union[int, str]`` and ``Union[str, int]``, equal as keys of a dictionary.
    """

    def __class_getitem__(cls, params: Any) -> Any:
        if not isinstance(params, type):
            return super().__class_getitem__(params)
        parametrised = _PARAMETRISED.get((cls, params))
        if parametrised is None:
            parametrised = _PARAMETRISED[cls, params] = super().__class_getitem__(params)
        return parametrised


_PARAMETRISED: dict[tuple[type, type], Any] = {}


class ApiResponse(_Envelope, Generic[T]):
    """One resource (or any body that is not a page): ``meta`` is ``null``.

    ``meta`` also accepts an object (a :class:`PageMeta` included), so a page
    sent in this envelope keeps its shape; its schema then says only "object":
    use :class:`PageResponse` for pages.
    """

    model_config = ConfigDict(
        json_schema_serialization_defaults_required=True, json_schema_extra=_single_example
    )

    success: Literal[True] = True
    data: T
    meta: Annotated[PageMeta | dict[str, Any] | None, _ANY_META] = None

    @classmethod
    def of(cls, data: T, meta: PageMeta | dict[str, Any] | None = None) -> ApiResponse[T]:
        return cls(data=data, meta=meta)


class PageResponse(_Envelope, Generic[T]):
    """One page of a collection: ``data`` holds its items, ``meta`` where it sits."""

    model_config = ConfigDict(
        json_schema_serialization_defaults_required=True, json_schema_extra=_page_example
    )

    success: Literal[True] = True
    data: list[T]
    meta: PageMeta

    @classmethod
    def of(cls, items: Iterable[T], meta: PageMeta) -> PageResponse[T]:
        return cls(data=list(items), meta=meta)

    @classmethod
    def respond(
        cls,
        items: Sequence[T],
        meta: PageMeta,
        *,
        status_code: int = 200,
        headers: dict[str, str] | None = None,
    ) -> Response:
        """The page as JSON: the bytes ``json_response(cls.of(items, meta))`` would send.

        A repository's page of read models (``find(..., into=Model)``) holds rows:
        they go to JSON as plain values, without a model per row, when ``Model``
        is this page's item type and serialises plainly. Anything else goes
        through the models and pydantic.
        """
        content = _plain_page(cls, items, meta)
        if content is None:
            content = (page := cls.of(items, meta)).__pydantic_serializer__.to_json(page)
        return Response(content, status_code, headers, media_type="application/json")


class _JsonRows(Protocol):
    """Rows that can hand themselves to a JSON encoder (``tiered.repository.ReadRows``)."""

    @property
    def model(self) -> type[BaseModel]: ...

    def json_ready(self) -> list[dict[str, Any]] | None: ...


def _plain(value: Any) -> str:
    """What orjson does not know and pydantic writes as a string."""
    if isinstance(value, Decimal | uuid.UUID):  # a driver's own UUID class included
        return str(value)
    raise TypeError(type(value).__name__)


def _plain_page(
    page: type[PageResponse[Any]], items: Sequence[Any], meta: PageMeta
) -> bytes | None:
    item_type = get_args(page.model_fields["data"].annotation)[0]
    if getattr(items, "model", None) is not item_type:
        return None
    rows: _JsonRows = items  # type: ignore[assignment]
    ready = rows.json_ready()
    if ready is None:
        return None
    body = {
        "success": True,
        "data": ready,
        "meta": orjson.Fragment(meta.__pydantic_serializer__.to_json(meta)),
    }
    try:
        return orjson.dumps(body, default=_plain, option=orjson.OPT_UTC_Z)
    except orjson.JSONEncodeError:  # an integer beyond 64 bits, say: pydantic knows it
        return None
