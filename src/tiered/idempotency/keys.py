"""The ``Idempotency-Key`` request header: what a well-formed key is.

The IETF draft (draft-ietf-httpapi-idempotency-key-header) makes the field a
Structured Field String: ``Idempotency-Key: "8e03978e-40d5-43e8"``. Many
clients written against older conventions send the key bare, without quotes,
so a bare run of visible ASCII is accepted too; both spellings of a key are
the same key. Anything else is refused rather than guessed at: a key the
server misreads is a retry it cannot recognise.

A key is 1 to 255 characters of printable ASCII once unquoted. Parameters
(``"k";p=1``), list separators and several ``Idempotency-Key`` fields on one
request are refused, since each could mean more than one key.
"""

from __future__ import annotations

from collections.abc import Sequence

from tiered.idempotency.errors import MALFORMED_KEY, invalid_key

__all__ = [
    "IDEMPOTENCY_KEY_HEADER",
    "KEY_PATTERN",
    "MAX_KEY_LENGTH",
    "parse_idempotency_key",
]

IDEMPOTENCY_KEY_HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 255

_QUOTED_CHARACTER = r'[\x20\x21\x23-\x5b\x5d-\x7e]|\\[\\"]'
_BARE_CHARACTER = r"[\x21\x23-\x2b\x2d-\x3a\x3c-\x5b\x5d-\x7e]"
_COUNT = f"{{1,{MAX_KEY_LENGTH}}}"
KEY_PATTERN = rf'^(?:"(?:{_QUOTED_CHARACTER}){_COUNT}"|{_BARE_CHARACTER}{_COUNT})$'
"""The header's values as a regular expression, for the OpenAPI document."""

_BARE_REFUSED = frozenset('",;\\')


def _unquote(text: str) -> str | None:
    """The content of a Structured Field String (RFC 8941 §3.3.3), ``None`` if it is not one."""
    characters: list[str] = []
    index = 1
    while index < len(text):
        character = text[index]
        if character == "\\":
            escaped = text[index + 1 : index + 2]
            if escaped not in ('"', "\\"):
                return None
            characters.append(escaped)
            index += 2
            continue
        if character == '"':
            return "".join(characters) if index == len(text) - 1 else None
        if not " " <= character <= "~":
            return None
        characters.append(character)
        index += 1
    return None


def _bare(text: str) -> str | None:
    if all("!" <= character <= "~" for character in text) and _BARE_REFUSED.isdisjoint(text):
        return text
    return None


def parse_idempotency_key(values: Sequence[str]) -> str | None:
    """The key the request's ``Idempotency-Key`` fields carry; ``None`` when there is none.

    ``values`` are the field's values, one per header line, as the server
    decoded them (Latin-1). Raises
    :class:`~tiered.idempotency.InvalidIdempotencyKeyError` (a 400) for a
    malformed key.
    """
    if not values:
        return None
    if len(values) > 1:
        raise invalid_key("Send one Idempotency-Key field, not several.")
    text = values[0].strip(" \t")
    key = _unquote(text) if text.startswith('"') else _bare(text)
    if key is None:
        raise invalid_key(MALFORMED_KEY)
    if not 1 <= len(key) <= MAX_KEY_LENGTH:
        raise invalid_key(f"An Idempotency-Key has 1 to {MAX_KEY_LENGTH} characters.")
    return key
