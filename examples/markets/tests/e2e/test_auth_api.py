"""``/api/v1/auth`` over HTTP: sign-up, sign-in, refresh and sign-out, on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any, TypeVar

import httpx
import pytest
from examples.markets.tests.conftest import PASSWORD, Accounts

from markets.config import Settings
from markets.domain.users import User
from markets.main import create_app
from markets.repositories.unit_of_work import MarketsUnitOfWork
from tiered.clock import FrozenClock

NewUow = Callable[[], MarketsUnitOfWork]
T = TypeVar("T")

REGISTER = "/api/v1/auth/register"
TOKEN = "/api/v1/auth/token"
REFRESH = "/api/v1/auth/refresh"
LOGOUT = "/api/v1/auth/logout"


async def _user(new_uow: NewUow, email: str) -> User | None:
    async with new_uow().read_only() as uow:
        return await uow.users.get_by_email(email)


async def test_register_creates_a_user_with_the_user_role(
    api: httpx.AsyncClient, new_uow: NewUow
) -> None:
    body = {"email": "Ada.Lovelace@Example.com", "password": PASSWORD, "display_name": "Ada"}
    response = await api.post(REGISTER, json=body)
    assert response.status_code == 201, response.text
    user = response.json()["data"]
    assert user["email"] == "ada.lovelace@example.com"
    assert (user["role"], user["is_active"], user["display_name"]) == ("user", True, "Ada")
    assert set(user) == {
        "id",
        "email",
        "display_name",
        "role",
        "is_active",
        "created_at",
        "updated_at",
    }
    stored = await _user(new_uow, "ada.lovelace@example.com")
    assert stored is not None
    assert stored.password_hash is not None
    assert stored.password_hash.startswith("$argon2id$")
    assert PASSWORD not in stored.password_hash


async def test_an_email_is_taken_case_insensitively(api: httpx.AsyncClient) -> None:
    first = {"email": "bob@example.com", "password": PASSWORD, "display_name": "Bob"}
    assert (await api.post(REGISTER, json=first)).status_code == 201
    again = {**first, "email": "  BOB@Example.COM".strip(), "display_name": "Other Bob"}
    response = await api.post(REGISTER, json=again)
    assert response.status_code == 409
    assert response.json()["code"] == "EMAIL_TAKEN"


@pytest.mark.parametrize(
    ("password", "status", "code"),
    [
        ("short pass", 422, "REQUEST_VALIDATION_FAILED"),
        ("carol@example.com", 422, "PASSWORD_TOO_WEAK"),
        ("Password1234", 422, "PASSWORD_TOO_WEAK"),
        ("x" * 129, 422, "REQUEST_VALIDATION_FAILED"),
    ],
)
async def test_weak_passwords_are_refused(
    api: httpx.AsyncClient, new_uow: NewUow, password: str, status: int, code: str
) -> None:
    body = {"email": "carol@example.com", "password": password, "display_name": "Carol"}
    response = await api.post(REGISTER, json=body)
    assert response.status_code == status, response.text
    assert response.json()["code"] == code
    assert response.json()["errors"][0]["pointer"] == "/password"
    assert await _user(new_uow, "carol@example.com") is None


@pytest.mark.parametrize(
    "extra",
    [
        {"role": "admin"},
        {"is_active": False},
        {"id": "2c4e6a8b-1d3f-4a5b-8c7d-9e0f1a2b3c4d"},
        {"token_version": 7},
    ],
)
async def test_register_refuses_server_owned_fields(
    api: httpx.AsyncClient, new_uow: NewUow, extra: dict[str, Any]
) -> None:
    body = {"email": "mallory@example.com", "password": PASSWORD, "display_name": "M", **extra}
    response = await api.post(REGISTER, json=body)
    assert response.status_code == 422
    assert response.json()["errors"][0]["pointer"] == f"/{next(iter(extra))}"
    assert await _user(new_uow, "mallory@example.com") is None


async def test_sign_in_returns_an_oauth2_token_pair(
    api: httpx.AsyncClient, accounts: Accounts
) -> None:
    await accounts.register("dan@example.com")
    form = {"grant_type": "password", "username": "DAN@example.com", "password": PASSWORD}
    response = await api.post(TOKEN, data={**form, "client_id": "docs"})
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["pragma"] == "no-cache"
    tokens = response.json()
    assert set(tokens) == {"access_token", "token_type", "expires_in", "refresh_token"}
    assert (tokens["token_type"], tokens["expires_in"]) == ("bearer", 900)
    me = await api.get("/api/v1/me", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert me.status_code == 200, me.text
    assert me.json()["data"]["email"] == "dan@example.com"


async def test_every_failed_sign_in_gets_the_same_answer(
    api: httpx.AsyncClient, accounts: Accounts, new_uow: NewUow
) -> None:
    await accounts.register("erin@example.com")
    await accounts.register("frank@example.com")
    async with new_uow() as uow:
        frank = await uow.users.get_by_email("frank@example.com")
        assert frank is not None
        frank.is_active = False
        await uow.users.update(frank)
    attempts = [
        {"username": "erin@example.com", "password": "not the password at all"},
        {"username": "nobody@example.com", "password": PASSWORD},
        {"username": "frank@example.com", "password": PASSWORD},
        {"username": "not an email", "password": PASSWORD},
    ]
    answers = []
    for form in attempts:
        response = await api.post(TOKEN, data=form)
        assert response.status_code == 401, response.text
        assert response.headers["www-authenticate"] == "Bearer"
        body = response.json()
        answers.append((body["code"], body["detail"], body["error"]))
    assert set(answers) == {
        ("INVALID_CREDENTIALS", "The email or password is incorrect.", "invalid_grant")
    }


async def test_a_demo_user_without_a_password_cannot_sign_in(
    api: httpx.AsyncClient, new_uow: NewUow
) -> None:
    async with new_uow() as uow:
        await uow.users.create(User(uuid.uuid4(), "demo@example.com", "Demo"))
    for password in ("", "x", PASSWORD):
        response = await api.post(
            TOKEN, data={"username": "demo@example.com", "password": password}
        )
        assert response.status_code in {401, 422}
        assert "access_token" not in response.text


@pytest.mark.parametrize(
    "send",
    [
        {"json": {"username": "dan@example.com", "password": PASSWORD}},
        {"content": b"username=a&username=b&password=x"},
        {"content": b"password=x"},
        {"content": b"grant_type=client_credentials&username=a&password=x"},
        {"content": b"username=%FF&password=x"},
    ],
)
async def test_the_token_form_is_validated(api: httpx.AsyncClient, send: dict[str, Any]) -> None:
    headers = {} if "json" in send else {"Content-Type": "application/x-www-form-urlencoded"}
    response = await api.post(TOKEN, headers=headers, **send)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"


async def test_refresh_rotates_and_a_reused_token_revokes_the_sign_in(
    api: httpx.AsyncClient, accounts: Accounts
) -> None:
    await accounts.register("gina@example.com")
    first = await accounts.log_in("gina@example.com")
    other_device = await accounts.log_in("gina@example.com")

    rotated = await api.post(REFRESH, json={"refresh_token": first["refresh_token"]})
    assert rotated.status_code == 200, rotated.text
    assert rotated.headers["cache-control"] == "no-store"
    second = rotated.json()
    assert second["refresh_token"] != first["refresh_token"]
    assert second["access_token"] != first["access_token"]

    replay = await api.post(REFRESH, json={"refresh_token": first["refresh_token"]})
    assert replay.status_code == 401
    assert replay.json()["code"] == "REFRESH_TOKEN_REUSED"
    assert replay.headers["www-authenticate"] == 'Bearer error="invalid_token"'
    successor = await api.post(REFRESH, json={"refresh_token": second["refresh_token"]})
    assert successor.status_code == 401
    assert successor.json()["code"] == "REFRESH_TOKEN_REVOKED"

    untouched = await api.post(REFRESH, json={"refresh_token": other_device["refresh_token"]})
    assert untouched.status_code == 200, "another sign-in of the same user is its own family"


async def test_logout_revokes_the_sign_in_and_unknown_tokens_are_fine(
    api: httpx.AsyncClient, accounts: Accounts
) -> None:
    await accounts.register("hana@example.com")
    tokens = await accounts.log_in("hana@example.com")
    response = await api.post(LOGOUT, json={"refresh_token": tokens["refresh_token"]})
    assert response.status_code == 204
    assert response.content == b""
    refused = await api.post(REFRESH, json={"refresh_token": tokens["refresh_token"]})
    assert refused.json()["code"] == "REFRESH_TOKEN_REVOKED"
    unknown = await api.post(LOGOUT, json={"refresh_token": "A" * 43})
    assert unknown.status_code == 204


async def test_tokens_expire_by_the_injected_clock(
    api: httpx.AsyncClient, accounts: Accounts, clock: FrozenClock
) -> None:
    headers = await accounts.signed_in("ivan@example.com")
    assert (await api.get("/api/v1/me", headers=headers)).status_code == 200
    clock.advance(timedelta(minutes=15, seconds=31))
    expired = await api.get("/api/v1/me", headers=headers)
    assert expired.status_code == 401
    assert expired.json()["code"] == "TOKEN_EXPIRED"
    assert expired.headers["www-authenticate"] == 'Bearer error="invalid_token"'


async def test_authenticated_responses_are_never_stored(
    api: httpx.AsyncClient, accounts: Accounts
) -> None:
    headers = await accounts.signed_in("jo@example.com")
    for path in ("/api/v1/me", "/api/v1/markets"):
        private = await api.get(path, headers=headers)
        assert private.status_code == 200, private.text
        assert private.headers["cache-control"] == "no-store"
        assert private.headers["vary"] == "Authorization, X-API-Key"
    public = await api.get("/api/v1/markets")
    assert "cache-control" not in public.headers
    assert public.headers["vary"] == "Authorization, X-API-Key"
    refused = await api.get("/api/v1/markets", headers={"Authorization": "Bearer nonsense"})
    assert refused.status_code == 401
    assert refused.json()["code"] == "TOKEN_MALFORMED"
    assert refused.headers["cache-control"] == "no-store"


def test_the_document_declares_both_schemes_and_which_routes_need_them() -> None:
    """The docs' Authorize button signs in through the token route; public reads say the
    credentials are optional, guarded routes that they are required."""
    app = create_app(Settings(environment="test", database_url="sqlite+aiosqlite:///:memory:"))
    spec = app.openapi()
    schemes = spec["components"]["securitySchemes"]
    assert schemes["AccessToken"]["flows"] == {
        "password": {"scopes": {}, "tokenUrl": "/api/v1/auth/token"}
    }
    assert schemes["ApiKey"] == {
        "type": "apiKey",
        "in": "header",
        "name": "X-API-Key",
        "description": schemes["ApiKey"]["description"],
    }
    paths = spec["paths"]
    token = paths[TOKEN]["post"]
    form = token["requestBody"]["content"]["application/x-www-form-urlencoded"]["schema"]
    assert form["required"] == ["username", "password"]
    assert "security" not in token
    required = [{"AccessToken": []}, {"ApiKey": []}]
    assert paths["/api/v1/me"]["get"]["security"] == required
    assert paths["/api/v1/admin/users"]["get"]["security"] == required
    assert paths["/api/v1/markets"]["get"]["security"] == [*required, {}]
    for path, item in paths.items():
        for method, operation in item.items():
            if "security" not in operation:
                continue
            refusals = operation["responses"]["401"]["content"]["application/problem+json"]
            codes = {example["value"]["code"] for example in refusals["examples"].values()}
            assert {"TOKEN_INVALID", "TOKEN_EXPIRED", "API_KEY_INVALID"} <= codes, (method, path)
            assert "400" in operation["responses"], (method, path)
