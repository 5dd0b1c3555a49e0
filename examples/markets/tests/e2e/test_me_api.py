"""``/api/v1/me`` over HTTP: profile, password and email changes, API keys."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import httpx
import pytest
from examples.markets.tests.conftest import PASSWORD, Accounts

from markets.domain.users import Role
from markets.repositories.unit_of_work import MarketsUnitOfWork
from markets.services.accounts import MAX_ACTIVE_API_KEYS
from tiered.clock import FrozenClock
from tiered.repository import Filter

NewUow = Callable[[], MarketsUnitOfWork]
ME = "/api/v1/me"
KEYS = "/api/v1/me/api-keys"
NEW_PASSWORD = "a longer tram line to the sea"


def _bearer(tokens: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens['access_token']}"}


async def test_me_needs_credentials(api: httpx.AsyncClient) -> None:
    response = await api.get(ME)
    assert response.status_code == 401
    assert response.json()["code"] == "AUTHENTICATION_REQUIRED"
    assert response.headers["www-authenticate"] == "Bearer"


async def test_display_name_changes_without_a_password(
    api: httpx.AsyncClient, accounts: Accounts
) -> None:
    headers = await accounts.signed_in("ann@example.com")
    response = await api.patch(ME, json={"display_name": "Ann B."}, headers=headers)
    assert response.status_code == 200, response.text
    assert response.json()["data"]["display_name"] == "Ann B."
    assert (await api.get(ME, headers=headers)).json()["data"]["display_name"] == "Ann B."


async def test_an_email_change_needs_the_current_password(
    api: httpx.AsyncClient, accounts: Accounts
) -> None:
    headers = await accounts.signed_in("ben@example.com")
    await accounts.register("taken@example.com")
    missing = await api.patch(ME, json={"email": "ben2@example.com"}, headers=headers)
    assert missing.status_code == 422
    assert missing.json()["code"] == "CURRENT_PASSWORD_REQUIRED"
    wrong = {"email": "ben2@example.com", "current_password": "not my password"}
    refused = await api.patch(ME, json=wrong, headers=headers)
    assert refused.status_code == 403
    assert refused.json()["code"] == "CURRENT_PASSWORD_INVALID"
    taken = await api.patch(
        ME, json={"email": "Taken@Example.com", "current_password": PASSWORD}, headers=headers
    )
    assert taken.status_code == 409
    assert taken.json()["code"] == "EMAIL_TAKEN"
    assert (await api.get(ME, headers=headers)).json()["data"]["email"] == "ben@example.com"
    moved = await api.patch(
        ME, json={"email": "Ben2@Example.com", "current_password": PASSWORD}, headers=headers
    )
    assert moved.status_code == 200, moved.text
    assert moved.json()["data"]["email"] == "ben2@example.com"
    assert (await api.get(ME, headers=headers)).status_code == 200, (
        "an email change signs no one out"
    )
    await accounts.log_in("ben2@example.com")


@pytest.mark.parametrize(
    "extra",
    [{"role": "admin"}, {"is_active": False}, {"id": str(uuid.uuid4())}, {"token_version": 9}],
)
async def test_me_refuses_server_owned_fields(
    api: httpx.AsyncClient, accounts: Accounts, extra: dict[str, Any]
) -> None:
    headers = await accounts.signed_in("cleo@example.com")
    before = (await api.get(ME, headers=headers)).json()["data"]
    response = await api.patch(ME, json={"display_name": "Queen", **extra}, headers=headers)
    assert response.status_code == 422
    assert response.json()["errors"][0]["pointer"] == f"/{next(iter(extra))}"
    assert (await api.get(ME, headers=headers)).json()["data"] == before


async def test_null_is_refused_rather_than_clearing_a_field(
    api: httpx.AsyncClient, accounts: Accounts
) -> None:
    headers = await accounts.signed_in("dora@example.com")
    response = await api.patch(ME, json={"display_name": None}, headers=headers)
    assert response.status_code == 422
    assert (await api.get(ME, headers=headers)).json()["data"]["display_name"] == "Dora"


async def test_a_new_password_ends_every_session_and_key(
    api: httpx.AsyncClient, accounts: Accounts
) -> None:
    headers = await accounts.signed_in("eve@example.com")
    other = await accounts.log_in("eve@example.com")
    key = await accounts.api_key(headers, ["read"])
    assert (await api.get(ME, headers={"X-API-Key": key})).status_code == 200

    weak = await api.patch(
        ME, json={"password": "eve@example.com", "current_password": PASSWORD}, headers=headers
    )
    assert weak.status_code == 422
    assert weak.json()["code"] == "PASSWORD_TOO_WEAK"
    changed = await api.patch(
        ME, json={"password": NEW_PASSWORD, "current_password": PASSWORD}, headers=headers
    )
    assert changed.status_code == 200, changed.text

    stale = await api.get(ME, headers=headers)
    assert (stale.status_code, stale.json()["code"]) == (401, "TOKEN_REVOKED")
    refresh = await api.post("/api/v1/auth/refresh", json={"refresh_token": other["refresh_token"]})
    assert (refresh.status_code, refresh.json()["code"]) == (401, "REFRESH_TOKEN_REVOKED")
    by_key = await api.get(ME, headers={"X-API-Key": key})
    assert (by_key.status_code, by_key.json()["code"]) == (401, "API_KEY_REVOKED")

    old = await api.post(
        "/api/v1/auth/token", data={"username": "eve@example.com", "password": PASSWORD}
    )
    assert old.status_code == 401
    fresh = await accounts.log_in("eve@example.com", NEW_PASSWORD)
    assert (await api.get(ME, headers=_bearer(fresh))).status_code == 200


async def test_an_api_key_is_shown_once_and_listed_without_secrets(
    api: httpx.AsyncClient, accounts: Accounts, new_uow: NewUow
) -> None:
    headers = await accounts.signed_in("finn@example.com")
    body = {"name": "nightly import", "scopes": ["write", "read", "read"]}
    created = await api.post(KEYS, json=body, headers=headers)
    assert created.status_code == 201, created.text
    data = created.json()["data"]
    assert data["key"].startswith(f"tk_{data['prefix']}_")
    assert data["scopes"] == ["read", "write"]
    assert (data["last_used_at"], data["revoked_at"], data["expires_at"]) == (None, None, None)
    async with new_uow().read_only() as uow:
        (stored,) = await uow.api_keys.get_all()
    listed = await api.get(KEYS, headers=headers)
    assert listed.status_code == 200
    (item,) = listed.json()["data"]
    assert item == {name: value for name, value in data.items() if name != "key"}
    for secret in (data["key"], data["key"].split("_")[2], stored.digest):
        assert secret not in listed.text


async def test_an_api_key_authenticates_in_either_header(
    api: httpx.AsyncClient, accounts: Accounts, clock: FrozenClock
) -> None:
    headers = await accounts.signed_in("gus@example.com")
    key = await accounts.api_key(headers, ["read"])
    for sent in ({"X-API-Key": key}, {"Authorization": f"Bearer {key}"}):
        response = await api.get(ME, headers=sent)
        assert response.status_code == 200, response.text
        assert response.json()["data"]["email"] == "gus@example.com"
        assert response.headers["cache-control"] == "no-store"
    (listed,) = (await api.get(KEYS, headers=headers)).json()["data"]
    assert listed["last_used_at"] == "2026-01-01T00:00:00Z"
    clock.advance(timedelta(minutes=4))
    await api.get(ME, headers={"X-API-Key": key})
    (listed,) = (await api.get(KEYS, headers=headers)).json()["data"]
    assert listed["last_used_at"] == "2026-01-01T00:00:00Z", "throttled: not written again yet"
    clock.advance(timedelta(minutes=1))
    await api.get(ME, headers={"X-API-Key": key})
    (listed,) = (await api.get(KEYS, headers=headers)).json()["data"]
    assert listed["last_used_at"] == "2026-01-01T00:05:00Z"


async def test_two_credentials_at_once_are_refused(
    api: httpx.AsyncClient, accounts: Accounts
) -> None:
    headers = await accounts.signed_in("hal@example.com")
    key = await accounts.api_key(headers, ["read"])
    response = await api.get(ME, headers={**headers, "X-API-Key": key})
    assert response.status_code == 400
    assert response.json()["code"] == "AMBIGUOUS_CREDENTIALS"


async def test_a_key_acts_within_its_scopes_and_cannot_manage_the_account(
    api: httpx.AsyncClient, accounts: Accounts
) -> None:
    headers = await accounts.signed_in("ida@example.com")
    write_only = {"X-API-Key": await accounts.api_key(headers, ["write"])}
    denied = await api.get(ME, headers=write_only)
    assert (denied.status_code, denied.json()["code"]) == (403, "FORBIDDEN")
    reader = {"X-API-Key": await accounts.api_key(headers, ["read", "write"])}
    for method, path, body in (
        ("POST", KEYS, {"name": "escalate", "scopes": ["read"]}),
        ("GET", KEYS, None),
        ("PATCH", ME, {"display_name": "Key"}),
    ):
        response = await api.request(method, path, json=body, headers=reader)
        assert response.status_code == 403, (method, path, response.text)
        assert response.json()["required_roles"] == ["user", "moderator", "admin"]


async def test_scopes_cannot_exceed_what_the_owner_holds(
    api: httpx.AsyncClient, accounts: Accounts, new_uow: NewUow
) -> None:
    headers = await accounts.signed_in("jay@example.com")
    response = await api.post(
        KEYS, json={"name": "too much", "scopes": ["read", "delete", "admin"]}, headers=headers
    )
    assert response.status_code == 403
    assert response.json()["code"] == "SCOPE_NOT_HELD"
    assert response.json()["missing_permissions"] == ["admin", "delete"]
    async with new_uow().read_only() as uow:
        assert await uow.api_keys.count() == 0


async def test_a_demoted_owner_narrows_their_keys_at_once(
    api: httpx.AsyncClient, accounts: Accounts, new_uow: NewUow
) -> None:
    headers = await accounts.signed_in("kai@example.com", role=Role.MODERATOR)
    key = {"X-API-Key": await accounts.api_key(headers, ["read", "delete"])}
    me = (await api.get(ME, headers=key)).json()["data"]
    async with new_uow() as uow:
        await uow.users.update_where([Filter.eq("id", uuid.UUID(me["id"]))], {"role": Role.USER})
    response = await api.post(KEYS, json={"name": "x", "scopes": ["delete"]}, headers=headers)
    assert response.status_code == 403, "the role is read at each request, not from the token"
    assert (await api.get(ME, headers=key)).status_code == 200


async def test_revoking_a_key_stops_it_and_another_users_key_is_not_found(
    api: httpx.AsyncClient, accounts: Accounts
) -> None:
    owner = await accounts.signed_in("lou@example.com")
    stranger = await accounts.signed_in("max@example.com")
    key = await accounts.api_key(owner, ["read"])
    (listed,) = (await api.get(KEYS, headers=owner)).json()["data"]
    path = f"{KEYS}/{listed['id']}"

    foreign = await api.delete(path, headers=stranger)
    assert (foreign.status_code, foreign.json()["code"]) == (404, "API_KEY_NOT_FOUND")
    assert (await api.get(ME, headers={"X-API-Key": key})).status_code == 200
    assert (await api.delete(f"{KEYS}/{uuid.uuid4()}", headers=owner)).status_code == 404

    assert (await api.delete(path, headers=owner)).status_code == 204
    refused = await api.get(ME, headers={"X-API-Key": key})
    assert (refused.status_code, refused.json()["code"]) == (401, "API_KEY_REVOKED")
    assert (await api.delete(path, headers=owner)).status_code == 204, "revoking is idempotent"
    (after,) = (await api.get(KEYS, headers=owner)).json()["data"]
    assert after["revoked_at"] is not None


async def test_expired_and_unknown_keys_are_refused(
    api: httpx.AsyncClient, accounts: Accounts, clock: FrozenClock
) -> None:
    headers = await accounts.signed_in("ned@example.com")
    past = {"name": "old", "scopes": ["read"], "expires_at": "2025-12-31T00:00:00Z"}
    assert (await api.post(KEYS, json=past, headers=headers)).status_code == 422
    naive = {"name": "naive", "scopes": ["read"], "expires_at": "2026-02-01T00:00:00"}
    assert (await api.post(KEYS, json=naive, headers=headers)).status_code == 422
    soon = {"name": "soon", "scopes": ["read"], "expires_at": "2026-01-02T00:00:00Z"}
    created = await api.post(KEYS, json=soon, headers=headers)
    key = {"X-API-Key": created.json()["data"]["key"]}
    assert (await api.get(ME, headers=key)).status_code == 200
    clock.advance(timedelta(days=1))
    expired = await api.get(ME, headers=key)
    assert (expired.status_code, expired.json()["code"]) == (401, "API_KEY_EXPIRED")
    forged = key["X-API-Key"][:-4] + "AAAA"
    unknown = await api.get(ME, headers={"X-API-Key": forged})
    assert (unknown.status_code, unknown.json()["code"]) == (401, "API_KEY_INVALID")


async def test_an_account_holds_a_bounded_number_of_keys(
    api: httpx.AsyncClient, accounts: Accounts
) -> None:
    headers = await accounts.signed_in("ola@example.com")
    for _ in range(MAX_ACTIVE_API_KEYS):
        await accounts.api_key(headers, ["read"])
    over = await api.post(KEYS, json={"name": "one more", "scopes": ["read"]}, headers=headers)
    assert (over.status_code, over.json()["code"]) == (409, "API_KEY_LIMIT_REACHED")
    first = (await api.get(KEYS, headers=headers, params={"limit": 1})).json()
    assert first["meta"]["total"] == MAX_ACTIVE_API_KEYS
    await api.delete(f"{KEYS}/{first['data'][0]['id']}", headers=headers)
    again = await api.post(KEYS, json={"name": "one more", "scopes": ["read"]}, headers=headers)
    assert again.status_code == 201
