from __future__ import annotations

import re

import pytest
from starlette.requests import Request

from tiered.errors import InvalidInputError, PreconditionFailedError
from tiered.http.conditional import (
    EntityTag,
    etag_of,
    is_not_modified,
    not_modified,
    parse_entity_tags,
    representation,
    require_if_match,
)

BODY = b'{"success":true,"data":{"name":"Ada"},"meta":null}'
ETAG = etag_of(BODY)
OPAQUE = ETAG.strip('"')


def _request(if_none_match: str | None) -> Request:
    headers = [] if if_none_match is None else [(b"if-none-match", if_none_match.encode())]
    return Request({"type": "http", "headers": headers})


def test_etag_is_a_strong_hash_of_the_exact_bytes() -> None:
    assert re.fullmatch(r'"[A-Za-z0-9_-]{22}"', ETAG)
    assert etag_of(BODY) == ETAG
    assert etag_of(BODY.replace(b"Ada", b"Ida")) != ETAG
    assert etag_of(BODY + b" ") != ETAG  # bytes, not meaning: a strong validator


@pytest.mark.parametrize(
    ("header", "tags"),
    [
        ("*", None),
        (' "a" ', (EntityTag('"a"'),)),
        ('W/"a"', (EntityTag('"a"', weak=True),)),
        ('"a", W/"b",,"c"', (EntityTag('"a"'), EntityTag('"b"', True), EntityTag('"c"'))),
        ('"a,b"', (EntityTag('"a,b"'),)),
        ('""', (EntityTag('""'),)),
    ],
)
def test_entity_tag_lists_parse(header: str, tags: tuple[EntityTag, ...] | None) -> None:
    assert parse_entity_tags(header) == tags


@pytest.mark.parametrize("header", ["3", "", '"', '"a" "b"', 'w/"a"', '"a", *', 'W/ "a"', '"a"b'])
def test_malformed_entity_tag_lists_are_refused(header: str) -> None:
    with pytest.raises(ValueError, match="entity-tag"):
        parse_entity_tags(header)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, False),
        (ETAG, True),
        (f'"other", {ETAG}', True),
        (f"W/{ETAG}", True),  # weak comparison: W/ is ignored
        ("*", True),
        ('"other"', False),
        (OPAQUE, False),  # unquoted: malformed, so no match
        ("garbage, ,", False),
    ],
)
def test_if_none_match_compares_weakly(header: str | None, expected: bool) -> None:
    assert is_not_modified(_request(header), ETAG) is expected


@pytest.mark.parametrize("header", [None, ETAG, f'"other", {ETAG}', "*", f" {ETAG} "])
def test_if_match_passes(header: str | None) -> None:
    require_if_match(header, ETAG)


@pytest.mark.parametrize("header", ['"other"', f"W/{ETAG}", f'W/{ETAG}, "x"', '""'])
def test_if_match_compares_strongly(header: str) -> None:
    with pytest.raises(PreconditionFailedError) as failed:
        require_if_match(header, ETAG)
    assert failed.value.status == 412
    assert failed.value.details == {"etag": ETAG}


def test_a_weak_current_etag_never_matches_a_tag() -> None:
    with pytest.raises(PreconditionFailedError):
        require_if_match(ETAG, f"W/{ETAG}")
    require_if_match("*", f"W/{ETAG}")


@pytest.mark.parametrize("header", ["*", ETAG])
def test_if_match_fails_when_there_is_no_current_representation(header: str) -> None:
    with pytest.raises(PreconditionFailedError):
        require_if_match(header, None)
    require_if_match(None, None)


@pytest.mark.parametrize("header", ["3", '"1" "2"', "", '"', "W/"])
def test_malformed_if_match_is_400(header: str) -> None:
    with pytest.raises(InvalidInputError) as raised:
        require_if_match(header, ETAG)
    assert raised.value.code == "INVALID_IF_MATCH"
    assert [error.pointer for error in raised.value.errors] == ["/If-Match"]


def test_not_modified_response() -> None:
    response = not_modified(ETAG, {"Cache-Control": "no-cache"})
    assert response.status_code == 304
    assert response.headers["etag"] == ETAG
    assert response.headers["cache-control"] == "no-cache"
    assert response.body == b""


def test_representation_sends_the_bytes_with_their_etag() -> None:
    response = representation(_request(None), BODY, headers={"Cache-Control": "no-cache"})
    assert (response.status_code, response.body) == (200, BODY)
    assert response.headers["etag"] == ETAG
    assert response.headers["content-type"] == "application/json"
    assert response.headers["cache-control"] == "no-cache"


def test_representation_is_304_when_the_client_has_it() -> None:
    response = representation(_request(f"W/{ETAG}"), BODY)
    assert (response.status_code, response.body, response.headers["etag"]) == (304, b"", ETAG)
    changed = representation(_request(ETAG), BODY.replace(b"Ada", b"Ida"))
    assert changed.status_code == 200
    assert changed.headers["etag"] != ETAG
