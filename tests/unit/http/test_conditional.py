from __future__ import annotations

import pytest
from starlette.requests import Request

from tiered.errors import InvalidInputError, PreconditionFailedError
from tiered.http.conditional import etag_for, expected_version, is_not_modified, not_modified


def _request(if_none_match: str | None) -> Request:
    headers = [] if if_none_match is None else [(b"if-none-match", if_none_match.encode())]
    return Request({"type": "http", "headers": headers})


def test_etag_is_the_quoted_version() -> None:
    assert etag_for(7) == '"7"'


@pytest.mark.parametrize(
    ("header", "version"),
    [(None, None), ("*", None), ('"3"', 3), ('W/"3"', 3), (' "12" ', 12)],
)
def test_if_match_gives_the_expected_version(header: str | None, version: int | None) -> None:
    assert expected_version(header) == version


@pytest.mark.parametrize("header", ["3", '"1", "2"', "", '"'])
def test_malformed_if_match_is_400(header: str) -> None:
    with pytest.raises(InvalidInputError) as raised:
        expected_version(header)
    assert raised.value.code == "INVALID_IF_MATCH"


def test_if_match_of_another_kind_of_tag_never_matches() -> None:
    with pytest.raises(PreconditionFailedError):
        expected_version('"abc"')


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, False),
        ('"2"', True),
        ('"1", "2"', True),
        ('W/"2"', True),
        ("*", True),
        ('"1"', False),
    ],
)
def test_if_none_match(header: str | None, expected: bool) -> None:
    assert is_not_modified(_request(header), etag_for(2)) is expected


def test_not_modified_response() -> None:
    response = not_modified('"2"')
    assert response.status_code == 304
    assert response.headers["etag"] == '"2"'
    assert response.body == b""
