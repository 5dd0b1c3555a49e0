"""The redaction processor: what it masks, what it keeps, and that it never mutates."""

from __future__ import annotations

import copy
from collections import namedtuple
from types import MappingProxyType
from typing import Any

import pytest

from tiered.observability.redaction import (
    REDACTED,
    is_secret_key,
    redact_secrets,
    redact_value,
)

JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiI0MiJ9.c2lnbmF0dXJlLXZhbHVl"


def _redact(event: dict[str, Any]) -> dict[str, Any]:
    return dict(redact_secrets(None, "info", event))


@pytest.mark.parametrize(
    "name",
    [
        "password",
        "Password",
        "new_password",
        "passwd",
        "db_pwd",
        "client_secret",
        "SECRET_KEY",
        "access_token",
        "refresh-token",
        "api_key",
        "X-API-Key",
        "apikey",
        "Authorization",
        "proxy-authorization",
        "cookie",
        "Set-Cookie",
        "credentials",
        "private_key",
        "jwt",
        "session",
        "SessionId",
    ],
)
def test_secret_key_names_are_recognised(name: str) -> None:
    assert is_secret_key(name)


@pytest.mark.parametrize(
    "name",
    ["event", "level", "timestamp", "logger", "request_id", "user", "email", "path", "author"],
)
def test_innocent_key_names_are_not_secret(name: str) -> None:
    assert not is_secret_key(name)


def test_values_under_secret_keys_are_replaced_at_any_depth() -> None:
    event = {
        "event": "login",
        "password": "hunter2",
        "headers": {"Authorization": "Basic dXNlcjpwdw==", "accept": "application/json"},
        "items": [{"refresh_token": "rt-1"}, ("x", {"api_key": "k-1"})],
    }

    out = _redact(event)

    assert out == {
        "event": "login",
        "password": REDACTED,
        "headers": {"Authorization": REDACTED, "accept": "application/json"},
        "items": [{"refresh_token": REDACTED}, ("x", {"api_key": REDACTED})],
    }


def test_none_and_booleans_under_secret_keys_are_kept() -> None:
    out = _redact({"event": "e", "token": None, "token_valid": False})

    assert out == {"event": "e", "token": None, "token_valid": False}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Bearer abc.def-ghi", f"Bearer {REDACTED}"),
        ("sent bearer abc123 upstream", f"sent bearer {REDACTED} upstream"),
        ("Basic dXNlcjpwYXNz", f"Basic {REDACTED}"),
        ("Authorization=Bearer abc", f"Authorization={REDACTED} {REDACTED}"),
        ("key tk_abcd1234_supersecretvalue used", f"key tk_abcd1234_{REDACTED} used"),
        ("tk_ab12_s3cr-et_x", f"tk_ab12_{REDACTED}"),
        (JWT, REDACTED),
        (f"token was {JWT}.", f"token was {REDACTED}."),
        (
            "GET /login?user=bob&password=hunter2&x=1",
            f"GET /login?user=bob&password={REDACTED}&x=1",
        ),
        ("https://h/cb?access_token=abc#frag", f"https://h/cb?access_token={REDACTED}#frag"),
        ("token=abc", f"token={REDACTED}"),
        (
            "postgresql+asyncpg://app:s3cret@db:5432/x",
            f"postgresql+asyncpg://app:{REDACTED}@db:5432/x",
        ),
    ],
)
def test_credential_shaped_strings_are_masked_under_any_key(text: str, expected: str) -> None:
    assert _redact({"event": "e", "note": text})["note"] == expected


@pytest.mark.parametrize(
    "text",
    [
        "request finished",
        "GET /markets/42?page=2&size=10",
        "https://example.com/docs",
        "mailto:bob@example.com",
        "a" * 500,
        "password=",
    ],
)
def test_clean_strings_are_returned_unchanged(text: str) -> None:
    assert redact_value(text) is text


def test_header_pairs_are_masked_like_asgi_and_http_client_headers() -> None:
    headers = [(b"authorization", b"Bearer abc"), (b"accept", b"*/*"), ("cookie", "sid=1")]

    assert redact_value(headers) == [
        (b"authorization", REDACTED),
        (b"accept", b"*/*"),
        ("cookie", REDACTED),
    ]


def test_bytes_values_are_masked_and_stay_bytes() -> None:
    assert redact_value(b"Bearer abc") == f"Bearer {REDACTED}".encode()


def test_other_mappings_are_walked_too() -> None:
    headers = MappingProxyType({"authorization": "Bearer abc", "accept": "*/*"})

    assert redact_value(headers) == {"authorization": REDACTED, "accept": "*/*"}


def test_namedtuples_keep_their_type() -> None:
    pair = namedtuple("pair", "left right")
    out = redact_value(pair("x", "Bearer abc"))

    assert isinstance(out, pair)
    assert out == pair("x", f"Bearer {REDACTED}")


def test_input_is_never_mutated() -> None:
    event: dict[str, Any] = {
        "event": "call",
        "password": "p",
        "headers": {"authorization": "Bearer abc"},
        "tokens": ["x", {"token": "t"}],
        "pairs": (("api_key", "k"),),
        "note": "tk_abcd1234_supersecretvalue",
    }
    before = copy.deepcopy(event)
    headers, tokens = event["headers"], event["tokens"]

    out = redact_secrets(None, "info", event)

    assert event == before
    assert out is not event
    assert event["headers"] is headers
    assert event["tokens"] is tokens


def test_clean_events_are_not_copied() -> None:
    inner = {"status": 200, "path": "/x"}
    event = {"event": "request finished", "http": inner, "ids": [1, 2, 3]}

    out = redact_secrets(None, "info", event)

    assert out is event
    assert out["http"] is inner


def test_cycles_and_deep_nesting_are_cut_off_instead_of_crashing() -> None:
    cyclic: list[Any] = ["Bearer abc"]
    cyclic.append(cyclic)

    out = redact_value(cyclic)

    assert out[0] == f"Bearer {REDACTED}"
    depth, node = 0, out
    while isinstance(node, list):
        node, depth = node[1], depth + 1
    assert node == REDACTED
    assert depth < 64
