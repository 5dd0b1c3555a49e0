"""Cursor codec: positions round-trip exactly; anything tampered with is a 400."""

from __future__ import annotations

import base64
import uuid
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest

from tiered.errors import InvalidInputError
from tiered.repository import CursorCodec, SortKey

SORT = (SortKey("score", descending=True), SortKey("name"), SortKey("id"))
CODEC = CursorCodec("a-secret-for-the-cursor-tests")

VALUES: list[Any] = [
    0,
    -42,
    2**62,
    "",
    'naïve → ünïcode, "quotes" and ,commas',
    Decimal("1234.5000"),
    Decimal("-0.0001"),
    Decimal("1E+30"),
    uuid.UUID("12345678-1234-5678-1234-567812345678"),
    datetime(2024, 3, 1, 12, 30, 15, 123456, tzinfo=UTC),
    datetime(2024, 3, 1, 12, 30, tzinfo=timezone(timedelta(hours=-5, minutes=-30))),
    datetime(2024, 3, 1, 12, 30, 15, 1),
    date(2024, 2, 29),
    True,
    False,
    None,
    1.25,
]


def _bytes(cursor: str) -> bytearray:
    return bytearray(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))


def _text(token: bytes) -> str:
    return base64.urlsafe_b64encode(bytes(token)).rstrip(b"=").decode()


def expect_invalid(
    cursor: str, sort: tuple[SortKey, ...] = SORT, codec: CursorCodec = CODEC
) -> None:
    with pytest.raises(InvalidInputError) as caught:
        codec.decode(cursor, sort)
    assert caught.value.status == 400
    assert caught.value.code == "INVALID_CURSOR"
    assert caught.value.errors


@pytest.mark.parametrize("value", VALUES, ids=repr)
def test_every_supported_value_round_trips_with_its_type(value: Any) -> None:
    position = (value, "name", uuid.UUID(int=7))
    decoded = CODEC.decode(CODEC.encode(position, SORT), SORT)
    assert decoded == position
    assert [type(item) for item in decoded] == [type(item) for item in position]
    if isinstance(value, datetime):
        assert decoded[0].tzinfo == value.tzinfo
        assert decoded[0].utcoffset() == value.utcoffset()
    if isinstance(value, Decimal):
        assert str(decoded[0]) == str(value)


def test_a_datetime_is_not_confused_with_a_date() -> None:
    position = (date(2024, 1, 2), datetime(2024, 1, 2), None)
    decoded = CODEC.decode(CODEC.encode(position, SORT), SORT)
    assert type(decoded[0]) is date
    assert type(decoded[1]) is datetime


def test_a_cursor_is_opaque_and_url_safe() -> None:
    cursor = CODEC.encode((Decimal("5.25"), "alpha", uuid.UUID(int=1)), SORT)
    assert "alpha" not in cursor
    assert set(cursor) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def test_an_unsupported_value_cannot_be_encoded() -> None:
    with pytest.raises(TypeError):
        CODEC.encode((object(), "x", 1), SORT)


def _valid() -> str:
    return CODEC.encode((Decimal("5.25"), "alpha", uuid.UUID(int=1)), SORT)


@pytest.mark.parametrize("index", [0, 5, 15, 16, 20, -1])
def test_a_flipped_byte_is_rejected(index: int) -> None:
    token = _bytes(_valid())
    token[index] ^= 0x01
    expect_invalid(_text(token))


@pytest.mark.parametrize("keep", [0, 1, 10, 16, 17, -1])
def test_a_truncated_cursor_is_rejected(keep: int) -> None:
    token = _bytes(_valid())
    expect_invalid(_text(token[:keep]))


@pytest.mark.parametrize(
    "garbage", ["", "!!!!", "not a cursor", "%%%%", "ä", "=", "AAAA", "a" * 500, "eyJ9"]
)
def test_garbage_is_rejected(garbage: str) -> None:
    expect_invalid(garbage)


def test_a_cursor_signed_with_another_secret_is_rejected() -> None:
    expect_invalid(_valid(), codec=CursorCodec("another-secret"))
    assert CursorCodec(b"a-secret-for-the-cursor-tests").decode(_valid(), SORT)


@pytest.mark.parametrize(
    "other_sort",
    [
        (SortKey("score"), SortKey("name"), SortKey("id")),
        (SortKey("name"), SortKey("score", descending=True), SortKey("id")),
        (SortKey("score", descending=True), SortKey("name")),
        (SortKey("score", descending=True), SortKey("name"), SortKey("id"), SortKey("x")),
    ],
)
def test_a_cursor_made_for_another_sort_is_rejected(other_sort: tuple[SortKey, ...]) -> None:
    expect_invalid(_valid(), sort=other_sort)


def test_a_signed_payload_of_the_wrong_shape_is_rejected() -> None:
    """Even a validly signed payload must decode to the sort's positions."""
    import hashlib
    import hmac

    key = hmac.new(b"a-secret-for-the-cursor-tests", b"tiered.cursor.v1", hashlib.sha256).digest()

    def signed(payload: bytes) -> str:
        return _text(hmac.new(key, payload, hashlib.sha256).digest()[:16] + payload)

    control = b'[["-score","name","id"],[["n","5.25"],["s","a"],["i",1]]]'
    assert CODEC.decode(signed(control), SORT) == (Decimal("5.25"), "a", 1)
    for payload in (
        b'[["-score","name","id"],[["s","a"]]]',
        b'[["-score","name","id"],[["q",1],["s","a"],["z",null]]]',
        b'[["-score","name","id"],[["t","not a date"],["s","a"],["z",null]]]',
        b'[["-score","name","id"]]',
        b'[["-score","name","id"],[["n","abc"],["s","a"],["z",null]]]',
        b'[["-score","name","id"],[["i","abc"],["s","a"],["z",null]]]',
        b'[["-score","name","id"],[["u","abc"],["s","a"],["z",null]]]',
        b'[["-score","name","id"],[[["s"],"a"],["s","a"],["z",null]]]',
        b'[["-score","name","id"],[["s"],["s","a"],["z",null]]]',
        b'[["-score","name","id"],5]',
        b"{}",
        b"not json",
    ):
        expect_invalid(signed(payload))
