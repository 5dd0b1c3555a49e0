"""Conditional requests (RFC 9110 §13) with ETags computed from the representation.

An ETag is a hash of the exact bytes a response sends, so it changes whenever
the representation does, data embedded from other rows included (a row
version cannot see a renamed creator inside a market). ``If-None-Match`` on a
read compares weakly (``W/"x"`` matches ``"x"``) and earns a 304;
``If-Match`` on a write compares strongly (a weak tag never matches) and fails
with a 412 before any work is done.

A write route renders the current representation the way its read route does,
checks ``If-Match`` against that ETag with :func:`require_if_match`, then hands
the row version it saw to the service, so a writer that got in between is still
caught (a 409 from the version check) instead of being overwritten.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from tiered.errors import FieldError, InvalidInputError, PreconditionFailedError

__all__ = [
    "EntityTag",
    "etag_of",
    "if_none_match_documented",
    "is_not_modified",
    "not_modified",
    "parse_entity_tags",
    "representation",
    "require_if_match",
]

_ETAG = r'(?:W/)?"[\x21\x23-\x7e\x80-\xff]*"'
_LIST = re.compile(rf"[\s,]*{_ETAG}(?:\s*,[\s,]*{_ETAG})*[\s,]*")
_ONE = re.compile(_ETAG)


@dataclass(frozen=True, slots=True)
class EntityTag:
    opaque: str
    """The quoted tag, ``'"abc"'``, as it appears in an ``ETag`` header."""
    weak: bool = False

    @classmethod
    def parse(cls, text: str) -> EntityTag:
        weak = text.startswith("W/")
        return cls(text.removeprefix("W/"), weak)


def etag_of(content: bytes) -> str:
    """A strong ETag of the exact bytes sent: 128 bits of BLAKE2b, base64url, quoted."""
    digest = hashlib.blake2b(content, digest_size=16).digest()
    return '"' + base64.urlsafe_b64encode(digest).rstrip(b"=").decode() + '"'


def parse_entity_tags(header: str) -> tuple[EntityTag, ...] | None:
    """The tags of an ``If-Match``/``If-None-Match`` value; ``None`` for ``*``.

    Raises ``ValueError`` when the value is not ``*`` or a list of quoted tags.
    """
    text = header.strip()
    if text == "*":
        return None
    if not _LIST.fullmatch(text):
        raise ValueError(f"not an entity-tag list: {header!r}")
    return tuple(EntityTag.parse(tag) for tag in _ONE.findall(text))


def is_not_modified(request: Request, etag: str) -> bool:
    """``If-None-Match`` matches ``etag`` (weak comparison; ``*`` matches anything).

    A malformed header matches nothing: the client gets the full response, which
    is always a correct answer to a read.
    """
    header = request.headers.get("if-none-match")
    if header is None:
        return False
    try:
        tags = parse_entity_tags(header)
    except ValueError:
        return False
    current = EntityTag.parse(etag)
    return tags is None or any(tag.opaque == current.opaque for tag in tags)


def not_modified(etag: str, headers: Mapping[str, str] | None = None) -> Response:
    return Response(status_code=304, headers={**(headers or {}), "ETag": etag})


def if_none_match_documented(description: str) -> dict[str, Any]:
    """``openapi_extra`` for a conditional read: its ``If-None-Match`` header, documented.

    :func:`representation` reads the header from the request, so the route
    needs no parameter for it; a FastAPI header parameter would be parsed on
    every request (about 8 µs) only to be ignored. The documented parameter is
    the one FastAPI writes for ``Annotated[str | None, Header(alias="If-None-Match",
    description=...)] = None``.
    """
    schema = {
        "anyOf": [{"type": "string"}, {"type": "null"}],
        "description": description,
        "title": "If-None-Match",
    }
    parameter = {
        "description": description,
        "in": "header",
        "name": "If-None-Match",
        "required": False,
        "schema": schema,
    }
    return {"parameters": [parameter]}


def representation(
    request: Request,
    content: bytes,
    *,
    media_type: str = "application/json",
    status_code: int = 200,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """``content`` with its ETag, or an empty 304 when ``If-None-Match`` already has it."""
    etag = etag_of(content)
    if is_not_modified(request, etag):
        return not_modified(etag, headers)
    response = Response(content, status_code=status_code, media_type=media_type, headers=headers)
    response.raw_headers.append((b"etag", etag.encode("latin-1")))
    return response


def _strong_match(a: EntityTag, b: EntityTag) -> bool:
    return not a.weak and not b.weak and a.opaque == b.opaque


def require_if_match(if_match: str | None, current: str | None) -> None:
    """Refuse a write whose ``If-Match`` does not strongly match ``current``.

    ``current`` is the ETag of the current representation, ``None`` when there
    is none. No header: nothing to check. ``*``: any current representation.
    A weak tag never matches (RFC 9110 §13.1.1). A malformed header is a 400,
    so a client never believes a write was conditional when it was not.
    """
    if if_match is None:
        return
    try:
        tags = parse_entity_tags(if_match)
    except ValueError as error:
        raise InvalidInputError(
            'If-Match must be "*" or quoted ETags such as "abc".',
            code="INVALID_IF_MATCH",
            errors=[FieldError("/If-Match", "quoted ETags or *", "header")],
        ) from error
    if current is not None:
        ours = EntityTag.parse(current)
        if tags is None or any(_strong_match(tag, ours) for tag in tags):
            return
    raise PreconditionFailedError(
        "The resource changed since you read it: If-Match does not match its current ETag.",
        details={"etag": current} if current is not None else None,
    )
