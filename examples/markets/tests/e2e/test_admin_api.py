"""``/api/v1/admin/users`` over HTTP: listing, role changes, deactivation."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from examples.markets.tests.conftest import PASSWORD, Accounts

from markets.domain.users import Role
from markets.repositories.unit_of_work import MarketsUnitOfWork
from tiered.repository import Filter

NewUow = Callable[[], MarketsUnitOfWork]
USERS = "/api/v1/admin/users"


async def _id_of(api: httpx.AsyncClient, headers: dict[str, str]) -> str:
    user_id: str = (await api.get("/api/v1/me", headers=headers)).json()["data"]["id"]
    return user_id


async def test_only_administrators_list_users(api: httpx.AsyncClient, accounts: Accounts) -> None:
    admin = await accounts.signed_in("root@example.com", role=Role.ADMIN)
    moderator = await accounts.signed_in("mod@example.com", role=Role.MODERATOR)
    for index in range(3):
        await accounts.register(f"user{index}@example.com")
    anonymous = await api.get(USERS)
    assert (anonymous.status_code, anonymous.json()["code"]) == (401, "AUTHENTICATION_REQUIRED")
    denied = await api.get(USERS, headers=moderator)
    assert (denied.status_code, denied.json()["missing_permissions"]) == (403, ["admin"])

    by_email = {"limit": 2, "sort": "email"}
    first = await api.get(USERS, headers=admin, params=by_email)
    assert first.status_code == 200, first.text
    page = first.json()
    assert page["meta"]["total"] == 5
    assert [user["email"] for user in page["data"]] == ["mod@example.com", "root@example.com"]
    rest = await api.get(
        USERS, headers=admin, params={**by_email, "cursor": page["meta"]["next_cursor"]}
    )
    assert [user["email"] for user in rest.json()["data"]] == [
        "user0@example.com",
        "user1@example.com",
    ]
    moderators = await api.get(USERS, headers=admin, params={"role": "moderator"})
    assert [user["email"] for user in moderators.json()["data"]] == ["mod@example.com"]
    found = await api.get(USERS, headers=admin, params={"q": "USER2"})
    assert [user["email"] for user in found.json()["data"]] == ["user2@example.com"]
    for user in page["data"]:
        assert "password_hash" not in user
        assert "token_version" not in user


async def test_an_api_key_with_the_admin_scope_administers(
    api: httpx.AsyncClient, accounts: Accounts
) -> None:
    admin = await accounts.signed_in("root@example.com", role=Role.ADMIN)
    scoped = {"X-API-Key": await accounts.api_key(admin, ["admin"])}
    unscoped = {"X-API-Key": await accounts.api_key(admin, ["read"])}
    assert (await api.get(USERS, headers=scoped)).status_code == 200
    assert (await api.get(USERS, headers=unscoped)).status_code == 403


async def test_a_new_role_applies_at_the_next_request(
    api: httpx.AsyncClient, accounts: Accounts
) -> None:
    admin = await accounts.signed_in("root@example.com", role=Role.ADMIN)
    pat = await accounts.signed_in("pat@example.com")
    assert (await api.get(USERS, headers=pat)).status_code == 403
    pat_id = await _id_of(api, pat)
    promoted = await api.patch(f"{USERS}/{pat_id}", json={"role": "admin"}, headers=admin)
    assert promoted.status_code == 200, promoted.text
    assert promoted.json()["data"]["role"] == "admin"
    assert (await api.get(USERS, headers=pat)).status_code == 200, "same token, new role"


async def test_deactivation_stops_every_credential_and_reactivation_restores_keys(
    api: httpx.AsyncClient, accounts: Accounts
) -> None:
    admin = await accounts.signed_in("root@example.com", role=Role.ADMIN)
    quinn = await accounts.signed_in("quinn@example.com")
    session = await accounts.log_in("quinn@example.com")
    key = {"X-API-Key": await accounts.api_key(quinn, ["read"])}
    quinn_id = await _id_of(api, quinn)

    off = await api.patch(f"{USERS}/{quinn_id}", json={"is_active": False}, headers=admin)
    assert off.status_code == 200, off.text
    assert off.json()["data"]["is_active"] is False
    token = await api.get("/api/v1/me", headers=quinn)
    assert (token.status_code, token.json()["code"]) == (401, "TOKEN_REVOKED")
    refresh = await api.post(
        "/api/v1/auth/refresh", json={"refresh_token": session["refresh_token"]}
    )
    assert (refresh.status_code, refresh.json()["code"]) == (401, "REFRESH_TOKEN_REVOKED")
    by_key = await api.get("/api/v1/me", headers=key)
    assert (by_key.status_code, by_key.json()["code"]) == (401, "API_KEY_REVOKED")
    sign_in = await api.post(
        "/api/v1/auth/token", data={"username": "quinn@example.com", "password": PASSWORD}
    )
    assert sign_in.json()["code"] == "INVALID_CREDENTIALS"

    on = await api.patch(f"{USERS}/{quinn_id}", json={"is_active": True}, headers=admin)
    assert on.json()["data"]["is_active"] is True
    assert (await api.get("/api/v1/me", headers=key)).status_code == 200
    assert (await api.get("/api/v1/me", headers=quinn)).status_code == 401, "tokens stay revoked"
    await accounts.log_in("quinn@example.com")


async def test_an_administrator_cannot_lock_themselves_out(
    api: httpx.AsyncClient, accounts: Accounts
) -> None:
    admin = await accounts.signed_in("root@example.com", role=Role.ADMIN)
    own = f"{USERS}/{await _id_of(api, admin)}"
    for body in ({"is_active": False}, {"role": "user"}):
        response = await api.patch(own, json=body, headers=admin)
        assert (response.status_code, response.json()["code"]) == (409, "OWN_ACCESS_CHANGE")
    unchanged = await api.patch(own, json={"role": "admin", "is_active": True}, headers=admin)
    assert unchanged.status_code == 200
    assert (await api.get(USERS, headers=admin)).status_code == 200


async def test_an_unknown_user_is_not_found(api: httpx.AsyncClient, accounts: Accounts) -> None:
    admin = await accounts.signed_in("root@example.com", role=Role.ADMIN)
    response = await api.patch(f"{USERS}/{uuid.uuid4()}", json={"role": "user"}, headers=admin)
    assert (response.status_code, response.json()["code"]) == (404, "USER_NOT_FOUND")


@pytest.mark.parametrize(
    "extra",
    [
        {"email": "new@example.com"},
        {"token_version": 0},
        {"id": str(uuid.uuid4())},
        {"password_hash": "x"},
        {"display_name": "Renamed"},
    ],
)
async def test_admin_updates_refuse_other_fields(
    api: httpx.AsyncClient, accounts: Accounts, new_uow: NewUow, extra: dict[str, Any]
) -> None:
    admin = await accounts.signed_in("root@example.com", role=Role.ADMIN)
    await accounts.register("rita@example.com")
    async with new_uow().read_only() as uow:
        rita = await uow.users.find_one([Filter.eq("email", "rita@example.com")])
    assert rita is not None
    response = await api.patch(
        f"{USERS}/{rita.id}", json={"role": "moderator", **extra}, headers=admin
    )
    assert response.status_code == 422
    async with new_uow().read_only() as uow:
        after = await uow.users.get_by_id(rita.id)
    assert after is not None
    assert (after.role, after.email, after.token_version) == (Role.USER, rita.email, 0)
