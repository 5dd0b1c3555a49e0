"""Cursor codec: positions round-trip exactly; a cursor decodes only under its own query,
and anything tampered with is a 400."""

from __future__ import annotations

import base64
import enum
import hashlib
import hmac
import uuid
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest

from tiered.errors import InvalidInputError
from tiered.repository import CursorCodec, Filter, Op, SortKey
from tiered.repository.cursor import MAX_CURSOR_CHARS, query_digest

SORT = (SortKey("score", descending=True), SortKey("name"), SortKey("id"))
CODEC = CursorCodec("a-secret-for-the-cursor-tests")
OTHER_QUERY = "belongs to a different query"

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


def _text(token: bytes | bytearray) -> str:
    return base64.urlsafe_b64encode(bytes(token)).rstrip(b"=").decode()


def expect_invalid(
    cursor: str,
    sort: tuple[SortKey, ...] = SORT,
    codec: CursorCodec = CODEC,
    *,
    filters: Sequence[Filter] = (),
    search: str | None = None,
) -> InvalidInputError:
    with pytest.raises(InvalidInputError) as caught:
        codec.decode(cursor, sort, filters=filters, search=search)
    assert caught.value.status == 400
    assert caught.value.code == "INVALID_CURSOR"
    assert [error.pointer for error in caught.value.errors] == ["/cursor"]
    return caught.value


def expect_corrupt(cursor: str, codec: CursorCodec = CODEC) -> None:
    error = expect_invalid(cursor, codec=codec)
    assert OTHER_QUERY not in error.message


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


@pytest.mark.parametrize("index", [0, 5, 15, 16, 20, 23, 24, 30, -1])
def test_a_flipped_byte_is_rejected(index: int) -> None:
    """Signature, query digest and position are all covered by the signature."""
    token = _bytes(_valid())
    token[index] ^= 0x01
    expect_corrupt(_text(token))


@pytest.mark.parametrize("keep", [0, 1, 10, 16, 17, 24, 25, -1])
def test_a_truncated_cursor_is_rejected(keep: int) -> None:
    token = _bytes(_valid())
    expect_corrupt(_text(token[:keep]))


@pytest.mark.parametrize(
    "garbage",
    [
        "",
        "!!!!",
        "not a cursor",
        "%%%%",
        "ä",
        "=",
        "AAAA",
        "a" * 500,
        "eyJ9",
        "\x00",
        "AAAA\x00AAAA",
        "A" * (MAX_CURSOR_CHARS + 1),
        "\uff21\uff22\uff23\uff24",  # fullwidth ABCD: letters to str.isalnum, not base64
        "٣٣٣٣",
    ],
)
def test_garbage_is_rejected(garbage: str) -> None:
    expect_corrupt(garbage)


@pytest.mark.parametrize("suffix", ["\x00", "\n", " ", "=", "é", "\udcff"])
def test_anything_outside_the_cursor_alphabet_is_rejected(suffix: str) -> None:
    """A valid cursor with one foreign character is not silently repaired."""
    expect_corrupt(_valid() + suffix)
    expect_corrupt(suffix + _valid())


def test_a_cursor_signed_with_another_secret_is_rejected() -> None:
    expect_corrupt(_valid(), codec=CursorCodec("another-secret"))
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
    error = expect_invalid(_valid(), sort=other_sort)
    assert OTHER_QUERY in error.message


CREATOR = uuid.UUID(int=42)
FILTERS = (
    Filter.in_("status", ("active", "closed")),
    Filter.eq("creator_id", CREATOR),
    Filter("price", Op.LTE, Decimal("10.50")),
)


def _bound() -> str:
    position = (Decimal("5.25"), "alpha", uuid.UUID(int=1))
    return CODEC.encode(position, SORT, filters=FILTERS, search="engine")


def test_a_cursor_decodes_under_the_query_that_issued_it() -> None:
    position = (Decimal("5.25"), "alpha", uuid.UUID(int=1))
    assert CODEC.decode(_bound(), SORT, filters=FILTERS, search="engine") == position


@pytest.mark.parametrize(
    ("filters", "search"),
    [
        pytest.param((), "engine", id="filters dropped"),
        pytest.param(FILTERS, None, id="search dropped"),
        pytest.param(FILTERS, "Engine", id="other search text"),
        pytest.param(FILTERS[:2], "engine", id="one filter less"),
        pytest.param((*FILTERS, Filter.eq("name", "x")), "engine", id="one filter more"),
        pytest.param(
            (Filter.in_("status", ("active",)), *FILTERS[1:]), "engine", id="other IN values"
        ),
        pytest.param(
            (FILTERS[0], Filter.eq("creator_id", uuid.UUID(int=43)), FILTERS[2]),
            "engine",
            id="other value",
        ),
        pytest.param(
            (FILTERS[0], FILTERS[1], Filter("price", Op.GTE, Decimal("10.50"))),
            "engine",
            id="other operator",
        ),
        pytest.param(
            (FILTERS[0], Filter.eq("owner_id", CREATOR), FILTERS[2]), "engine", id="other field"
        ),
        pytest.param(
            (FILTERS[0], Filter.eq("creator_id", str(CREATOR)), FILTERS[2]),
            "engine",
            id="same text, other type",
        ),
    ],
)
def test_a_cursor_reused_with_another_query_says_so(
    filters: tuple[Filter, ...], search: str | None
) -> None:
    error = expect_invalid(_bound(), filters=filters, search=search)
    assert OTHER_QUERY in error.message
    assert [item.detail for item in error.errors] == ["belongs to a different query"]


def test_the_order_of_filters_and_of_in_values_does_not_matter() -> None:
    shuffled = (
        FILTERS[2],
        Filter.in_("status", ("closed", "active")),
        FILTERS[1],
    )
    assert CODEC.decode(_bound(), SORT, filters=shuffled, search="engine")


def test_enum_filter_values_bind_by_value() -> None:
    class Status(enum.Enum):
        ACTIVE = "active"
        CLOSED = "closed"

    cursor = CODEC.encode((1, "a", 2), SORT, filters=[Filter.in_("status", [Status.ACTIVE])])
    assert CODEC.decode(cursor, SORT, filters=[Filter.in_("status", ["active"])])
    expect_invalid(cursor, filters=[Filter.in_("status", [Status.CLOSED])])


def test_a_filter_value_of_any_type_can_be_bound() -> None:
    odd = Filter.eq("path", object.__new__(_Opaque))
    cursor = CODEC.encode((1, "a", 2), SORT, filters=[odd])
    assert CODEC.decode(cursor, SORT, filters=[odd])
    expect_invalid(cursor)


class _Opaque:
    def __str__(self) -> str:
        return "opaque"


def test_the_query_adds_a_fixed_eight_bytes_however_long_it_is() -> None:
    position = (Decimal("5.25"), "alpha", uuid.UUID(int=1))
    unbound = CODEC.encode(position, SORT)
    long_query = [Filter.eq(f"field_{index}", "x" * 100) for index in range(20)]
    assert len(CODEC.encode(position, SORT, filters=long_query, search="y" * 200)) == len(unbound)
    payload = b'[["n","5.25"],["s","alpha"],["u","00000000-0000-0000-0000-000000000001"]]'
    assert len(_bytes(unbound)) == 16 + 8 + len(payload)


def _signed(payload: bytes, digest: bytes | None = None) -> str:
    key = hmac.new(b"a-secret-for-the-cursor-tests", b"tiered.cursor.v2", hashlib.sha256).digest()
    body = (query_digest(SORT) if digest is None else digest) + payload
    return _text(hmac.new(key, body, hashlib.sha256).digest()[:16] + body)


def test_a_signed_payload_of_the_wrong_shape_is_rejected() -> None:
    """Even a validly signed payload must decode to the sort's positions."""
    control = b'[["n","5.25"],["s","a"],["i",1]]'
    assert CODEC.decode(_signed(control), SORT) == (Decimal("5.25"), "a", 1)
    for payload in (
        b"",
        b'[["s","a"]]',
        b'[["q",1],["s","a"],["z",null]]',
        b'[["t","not a date"],["s","a"],["z",null]]',
        b'[["n","abc"],["s","a"],["z",null]]',
        b'[["i","abc"],["s","a"],["z",null]]',
        b'[["u","abc"],["s","a"],["z",null]]',
        b'[[["s"],"a"],["s","a"],["z",null]]',
        b'[["s"],["s","a"],["z",null]]',
        b"5",
        b"{}",
        b"not json",
    ):
        expect_corrupt(_signed(payload))
    error = expect_invalid(_signed(control, digest=b"\x00" * 8))
    assert OTHER_QUERY in error.message
