"""The Idempotency-Key header: which values are keys, and which key each one is."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tiered.idempotency import (
    MAX_KEY_LENGTH,
    InvalidIdempotencyKeyError,
    parse_idempotency_key,
)
from tiered.idempotency.keys import KEY_PATTERN

PATTERN = re.compile(KEY_PATTERN)


@pytest.mark.parametrize(
    ("value", "key"),
    [
        ('"8e03978e-40d5-43e8-bc93-6894a57f9324"', "8e03978e-40d5-43e8-bc93-6894a57f9324"),
        ("8e03978e-40d5-43e8-bc93-6894a57f9324", "8e03978e-40d5-43e8-bc93-6894a57f9324"),
        ('"with space"', "with space"),
        ('"quote \\" and backslash \\\\"', 'quote " and backslash \\'),
        ('  "padded"  ', "padded"),
        ('"a,b;c"', "a,b;c"),
        ("base64+/=", "base64+/="),
        ('"' + "k" * MAX_KEY_LENGTH + '"', "k" * MAX_KEY_LENGTH),
        ('"' + "\\\\" * MAX_KEY_LENGTH + '"', "\\" * MAX_KEY_LENGTH),
    ],
)
def test_well_formed_keys(value: str, key: str) -> None:
    assert parse_idempotency_key([value]) == key
    assert PATTERN.fullmatch(value.strip())


@pytest.mark.parametrize(
    "value",
    [
        "",
        '""',
        '"',
        '"open',
        '"a"b"',
        '"a" "b"',
        '"k";p=1',
        "a,b",
        "a;b",
        "two words",
        '"bad \\n escape"',
        "back\\slash",
        '"tab\tinside"',
        '"é"',
        "é",
        "\x00",
        '"' + "k" * (MAX_KEY_LENGTH + 1) + '"',
        "k" * (MAX_KEY_LENGTH + 1),
    ],
)
def test_malformed_keys_are_a_400(value: str) -> None:
    with pytest.raises(InvalidIdempotencyKeyError) as caught:
        parse_idempotency_key([value])
    assert caught.value.status == 400
    assert caught.value.errors[0].location == "header"
    assert not PATTERN.fullmatch(value.strip(" \t"))


def test_no_field_is_no_key() -> None:
    assert parse_idempotency_key([]) is None


def test_several_fields_are_refused_even_when_equal() -> None:
    with pytest.raises(InvalidIdempotencyKeyError, match="one Idempotency-Key"):
        parse_idempotency_key(["a", "a"])


@given(st.text(alphabet=st.characters(max_codepoint=0xFF), max_size=300))
def test_the_documented_pattern_accepts_exactly_what_the_parser_does(value: str) -> None:
    try:
        parse_idempotency_key([value])
    except InvalidIdempotencyKeyError:
        accepted = False
    else:
        accepted = True
    assert accepted == bool(PATTERN.fullmatch(value.strip(" \t")))


@given(
    st.text(
        alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E),
        min_size=1,
        max_size=MAX_KEY_LENGTH,
    )
)
def test_every_printable_key_survives_quoting(key: str) -> None:
    quoted = '"' + key.replace("\\", "\\\\").replace('"', '\\"') + '"'
    assert parse_idempotency_key([quoted]) == key
