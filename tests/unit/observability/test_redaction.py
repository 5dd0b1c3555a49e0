"""The redaction processor: what it masks, what it keeps, and that it never mutates."""

from __future__ import annotations

import copy
import dataclasses
import json
from collections import namedtuple
from types import MappingProxyType
from typing import Any

import attrs
import pytest
from pydantic import BaseModel, ValidationError

from tiered.observability import redaction
from tiered.observability.redaction import (
    REDACTED,
    is_secret_key,
    redact_secrets,
    redact_value,
)

JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiI0MiJ9.c2lnbmF0dXJlLXZhbHVl"


@dataclasses.dataclass
class Creds:
    user: str
    password: str


@dataclasses.dataclass(slots=True, frozen=True)
class FrozenKey:
    owner: str
    api_key: str
    nested: Any = None


@attrs.define
class AttrsToken:
    owner: str
    refresh_token: str


class Login(BaseModel):
    username: str
    password: str


class Envelope(BaseModel):
    login: Login
    keys: list[FrozenKey]
    note: str


class StrictLogin(BaseModel):
    password: int


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
        "PASSPHRASE",
        "jwt_secret",
        "cursor_secret",
        "Client-Secret",
        "x-api-key",
        "X_API_KEY",
        "ACCESS-TOKEN",
        "privkey",
        "auth",
        "pw",
        "pin",
        "otp",
    ],
)
def test_secret_key_names_are_recognised(name: str) -> None:
    assert is_secret_key(name)


@pytest.mark.parametrize(
    "name",
    [
        "event",
        "level",
        "timestamp",
        "logger",
        "request_id",
        "user",
        "email",
        "path",
        "author",
        "passenger",
        "keyboard",
        "idempotency_key",
        "mapping",
        "footprint",
    ],
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
        ("redis://:s3cret@cache:6379/0", f"redis://:{REDACTED}@cache:6379/0"),
        ("rediss://:s3cret@cache:6380", f"rediss://:{REDACTED}@cache:6380"),
        ("amqp://guest:guest@mq:5672//", f"amqp://guest:{REDACTED}@mq:5672//"),
        ("redis://:p@ss@cache/0 bob@example.com", f"redis://:{REDACTED}@cache/0 bob@example.com"),
        ("BeArEr xyz", f"BeArEr {REDACTED}"),
        ("BASIC dXNlcjpwYXNz", f"BASIC {REDACTED}"),
        ('{"password": "p w", "user": "bob"}', f'{{"password": "{REDACTED}", "user": "bob"}}'),
        ("{'api_key': 'k1', 'n': 1}", f"{{'api_key': '{REDACTED}', 'n': 1}}"),
        ('{\\"token\\": \\"t1\\"}', f'{{\\"token\\": \\"{REDACTED}\\"}}'),
        ('"tokens": ["a", "b"], "n": 1', f'"tokens": {REDACTED}, "n": 1'),
        ("Creds(user='u', password='p w')", f"Creds(user='u', password='{REDACTED}')"),
        ('RuntimeError: bad {"secret": "s1"}', f'RuntimeError: bad {{"secret": "{REDACTED}"}}'),
        ("X-Api-Key: k1\nAccept: */*", f"X-Api-Key: {REDACTED}\nAccept: */*"),
        ("Authorization: Token abc", f"Authorization: {REDACTED}"),
        ("password: hunter2, user: bob", f"password: {REDACTED}, user: bob"),
        ("user[password]=x&a=1", f"user[password]={REDACTED}&a=1"),
        (
            "[(b'authorization', b'Bearer x'), (b'cookie', b'sid=1'), (b'accept', b'*/*')]",
            f"[(b'authorization', b'{REDACTED}'), (b'cookie', b'{REDACTED}'), (b'accept', b'*/*')]",
        ),
        (
            "[type=int_parsing, input_value='hunter2', input_type=str]",
            f"[type=int_parsing, input_value={REDACTED}, input_type=str]",
        ),
        (
            '[{"loc":["password"],"input":"hunter2"}]',
            f'[{{"loc":["password"],"input":"{REDACTED}"}}]',
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
        '"password": ""',
        '"token": null',
        "2026-11-29T11:50:43.586873Z",
        "https://cache:6379/0",
        "KeyError: 'token'",
        "token == expected",
        "mapping: done, keys: 3",
        "input=3",
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


def test_a_quote_escaped_at_any_depth_does_not_end_a_value() -> None:
    body = json.dumps({"password": 'left"right', "note": "kept"})

    for text in (body, repr({"body": body}), json.dumps(repr([body]))):
        out = redact_value(text)
        assert "left" not in out
        assert "right" not in out
        assert "kept" in out


def test_header_pairs_in_lists_are_masked_like_json_decoded_scopes() -> None:
    headers = [["authorization", "Bearer abc"], [b"cookie", b"sid=1"], ["accept", "*/*"]]

    assert redact_value(headers) == [
        ["authorization", REDACTED],
        [b"cookie", REDACTED],
        ["accept", "*/*"],
    ]


def test_dataclasses_become_dicts_redacted_by_field_name() -> None:
    out = redact_value({"creds": Creds(user="bob", password="hunter2")})

    assert out == {"creds": {"user": "bob", "password": REDACTED}}


def test_slotted_frozen_dataclasses_and_attrs_classes_are_converted_too() -> None:
    out = redact_value([FrozenKey(owner="bob", api_key="k1"), AttrsToken("eve", "rt")])

    assert out == [
        {"owner": "bob", "api_key": REDACTED, "nested": None},
        {"owner": "eve", "refresh_token": REDACTED},
    ]


def test_clean_dataclasses_are_still_converted_so_no_renderer_sees_the_object() -> None:
    out = redact_value(FrozenKey(owner="bob", api_key="", nested=Creds("u", "p")))

    assert out == {
        "owner": "bob",
        "api_key": REDACTED,
        "nested": {"user": "u", "password": REDACTED},
    }


def test_pydantic_models_are_converted_recursively() -> None:
    """`Envelope.keys` is a field, not the mapping protocol: the conversion must not care."""
    envelope = Envelope(
        login=Login(username="bob", password="hunter2"),
        keys=[FrozenKey(owner="eve", api_key="k1")],
        note="sent Bearer abc",
    )

    assert redact_value(envelope) == {
        "login": {"username": "bob", "password": REDACTED},
        "keys": [{"owner": "eve", "api_key": REDACTED, "nested": None}],
        "note": f"sent Bearer {REDACTED}",
    }


def test_pydantic_error_details_lose_the_rejected_input() -> None:
    with pytest.raises(ValidationError) as caught:
        StrictLogin(password="hunter2")

    (error,) = redact_value(caught.value.errors())
    assert error["input"] == REDACTED
    assert error["loc"] == ("password",)
    assert "hunter2" not in redact_value(str(caught.value))
    assert "hunter2" not in redact_value(caught.value.json())


def test_namedtuple_fields_are_masked_by_name() -> None:
    pair = namedtuple("pair", "user password")

    out = redact_value(pair("bob", "hunter2"))

    assert isinstance(out, pair)
    assert out == pair("bob", REDACTED)


def test_other_objects_are_reduced_to_their_masked_repr() -> None:
    class Client:
        def __repr__(self) -> str:
            return "Client(base='https://u:pw@h', password='hunter2')"

    assert redact_value(Client()) == f"Client(base='https://u:{REDACTED}@h', password='{REDACTED}')"


def test_structlog_aware_objects_render_through_their_hook() -> None:
    class Session:
        def __structlog__(self) -> dict[str, str]:
            return {"user": "bob", "token": "t1"}

    assert redact_value(Session()) == {"user": "bob", "token": REDACTED}


def test_an_object_that_cannot_be_rendered_does_not_break_redaction() -> None:
    class Broken:
        def __repr__(self) -> str:
            raise RuntimeError("no repr")

    assert redact_value({"x": Broken()}) == {"x": "<Broken (unrenderable)>"}


def test_sets_are_masked() -> None:
    assert redact_value({"Bearer abc"}) == [f"Bearer {REDACTED}"]
    clean = frozenset({1, 2})
    assert redact_value(clean) is clean


def test_secret_shaped_keys_are_masked_too() -> None:
    out = redact_value({"tk_ab12_x9y8z7w6": 1, "ok": 2})

    assert out == {f"tk_ab12_{REDACTED}": 1, "ok": 2}


def test_every_secret_key_name_passes_the_text_prefilter() -> None:
    """A key name the prefilter misses would never be looked for in strings."""
    for name in (*redaction._SECRET_KEY_FRAGMENTS, *redaction._SECRET_KEY_NAMES):
        assert redaction._SECRET_KEY_HINT.search(name), name
        assert redact_value(f"{name}=s3cret") == f"{name}={REDACTED}"


def test_the_clean_text_cache_is_bounded() -> None:
    for number in range(redaction._CACHE_SIZE + 10):
        redact_value(f"clean value {number}")

    assert 0 < len(redaction._CLEAN_TEXT) <= redaction._CACHE_SIZE
    assert redact_value("clean value 3") == "clean value 3"
