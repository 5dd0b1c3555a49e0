"""Conditional requests (RFC 9110 §13): ETags from version numbers.

``If-Match`` makes a write conditional (412 when the client's copy is stale,
before any work is done); ``If-None-Match`` lets a client revalidate a cached
read for a 304 instead of the body.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from tiered.errors import FieldError, InvalidInputError, PreconditionFailedError

__all__ = ["etag_for", "expected_version", "is_not_modified", "not_modified"]


def etag_for(version: int) -> str:
    """A strong ETag: the representation changes exactly when the version does."""
    return f'"{version}"'


def _tags(header: str) -> list[str]:
    return [tag.strip().removeprefix("W/") for tag in header.split(",") if tag.strip()]


def expected_version(if_match: str | None) -> int | None:
    """The version an ``If-Match`` header demands, ``None`` when absent or ``*``.

    A malformed header is a 400, so a client never believes a write was
    conditional when it was not.
    """
    if if_match is None or if_match.strip() == "*":
        return None
    tags = _tags(if_match)
    if len(tags) != 1 or len(tags[0]) < 2 or not (tags[0][0] == tags[0][-1] == '"'):
        raise InvalidInputError(
            'If-Match must be one ETag such as "3".',
            code="INVALID_IF_MATCH",
            errors=[FieldError("/If-Match", "one quoted ETag", "header")],
        )
    try:
        return int(tags[0].strip('"'))
    except ValueError as error:
        raise PreconditionFailedError("If-Match does not match the current ETag.") from error


def is_not_modified(request: Request, etag: str) -> bool:
    header = request.headers.get("if-none-match")
    if header is None:
        return False
    return header.strip() == "*" or etag in _tags(header)


def not_modified(etag: str) -> Response:
    return Response(status_code=304, headers={"ETag": etag})
