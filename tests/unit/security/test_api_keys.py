"""API keys: generated once, stored as a digest, refused with a 401 unless whole and current."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Annotated

import httpx
import pytest
from fastapi import Depends, FastAPI
from starlette.datastructures import Headers
from starlette.requests import Request

from tiered.clock import FrozenClock
from tiered.errors import (
    AuthenticationError,
    InvalidInputError,
    install_problem_handlers,
    problem_for_error,
)
from tiered.security.api_keys import (
    LAST_USED_EVERY,
    MAX_API_KEY_CHARS,
    InMemoryApiKeyStore,
    InvalidApiKeyError,
    NewApiKey,
    StoredApiKey,
    api_key_digest,
    api_key_from_headers,
    authenticate_api_key,
    generate_api_key,
    parse_api_key,
    require_api_key,
    should_record_use,
    verify_api_key,
)

FORMAT = re.compile(r"tk_[0-9A-Za-z]{11}_[0-9A-Za-z]{43}")
JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1In0.c2lnbmF0dXJl"


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


@pytest.fixture
def new() -> NewApiKey:
    return generate_api_key()


@pytest.fixture
def store(new: NewApiKey) -> InMemoryApiKeyStore:
    return InMemoryApiKeyStore(new.stored(id="k1", owner_id="u1", scopes=frozenset({"read"})))


# generation


def test_generated_key_has_the_documented_format(new: NewApiKey) -> None:
    assert FORMAT.fullmatch(new.key)
    assert new.key.startswith(f"tk_{new.prefix}_")
    assert len(new.key) <= MAX_API_KEY_CHARS


def test_generated_keys_are_unique() -> None:
    keys = [generate_api_key() for _ in range(200)]
    assert len({key.key for key in keys}) == 200
    assert len({key.prefix for key in keys}) == 200


def test_digest_is_the_sha256_of_the_secret_and_does_not_contain_it(new: NewApiKey) -> None:
    secret = new.key.rsplit("_", 1)[1]
    assert new.digest == hashlib.sha256(secret.encode()).hexdigest()
    assert re.fullmatch(r"[0-9a-f]{64}", new.digest)
    assert secret not in new.digest
    assert new.key not in new.digest


def test_randomness_is_injectable_and_every_byte_counts() -> None:
    zeros = generate_api_key(random_bytes=bytes)
    ones = generate_api_key(random_bytes=lambda n: b"\xff" * n)
    assert zeros.key == "tk_" + "0" * 11 + "_" + "0" * 43
    assert FORMAT.fullmatch(ones.key)
    requested: list[int] = []

    def recording(n: int) -> bytes:
        requested.append(n)
        return bytes(n)

    generate_api_key(random_bytes=recording)
    assert requested == [8, 32]


def test_secrets_never_appear_in_reprs(new: NewApiKey) -> None:
    secret = new.key.rsplit("_", 1)[1]
    stored = new.stored(id="k1", owner_id="u1")
    parsed = parse_api_key(new.key)
    for text in (repr(new), repr(stored), repr(parsed)):
        assert secret not in text
        assert new.digest not in text
    assert new.prefix in repr(new)


# parsing


def test_parse_splits_a_valid_key(new: NewApiKey) -> None:
    parsed = parse_api_key(new.key)
    assert parsed is not None
    assert parsed.prefix == new.prefix
    assert f"tk_{parsed.prefix}_{parsed.secret}" == new.key


@pytest.mark.parametrize(
    "text",
    [
        "",
        "tk_",
        "tk__",
        "sk_abcdefgh_" + "a" * 43,  # wrong tag
        "TK_abcdefgh_" + "a" * 43,
        "tkabcdefgh_" + "a" * 43,
        "tk_abcdefgh",  # no secret
        "tk__" + "a" * 43,  # no prefix
        "tk_abcdefg_" + "a" * 43,  # prefix too short
        "tk_abcdefgh_" + "a" * 42,  # secret too short
        "tk_abcd_efgh_" + "a" * 43,  # underscore in the prefix
        "tk_abcdefgh_" + "a" * 20 + "_" + "a" * 23,  # underscore in the secret
        "tk_abcdefgh_" + "a" * 43 + "_",
        "tk_abcdefgh_" + "a" * 43 + "_" + "a" * 43,
        "tk_abcdefgh_" + "a" * 10_000,  # huge
        "tk_" + "a" * 1_000_000,
        "tk_abcdefgh_" + "a" * 43 + "\n",  # control characters
        "tk_abcdefgh_" + "a" * 21 + "\x00" + "a" * 21,
        "tk_abcd\tefgh_" + "a" * 43,
        " tk_abcdefgh_" + "a" * 43,
        "tk_abcdéfgh_" + "a" * 43,  # non-ASCII
        "tk_abcdefgh_" + "a" * 42 + "٣",  # a non-ASCII digit
        "tk_abcdefgh_" + "a" * 42 + "-",  # outside base62
    ],
)
def test_parse_refuses_anything_but_the_exact_format(text: str) -> None:
    assert parse_api_key(text) is None


def test_parse_refuses_non_strings() -> None:
    assert parse_api_key(b"tk_abcdefgh_" + b"a" * 43) is None  # type: ignore[arg-type]


def test_parse_accepts_the_longest_allowed_key() -> None:
    longest = "tk_" + "p" * 32 + "_" + "s" * 128
    assert len(longest) == MAX_API_KEY_CHARS
    assert parse_api_key(longest) is not None
    assert parse_api_key("tk_" + "p" * 33 + "_" + "s" * 128) is None


# verification


def test_verify_accepts_the_right_key(new: NewApiKey) -> None:
    assert verify_api_key(new.key, new.digest)


def test_verify_refuses_a_wrong_or_foreign_secret(new: NewApiKey) -> None:
    other = generate_api_key()
    foreign = f"tk_{new.prefix}_{other.key.rsplit('_', 1)[1]}"
    assert not verify_api_key(foreign, new.digest)
    assert not verify_api_key(other.key, new.digest)
    assert not verify_api_key(new.key[:-1] + ("a" if new.key[-1] != "a" else "b"), new.digest)


def test_verify_refuses_malformed_keys_and_digests(new: NewApiKey) -> None:
    assert not verify_api_key(new.key + "\n", new.digest)
    assert not verify_api_key(new.key, "")
    assert not verify_api_key(new.key, new.digest.upper())
    assert not verify_api_key(new.key, "é" * 64)


def test_digest_helper_matches_generation(new: NewApiKey) -> None:
    assert api_key_digest(new.key.rsplit("_", 1)[1]) == new.digest


# authentication against a store


async def test_authenticate_returns_the_stored_key(
    new: NewApiKey, store: InMemoryApiKeyStore, clock: FrozenClock
) -> None:
    key = await authenticate_api_key(new.key, store, clock)
    assert (key.id, key.owner_id, key.scopes) == ("k1", "u1", frozenset({"read"}))
    assert key.last_used_at == clock.now()


async def _refused(presented: str, store: InMemoryApiKeyStore, clock: FrozenClock) -> str:
    with pytest.raises(InvalidApiKeyError) as caught:
        await authenticate_api_key(presented, store, clock)
    assert caught.value.status == 401
    return caught.value.code


async def test_malformed_unknown_and_wrong_keys_look_the_same(
    new: NewApiKey, store: InMemoryApiKeyStore, clock: FrozenClock
) -> None:
    other = generate_api_key()
    wrong_secret = f"tk_{new.prefix}_{other.key.rsplit('_', 1)[1]}"
    codes = {
        await _refused("not a key", store, clock),
        await _refused(other.key, store, clock),  # unknown prefix
        await _refused(wrong_secret, store, clock),
    }
    assert codes == {"API_KEY_INVALID"}
    assert store.writes == 0


async def test_revoked_key_is_refused(
    new: NewApiKey, store: InMemoryApiKeyStore, clock: FrozenClock
) -> None:
    store.revoke("k1", clock.now())
    assert await _refused(new.key, store, clock) == "API_KEY_REVOKED"
    assert store.writes == 0


async def test_expired_key_is_refused_from_its_expiry_on(clock: FrozenClock) -> None:
    new = generate_api_key()
    store = InMemoryApiKeyStore(
        new.stored(id="k1", owner_id="u1", expires_at=clock.now() + timedelta(hours=1))
    )
    clock.advance(timedelta(minutes=59, seconds=59))
    assert (await authenticate_api_key(new.key, store, clock)).id == "k1"
    clock.advance(timedelta(seconds=1))
    assert await _refused(new.key, store, clock) == "API_KEY_EXPIRED"


async def test_revoked_or_expired_is_only_told_to_the_holder_of_the_secret(
    new: NewApiKey, store: InMemoryApiKeyStore, clock: FrozenClock
) -> None:
    store.revoke("k1", clock.now())
    wrong_secret = f"tk_{new.prefix}_{generate_api_key().key.rsplit('_', 1)[1]}"
    assert await _refused(wrong_secret, store, clock) == "API_KEY_INVALID"


async def test_last_use_is_recorded_at_most_once_per_interval(
    new: NewApiKey, store: InMemoryApiKeyStore, clock: FrozenClock
) -> None:
    first = clock.now()
    for _ in range(10):
        key = await authenticate_api_key(new.key, store, clock)
        clock.advance(timedelta(seconds=20))
    assert store.writes == 1
    assert key.last_used_at == first
    clock.advance(LAST_USED_EVERY)
    key = await authenticate_api_key(new.key, store, clock)
    assert store.writes == 2
    assert key.last_used_at == clock.now()
    assert (await store.find_by_prefix(new.prefix)) == key


def test_should_record_use_boundaries(clock: FrozenClock) -> None:
    now = clock.now()
    every = timedelta(minutes=5)
    assert should_record_use(None, now)
    assert not should_record_use(now, now)
    assert not should_record_use(now - every + timedelta(microseconds=1), now)
    assert should_record_use(now - every, now)
    assert should_record_use(now - timedelta(seconds=2), now, every=timedelta(seconds=1))


def test_store_refuses_duplicate_prefixes_and_unknown_ids(new: NewApiKey) -> None:
    store = InMemoryApiKeyStore(new.stored(id="k1", owner_id="u1"))
    with pytest.raises(ValueError, match="prefix"):
        store.add(new.stored(id="k2", owner_id="u2"))
    with pytest.raises(KeyError):
        store.revoke("nope", FrozenClock().now())


# headers


def _headers(*pairs: tuple[str, str]) -> Headers:
    return Headers(raw=[(name.lower().encode(), value.encode()) for name, value in pairs])


def test_header_x_api_key(new: NewApiKey) -> None:
    assert api_key_from_headers(_headers(("X-API-Key", new.key))) == new.key


@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "BEARER", "bEaReR"])
def test_header_authorization_bearer_with_any_case(scheme: str, new: NewApiKey) -> None:
    assert api_key_from_headers(_headers(("Authorization", f"{scheme} {new.key}"))) == new.key


def test_header_both_with_the_same_key_is_accepted(new: NewApiKey) -> None:
    headers = _headers(("X-API-Key", new.key), ("Authorization", f"Bearer {new.key}"))
    assert api_key_from_headers(headers) == new.key
    twice = _headers(("X-API-Key", new.key), ("X-API-Key", f" {new.key} "))
    assert api_key_from_headers(twice) == new.key


@pytest.mark.parametrize(
    "pairs",
    [
        (("X-API-Key", "tk_a"), ("Authorization", "Bearer tk_b")),
        (("X-API-Key", "tk_a"), ("Authorization", f"Bearer {JWT}")),
        (("X-API-Key", "tk_a"), ("Authorization", "Basic dTpw")),
        (("X-API-Key", "tk_a"), ("X-API-Key", "tk_b")),
        (("Authorization", "Bearer tk_a"), ("Authorization", "Bearer tk_b")),
        (("Authorization", "Bearer tk_a"), ("Authorization", f"Bearer {JWT}")),
    ],
)
def test_header_two_different_credentials_are_a_400(pairs: tuple[tuple[str, str], ...]) -> None:
    with pytest.raises(InvalidInputError) as caught:
        api_key_from_headers(_headers(*pairs))
    assert (caught.value.status, caught.value.code) == (400, "AMBIGUOUS_CREDENTIALS")
    assert caught.value.errors[0].location == "header"


@pytest.mark.parametrize(
    "pairs",
    [
        (),
        (("Authorization", f"Bearer {JWT}"),),  # a token, for the token scheme
        (("Authorization", "Basic dTpw"),),
        (("Authorization", "tk_abc"),),  # no scheme
        (("Authorization", "Token tk_abc"),),
    ],
)
def test_header_without_an_api_key_is_not_handled(pairs: tuple[tuple[str, str], ...]) -> None:
    assert api_key_from_headers(_headers(*pairs)) is None


# over HTTP


async def current_key(
    request: Request, presented: Annotated[str, Depends(require_api_key)]
) -> StoredApiKey:
    state = request.app.state
    return await authenticate_api_key(presented, state.api_keys, state.clock)


CurrentKey = Annotated[StoredApiKey, Depends(current_key)]


async def me(key: CurrentKey) -> dict[str, str]:
    return {"owner": key.owner_id}


@pytest.fixture
async def client(
    store: InMemoryApiKeyStore, clock: FrozenClock
) -> AsyncIterator[httpx.AsyncClient]:
    app = FastAPI()
    app.state.api_keys, app.state.clock = store, clock
    install_problem_handlers(app)
    app.get("/me")(me)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        yield http


async def test_http_valid_key(client: httpx.AsyncClient, new: NewApiKey) -> None:
    for headers in ({"X-API-Key": new.key}, {"Authorization": f"bearer {new.key}"}):
        response = await client.get("/me", headers=headers)
        assert response.status_code == 200, response.text
        assert response.json() == {"owner": "u1"}


async def test_http_missing_key_is_a_401_challenge(client: httpx.AsyncClient) -> None:
    for headers in ({}, {"Authorization": f"Bearer {JWT}"}, {"X-API-Key": ""}):
        response = await client.get("/me", headers=headers)
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == "Bearer"
        assert response.headers["content-type"] == "application/problem+json"
        body = response.json()
        assert (body["status"], body["code"]) == (401, "API_KEY_REQUIRED")


async def test_http_invalid_key_is_a_401_problem_without_the_key(
    client: httpx.AsyncClient, new: NewApiKey
) -> None:
    forged = new.key[:-4] + "AAAA" if not new.key.endswith("AAAA") else new.key[:-4] + "BBBB"
    response = await client.get("/me", headers={"X-API-Key": forged})
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == 'Bearer error="invalid_token"'
    body = response.json()
    assert body["code"] == "API_KEY_INVALID"
    assert body["type"].endswith("/problems/invalid-api-key")
    assert forged not in response.text
    assert new.prefix not in response.text


async def test_http_two_keys_are_a_400(client: httpx.AsyncClient, new: NewApiKey) -> None:
    other = generate_api_key()
    response = await client.get(
        "/me", headers={"X-API-Key": new.key, "Authorization": f"Bearer {other.key}"}
    )
    assert response.status_code == 400
    assert response.json()["code"] == "AMBIGUOUS_CREDENTIALS"
    assert new.key not in response.text
    assert other.key not in response.text


def test_problem_for_invalid_key() -> None:
    error = InvalidApiKeyError("The API key has expired.", code="API_KEY_EXPIRED")
    assert isinstance(error, AuthenticationError)
    response = problem_for_error(error, instance="/api/v1/me", request_id="r-1")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == 'Bearer error="invalid_token"'
    body = json.loads(bytes(response.body))
    assert (body["status"], body["code"], body["title"]) == (
        401,
        "API_KEY_EXPIRED",
        "Invalid API Key",
    )
    assert body["detail"] == "The API key has expired."
