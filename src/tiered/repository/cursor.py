"""Opaque, signed pagination cursors, bound to the query that issued them.

A cursor is the previous page's last sort-key values plus a short digest of the
whole query (filters with their values, search text and sort; not the page
size), signed with HMAC-SHA256 under a key of its own. A client can hold it but
not forge or edit it: a tampered, truncated or foreign cursor is a 400, never a
wrong page or a SQL error. Sent with another query, it is a 400 that says so,
because a position only means something in the ordering and the row set it was
taken from.

Layout, base64url without padding: ``signature(16) | query digest(8) | JSON``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Callable, Collection, Iterable, Sequence
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any
from uuid import UUID

import orjson

from tiered.errors import FieldError, InvalidInputError
from tiered.repository.query import Filter, SortKey

__all__ = ["MAX_CURSOR_CHARS", "CursorCodec", "query_digest"]

MAX_CURSOR_CHARS = 2048
"""Far above any cursor this codec issues; longer input is refused unread."""

_SIGNATURE_BYTES = 16
_DIGEST_BYTES = 8
_CURSOR_TEXT = re.compile(r"[A-Za-z0-9_-]+")
_ENCODERS: dict[type, tuple[str, Callable[[Any], Any]]] = {
    bool: ("b", bool),
    int: ("i", int),
    float: ("f", float),
    str: ("s", str),
    Decimal: ("n", str),
    UUID: ("u", str),
    datetime: ("t", datetime.isoformat),
    date: ("d", date.isoformat),
}
_DECODERS: dict[str, Callable[[Any], Any]] = {
    "b": bool,
    "i": int,
    "f": float,
    "s": str,
    "n": Decimal,
    "u": UUID,
    "t": datetime.fromisoformat,
    "d": date.fromisoformat,
}


def _tag(value: Any) -> list[Any]:
    if value is None:
        return ["z", None]
    for kind in type(value).__mro__:
        if kind in _ENCODERS:
            tag, encode = _ENCODERS[kind]
            return [tag, encode(value)]
    raise TypeError(f"cannot put {type(value).__name__} in a cursor")


def _untag(item: Any) -> Any:
    tag, raw = item
    if tag == "z":
        return None
    return _DECODERS[tag](raw)


def _canonical(value: Any) -> Any:
    """A JSON-able form of a filter value; equal values give equal forms."""
    if isinstance(value, Enum):
        value = value.value
    if isinstance(value, Collection) and not isinstance(value, str | bytes):
        return ["l", sorted((_canonical(item) for item in value), key=orjson.dumps)]
    try:
        return _tag(value)
    except TypeError:
        return ["r", type(value).__qualname__, str(value)]


def query_digest(
    order: Sequence[SortKey], filters: Iterable[Filter] = (), search: str | None = None
) -> bytes:
    """A short digest of what selects and orders the rows; the order of filters is irrelevant.

    Truncated: it only tells queries apart inside a signed token, it is not a MAC.
    """
    parts = sorted(
        orjson.dumps([item.field, str(item.op), _canonical(item.value)]) for item in filters
    )
    canonical = b"\n".join([orjson.dumps([[str(key) for key in order], search]), *parts])
    return hashlib.sha256(canonical).digest()[:_DIGEST_BYTES]


def _invalid() -> InvalidInputError:
    return InvalidInputError(
        "The cursor is invalid: it is malformed, was altered, or was not issued here.",
        code="INVALID_CURSOR",
        errors=[FieldError("/cursor", "invalid cursor", "query")],
    )


def _other_query() -> InvalidInputError:
    return InvalidInputError(
        "The cursor belongs to a different query: send it with the filters, search and sort "
        "of the request that returned it, or start again without a cursor.",
        code="INVALID_CURSOR",
        errors=[FieldError("/cursor", "belongs to a different query", "query")],
    )


class CursorCodec:
    """Encodes positions for one secret: the app's ``cursor_secret``, not its JWT secret.

    ``encode`` and ``decode`` take the same query description (the full order,
    filters and search); a cursor decodes only under the query it was issued for.
    """

    def __init__(self, secret: bytes | str) -> None:
        key = secret.encode() if isinstance(secret, str) else secret
        self._key = hmac.new(key, b"tiered.cursor.v2", hashlib.sha256).digest()

    def _sign(self, body: bytes) -> bytes:
        return hmac.new(self._key, body, hashlib.sha256).digest()[:_SIGNATURE_BYTES]

    def encode(
        self,
        position: Sequence[Any],
        sort: Sequence[SortKey],
        *,
        filters: Iterable[Filter] = (),
        search: str | None = None,
    ) -> str:
        body = query_digest(sort, filters, search) + orjson.dumps([_tag(v) for v in position])
        return base64.urlsafe_b64encode(self._sign(body) + body).rstrip(b"=").decode()

    def decode(
        self,
        cursor: str,
        sort: Sequence[SortKey],
        *,
        filters: Iterable[Filter] = (),
        search: str | None = None,
    ) -> tuple[Any, ...]:
        if len(cursor) > MAX_CURSOR_CHARS or not _CURSOR_TEXT.fullmatch(cursor):
            raise _invalid()
        try:
            token = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        except ValueError as error:
            raise _invalid() from error
        signature, body = token[:_SIGNATURE_BYTES], token[_SIGNATURE_BYTES:]
        if len(body) <= _DIGEST_BYTES or not hmac.compare_digest(signature, self._sign(body)):
            raise _invalid()
        if not hmac.compare_digest(body[:_DIGEST_BYTES], query_digest(sort, filters, search)):
            raise _other_query()
        try:
            position = tuple(_untag(item) for item in orjson.loads(body[_DIGEST_BYTES:]))
        except (ValueError, TypeError, KeyError, ArithmeticError) as error:
            raise _invalid() from error
        if len(position) != len(sort):
            raise _invalid()
        return position
