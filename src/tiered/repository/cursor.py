"""Opaque, signed pagination cursors.

A cursor is the previous page's last sort-key values, bound to the sort it was
made for and signed with HMAC-SHA256: a client can hold it but not forge or
edit it (a tampered cursor is a 400, never a wrong page or a SQL error).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Callable, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

import orjson

from tiered.errors import FieldError, InvalidInputError
from tiered.repository.query import SortKey

__all__ = ["CursorCodec"]

_SIGNATURE_BYTES = 16
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


def _invalid() -> InvalidInputError:
    return InvalidInputError(
        "The cursor is invalid or was made for another query.",
        code="INVALID_CURSOR",
        errors=[FieldError("/cursor", "invalid cursor", "query")],
    )


class CursorCodec:
    """Encodes positions for one secret; derive the secret from the app's settings."""

    def __init__(self, secret: bytes | str) -> None:
        key = secret.encode() if isinstance(secret, str) else secret
        self._key = hmac.new(key, b"tiered.cursor.v1", hashlib.sha256).digest()

    def _sign(self, payload: bytes) -> bytes:
        return hmac.new(self._key, payload, hashlib.sha256).digest()[:_SIGNATURE_BYTES]

    def encode(self, position: Sequence[Any], sort: Sequence[SortKey]) -> str:
        payload = orjson.dumps([[str(key) for key in sort], [_tag(value) for value in position]])
        token = self._sign(payload) + payload
        return base64.urlsafe_b64encode(token).rstrip(b"=").decode()

    def decode(self, cursor: str, sort: Sequence[SortKey]) -> tuple[Any, ...]:
        try:
            token = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        except (ValueError, TypeError) as error:
            raise _invalid() from error
        signature, payload = token[:_SIGNATURE_BYTES], token[_SIGNATURE_BYTES:]
        if len(signature) < _SIGNATURE_BYTES or not hmac.compare_digest(
            signature, self._sign(payload)
        ):
            raise _invalid()
        try:
            made_for, tagged = orjson.loads(payload)
            position = tuple(_untag(item) for item in tagged)
        except (ValueError, TypeError, KeyError, ArithmeticError) as error:
            raise _invalid() from error
        if made_for != [str(key) for key in sort] or len(position) != len(sort):
            raise _invalid()
        return position
