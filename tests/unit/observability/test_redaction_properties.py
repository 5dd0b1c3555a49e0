"""Property: whatever shape hides a secret, the real pipeline never prints it.

Each example hides a random secret in a randomly nested structure, logs it
through `configure_logging` (JSON and console) by one of the ways code logs
(a field, the event text, an exception, a stdlib logger) and checks the
captured output. A marker logged beside the secret must come out, so that a
pipeline that printed nothing, or masked everything, fails too.

Secrets are drawn from upper-case consonants and markers from lower-case
letters that spell no secret-looking word, so neither can appear in the
output by accident, nor be masked for the wrong reason.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import io
import json
import logging
from collections.abc import Callable
from typing import Any

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from tiered.observability import configure_logging, get_logger

pytestmark = pytest.mark.usefixtures("isolated_logging")

PROPERTY_SETTINGS = settings(
    max_examples=100,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)

SECRET_ALPHABET = "BFGHJKLMNPQSVWXZ"
MARKER_ALPHABET = "bdfghlmqruvxyz"
SECRET_KEYS = (
    "password",
    "passwd",
    "new_password",
    "passphrase",
    "secret",
    "client_secret",
    "jwt_secret",
    "cursor_secret",
    "token",
    "access_token",
    "refresh_token",
    "api_key",
    "apikey",
    "x-api-key",
    "authorization",
    "proxy-authorization",
    "cookie",
    "set-cookie",
    "private_key",
    "credentials",
)
INNOCENT_KEYS = ("data", "payload", "items", "context", "detail", "body")
URL_SCHEMES = ("postgresql+asyncpg", "postgresql", "redis", "rediss", "amqp", "https")
# Characters a secret may carry where a quoted or structured form delimits it.
QUOTED_DECORATIONS = ("", " ", "'", '"', "@", ",", "}", "&", "=", "\\", "\n", ":")

Shape = tuple[Any, list[str], str]  # (value to log, secret parts, marker)


@dataclasses.dataclass
class Creds:
    user: str
    password: str


@dataclasses.dataclass(slots=True, frozen=True)
class ClientConfig:
    name: str
    client_secret: str


@attrs.define
class ApiKeyHolder:
    owner: str
    api_key: str


class Login(BaseModel):
    username: str
    password: str


class StrictLogin(BaseModel):
    username: str
    password: int


class Wrapper(BaseModel):
    payload: Any


@dataclasses.dataclass
class Envelope:
    payload: Any


SessionPair = collections.namedtuple("SessionPair", "user refresh_token")

secrets = st.text(SECRET_ALPHABET, min_size=12, max_size=20)
markers = st.text(MARKER_ALPHABET, min_size=8, max_size=12).map(lambda text: f"z{text}")


@st.composite
def secret_keys(draw: st.DrawFn) -> str:
    """A secret key in any case and separator style: ``Refresh-TOKEN``, ``X_API_KEY`` …"""
    key = draw(st.sampled_from(SECRET_KEYS))
    key = key.replace("_", "-") if draw(st.booleans()) else key.replace("-", "_")
    flips = draw(st.lists(st.booleans(), min_size=len(key), max_size=len(key)))
    return "".join(c.upper() if flip else c for c, flip in zip(key, flips, strict=True))


@st.composite
def decorated_secrets(draw: st.DrawFn) -> tuple[str, list[str]]:
    """A secret with a character inside that could end a naive match early."""
    head, tail = draw(secrets), draw(secrets)
    decoration = draw(st.sampled_from(QUOTED_DECORATIONS))
    return (head + decoration + tail, [head + decoration + tail, head, tail])


@st.composite
def keyed_shapes(draw: st.DrawFn) -> Shape:
    """A secret under a secret-named key, field or header name."""
    key, marker = draw(secret_keys()), draw(markers)
    secret, parts = draw(decorated_secrets())
    builders: list[Callable[[], Any]] = [
        lambda: {key: secret, "note": marker},
        lambda: [(key, secret), ("accept", marker)],
        lambda: [[key.encode(), secret.encode()], [b"accept", marker.encode()]],
        lambda: ((key, secret), ("accept", marker)),
        lambda: Creds(user=marker, password=secret),
        lambda: ClientConfig(name=marker, client_secret=secret),
        lambda: ApiKeyHolder(owner=marker, api_key=secret),
        lambda: Login(username=marker, password=secret),
        lambda: SessionPair(marker, secret),
        lambda: json.dumps({key: secret, "note": marker}),
        lambda: repr({key: secret, "note": marker}),
        lambda: json.dumps(json.dumps({key: secret, "note": marker})),
        lambda: repr([(key.encode(), secret.encode()), (b"accept", marker.encode())]),
        lambda: {"errors": _validation_error(secret).errors(), "note": marker},
    ]
    return draw(st.sampled_from(builders))(), parts, marker


@st.composite
def text_shapes(draw: st.DrawFn) -> Shape:
    """A secret in a free string, in one of the shapes credentials travel in."""
    key, marker, secret = draw(secret_keys()), draw(markers), draw(secrets)
    scheme = "".join(
        c.upper() if draw(st.booleans()) else c for c in draw(st.sampled_from(("bearer", "basic")))
    )
    user = draw(st.sampled_from(("", "app", "guest", "postgres")))
    url = f"{draw(st.sampled_from(URL_SCHEMES))}://{user}:{secret}@{marker}.internal:5432/db"
    prefix = draw(st.text("abcdef0123456789", min_size=4, max_size=8))
    builders: list[Callable[[], str]] = [
        lambda: f"{marker} {key}={secret}",
        lambda: f"GET /cb?{marker}=1&{key}={secret}&page=2",
        lambda: f"{marker}: {url}",
        lambda: f"{marker} sent {scheme} {secret}",
        lambda: f"{key}: {secret}\r\naccept: {marker}",
        lambda: f"{marker} tk_{prefix}_{secret}",
        lambda: f"{marker} eyJ{secret}.{secret[::-1]}.{secret.lower()}",
        lambda: f"{marker} {_validation_error(secret)}",
        lambda: f"{marker} {_validation_error(secret).json()}",
    ]
    return draw(st.sampled_from(builders))(), [secret], marker


def _validation_error(secret: str) -> ValidationError:
    try:
        StrictLogin(username="someone", password=secret)
    except ValidationError as error:
        return error
    raise AssertionError("the input was valid")


def _nest(children: st.SearchStrategy[Shape]) -> st.SearchStrategy[Shape]:
    """Wrap a shape in a container under innocent names; the secret is still inside."""

    @st.composite
    def wrap(draw: st.DrawFn) -> Shape:
        value, parts, marker = draw(children)
        key = draw(st.sampled_from(INNOCENT_KEYS))
        wrappers: list[Callable[[], Any]] = [
            lambda: {key: value, "status": 200},
            lambda: [1, value],
            lambda: (value,),
            lambda: Envelope(payload=value),
            lambda: Wrapper(payload=value),
        ]
        return draw(st.sampled_from(wrappers))(), parts, marker

    return wrap()


hidden_secrets = st.recursive(keyed_shapes() | text_shapes(), _nest, max_leaves=3)


def _log(channel: str, value: Any) -> None:
    log = get_logger("app")
    if channel == "field":
        log.info("call finished", detail=value)
    elif channel == "event":
        log.info(value if isinstance(value, str) else str(value))
    elif channel == "stdlib":
        logging.getLogger("lib").warning("call failed with %s", value)
    else:
        try:
            raise RuntimeError(value)
        except RuntimeError:
            log.exception("call failed")


@pytest.mark.parametrize("json_mode", [True, False], ids=["json", "console"])
@PROPERTY_SETTINGS
@given(
    shape=hidden_secrets,
    channel=st.sampled_from(("field", "event", "stdlib", "exception")),
)
def test_a_hidden_secret_never_reaches_the_output(
    json_mode: bool, shape: Shape, channel: str
) -> None:
    value, parts, marker = shape
    configure_logging(json=json_mode)
    buffer = io.StringIO()

    with contextlib.redirect_stdout(buffer):
        _log(channel, value)

    out = buffer.getvalue()
    for part in parts:
        assert part not in out
    assert marker in out


@pytest.mark.parametrize("json_mode", [True, False], ids=["json", "console"])
@PROPERTY_SETTINGS
@given(key=secret_keys(), secret=decorated_secrets(), marker=markers)
def test_any_spelling_of_a_secret_key_is_masked_at_the_top_level(
    json_mode: bool, key: str, secret: tuple[str, list[str]], marker: str
) -> None:
    configure_logging(json=json_mode)
    buffer = io.StringIO()

    with contextlib.redirect_stdout(buffer):
        get_logger("app").info("request", **{key: secret[0], "note": marker})

    out = buffer.getvalue()
    for part in secret[1]:
        assert part not in out
    assert marker in out
